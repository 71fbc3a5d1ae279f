"""Liveness and readiness."""

from __future__ import annotations

from litestar import Response, get
from sqlalchemy import text

from ledger.db import Database


@get("/health", tags=["ops"])
async def health() -> dict:
    return {"status": "ok"}


@get("/ready", tags=["ops"], sync_to_thread=True)
def ready(db: Database) -> Response:
    checks = {}
    try:
        with db.engine.connect() as c:
            c.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"down: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return Response({"status": "ok" if ok else "degraded", "checks": checks},
                    status_code=200 if ok else 503)
