"""Builders: worlds for the tests, made through the services users call (the registry's
own functions for towns, villages, households and people), one module per domain."""
