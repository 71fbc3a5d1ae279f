"""Liveness and readiness."""

from __future__ import annotations

from litestar import Response, get
from sqlalchemy import text

from ledger.config import Settings
from ledger.db import Database


@get("/health", tags=["ops"])
async def health() -> dict:
    return {"status": "ok"}


@get("/ready", tags=["ops"], sync_to_thread=True)
def ready(db: Database, settings: Settings) -> Response:
    """Ready when the database answers; Redis (rate limits, rankings, broker) is reported too.
    Redis down degrades features but does not make the service unready: check-ins and
    redemptions keep working on the database alone."""
    checks = {}
    try:
        with db.engine.connect() as c:
            c.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"down: {type(exc).__name__}"
    if settings.redis_url:
        try:
            import redis
            redis.Redis.from_url(settings.redis_url, socket_timeout=0.5,
                                 socket_connect_timeout=0.5).ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"down: {type(exc).__name__}"
    else:
        checks["redis"] = "not configured (embedded: in-memory stores)"
    ok = checks["database"] == "ok"
    return Response({"status": "ok" if ok else "degraded", "checks": checks},
                    status_code=200 if ok else 503)
