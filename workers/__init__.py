"""Background work: the Celery app (workers/celery_app.py), its tasks (workers/tasks.py) and an
in-process scheduler for the embedded default (workers/scheduler.py). Thin adapters over
`ledger`; see docs/workers.md."""
