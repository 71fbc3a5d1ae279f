"""The web edge of Jifen: Litestar controllers, guards, problem details, pages and the CLI."""
