"""ASGI entry point for uvicorn: `uvicorn api.asgi:app` (what `jifen serve` runs)."""

from sqlalchemy.orm import configure_mappers

from api.app import create_app
from api.pages import compile_templates
from ledger import heap

app = create_app()
# What a process would otherwise do during its first requests, while those behind them wait:
# compile the page templates and configure the ORM's mappers.
app.on_startup.append(compile_templates)
app.on_startup.append(lambda _app: configure_mappers())
app.on_startup.append(lambda _app: heap.settle())  # last: after the app's own startup
