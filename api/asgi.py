"""ASGI entry point for uvicorn: `uvicorn api.asgi:app` (what `jifen serve` runs)."""

from api.app import create_app
from ledger import heap

app = create_app()
app.on_startup.append(lambda _app: heap.settle())  # last: after the app's own startup
