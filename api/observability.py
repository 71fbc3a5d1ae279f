"""Request ids, structured access logs, security headers and Prometheus metrics, as one ASGI
middleware around the whole app."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime

import structlog
from litestar import Request, Response, get

from ledger import metrics as domain_metrics
from ledger import ops
from ledger.logs import configure_logging  # noqa: F401 - the app sets logging up from here
from ledger.metrics import LATENCY, REQUESTS
from ledger.timeutil import utcnow

REQUEST_ID_HEADER = b"x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(self), geolocation=(self), microphone=()"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
     b"script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; "
     b"base-uri 'self'; form-action 'self'"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# The API docs (Swagger UI, ReDoc) are served by the app itself (api/docs_assets.py): their
# inline start-up script and styles need 'unsafe-inline', nothing leaves the site.
DOCS_CSP = (b"content-security-policy",
            b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            b"script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; "
            b"connect-src 'self'; frame-ancestors 'none'")


access_log = structlog.get_logger("jifen.access")


def _route_of(scope) -> str:  # noqa: ANN001
    handler = scope.get("route_handler")
    paths = getattr(handler, "paths", None)
    return sorted(paths)[0] if paths else "unmatched"


ARRIVED_AT = "jifen.arrived_at"  # the scope's key: when the request reached the app


def arrived_at(request) -> datetime | None:  # noqa: ANN001 - any ASGI connection
    return request.scope.get(ARRIVED_AT)


class ObservabilityMiddleware:
    """Wraps the app's whole ASGI handler (see api/app.py), outside Litestar's routing and
    exception handling, so unmatched paths (404, 405) get the headers, the id and a log line."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER, b"").decode("latin-1")
        rid = given if _VALID_ID.match(given) else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        scope[ARRIVED_AT] = utcnow()  # what a check-in judges its code at (activities.received)
        status_holder = {"status": 500}
        is_docs = scope.get("path", "").startswith("/docs")

        async def send_wrapper(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != REQUEST_ID_HEADER]
                present = {k.lower() for k, _ in headers}
                extra = [DOCS_CSP if (is_docs and k == b"content-security-policy") else (k, v)
                         for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": headers + extra + [
                    (REQUEST_ID_HEADER, rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            method = scope.get("method", "")
            REQUESTS.labels(method, route, str(status_holder["status"])).inc()
            LATENCY.labels(method, route).observe(elapsed)
            client = scope.get("client")
            # the caller's address as the server believes it: X-Forwarded-For is honoured from
            # JIFEN_TRUSTED_PROXIES only (uvicorn's proxy headers, api/cli.py serve)
            access_log.info("request", method=method, route=route,
                            status=status_holder["status"], ms=round(elapsed * 1000, 2),
                            client=client[0] if client else None)
            structlog.contextvars.unbind_contextvars("request_id")


@get("/metrics", tags=["ops"], include_in_schema=False, sync_to_thread=True)
def metrics(request: Request) -> Response:
    """Prometheus text. The gauges read from the database (audit result, outbox lag, last
    backup) are measured now, by this process; with PROMETHEUS_MULTIPROC_DIR the samples of
    every process on the box are added up (several API workers report as one)."""
    state = request.app.state
    ops.refresh_gauges(state.db, state.settings)
    body, content_type = domain_metrics.exposition(state.settings.metrics_dir)
    return Response(body, media_type=content_type)
