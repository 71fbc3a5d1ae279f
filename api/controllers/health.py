"""Liveness and readiness."""

from __future__ import annotations

from litestar import Response, get

from ledger import ops
from ledger.config import Settings
from ledger.db import Database


@get("/health", tags=["ops"])
async def health() -> ops.Liveness:
    return ops.Liveness(status="ok")


@get("/ready", tags=["ops"], sync_to_thread=True,
     summary="Ready when the database answers (503 when not); Redis is reported too")
def ready(db: Database, settings: Settings) -> Response[ops.Readiness]:
    r = ops.readiness(db, settings.redis_url)
    return Response(r, status_code=200 if r.status == "ok" else 503)
