"""The `jifen` command: serve, migrate, load demo data, audit, and the periodic jobs by hand."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console

from ledger.config import load_settings
from ledger.db import Database

app = typer.Typer(help="Jifen 积分 — civility points and volunteer rewards ledger",
                  no_args_is_help=True, add_completion=False)
console = Console(stderr=True)


def _db() -> tuple:
    settings = load_settings()
    return settings, Database(settings.database_url)


@app.command()
def migrate() -> None:
    """Upgrade the database to the newest schema."""
    from ledger import migrate as m
    settings, db = _db()
    m.upgrade(db)
    console.print(f"[green]database at head[/green] ({db.engine.url.render_as_string()})")


@app.command()
def demo() -> None:
    """Load Baogai town's demo data (idempotent: running it twice adds nothing)."""
    from ledger import migrate as m
    from ledger.demo import load_demo
    settings, db = _db()
    m.upgrade(db)
    summary = load_demo(db, settings, console=console)
    console.print(f"[green]demo data ready[/green]: {summary}")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, with_demo: bool = typer.Option(
        False, "--demo", help="load the demo data first"), workers: int = 1) -> None:
    """Apply migrations and serve the API (OpenAPI docs at /docs)."""
    import uvicorn

    from ledger import migrate as m
    settings, db = _db()
    m.upgrade(db)
    if with_demo:
        from ledger.demo import load_demo
        load_demo(db, settings, console=console)
    db.dispose()
    console.print(f"Jifen on http://{host}:{port}/  — API docs: http://{host}:{port}/docs")
    uvicorn.run("api.asgi:app", host=host, port=port, workers=workers, log_level="warning",
                proxy_headers=True)


@app.command()
def audit(as_json: bool = typer.Option(False, "--json")) -> None:
    """Run the ledger audit; exit 1 on any violation."""
    from ledger.journal import service
    _, db = _db()
    report = service.audit(db)
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        console.print(f"entries {report['entries']}, postings {report['postings']}, "
                      f"accounts {report['accounts']}, checkpoints {report['checkpoints']}")
        for v in report["violations"]:
            console.print(f"[red]{v['code']}[/red]: {v['message']}")
        console.print("[green]audit clean[/green]" if report["ok"] else "[red]AUDIT FAILED[/red]")
    sys.exit(0 if report["ok"] else 1)


@app.command()
def checkpoint() -> None:
    """Hash all account heads changed since the last checkpoint into a new root."""
    from ledger.journal import service
    _, db = _db()
    console.print(service.checkpoint(db) or "nothing changed since the last checkpoint")


@app.command()
def backup(out: str = typer.Argument(..., help="file to write")) -> None:
    """Online backup (SQLite backup API, or pg_dump -Fc for PostgreSQL)."""
    from pathlib import Path

    from ledger import backup as b
    _, db = _db()
    console.print(f"backup written to {b.backup(db, Path(out))}")


@app.command()
def restore(backup_file: str, into: str = typer.Option(..., help="target database URL")) -> None:
    """Restore a backup into an empty target, then run the audit on it (exit 1 if unclean)."""
    from pathlib import Path

    from ledger import backup as b
    from ledger.journal import service
    report = service.audit(b.restore(Path(backup_file), into))
    console.print(f"restored: {report['entries']} entries; audit "
                  + ("[green]clean[/green]" if report["ok"] else "[red]FAILED[/red]"))
    sys.exit(0 if report["ok"] else 1)


@app.command("sweep-holds")
def sweep_holds() -> None:
    """Void pending holds past their timeout."""
    from ledger.journal import service
    _, db = _db()
    console.print(f"voided {service.sweep_expired_holds(db)} expired holds")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
