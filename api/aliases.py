"""The old root paths of the API, kept for one release after they moved under their module's
prefix (issue #22; docs/api.md, "Module prefixes"). One table, one mechanism: a request to an
old path is served by the new path's handler (the path is rewritten before routing) and its
answer says so: `Deprecation: true`, `Sunset: <date>` and `Link: <new>; rel="successor-version"`.
The old paths are no routes of their own, so the OpenAPI document shows only the new ones.

Addresses printed on paper (`/c/…`, `/cert/…`, `/h/…`, `/honors/…`, `/v/…`) are pages, not
API paths: they never move and are not in this table."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

# The day the old paths stop answering (they are kept for one release); RFC 8594 HTTP-date.
SUNSET = datetime(2027, 6, 30, tzinfo=timezone.utc)
SUNSET_HTTP_DATE = format_datetime(SUNSET, usegmt=True)

V1 = "/api/v1"
# old prefix → new prefix; a prefix matches a whole path or the segments under it.
MOVED: dict[str, str] = {
    f"{V1}/attendances": f"{V1}/activities/attendances",
    f"{V1}/certificates": f"{V1}/activities/certificates",
    f"{V1}/plates": f"{V1}/activities/plates",
    f"{V1}/entries": f"{V1}/ledger/entries",
    f"{V1}/holds": f"{V1}/ledger/holds",
    f"{V1}/accounts": f"{V1}/ledger/accounts",
    f"{V1}/audit": f"{V1}/ledger/audit",
    f"{V1}/adjustments": f"{V1}/ledger/adjustments",
    f"{V1}/tasks": f"{V1}/recognition/tasks",
    f"{V1}/honor-definitions": f"{V1}/recognition/honor-definitions",
    f"{V1}/honor-lists": f"{V1}/recognition/honor-lists",
    f"{V1}/rankings": f"{V1}/recognition/rankings",
    f"{V1}/star-config": f"{V1}/recognition/star-config",
    f"{V1}/stars/recompute": f"{V1}/recognition/stars/recompute",
    f"{V1}/reports/stations": f"{V1}/stations/reports",
    f"{V1}/reports/honour-candidates": f"{V1}/stations/reports/honour-candidates",
}


def successor(path: str) -> str | None:
    """The new path of an old one, or None when `path` did not move."""
    if not path.startswith(V1 + "/"):
        return None
    for old, new in MOVED.items():
        if path == old or path.startswith(old + "/"):
            return new + path[len(old):]
    return None


class OldPaths:
    """ASGI middleware: serves an old path with its successor's handler and marks the answer
    deprecated. It changes the request's path in place, so the routing, the access log and
    the metrics all see the route that answered."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        new = successor(scope.get("path", "")) if scope["type"] == "http" else None
        if new is None:
            await self.app(scope, receive, send)
            return
        scope["path"] = new
        scope["raw_path"] = new.encode()
        headers = [(b"deprecation", b"true"), (b"sunset", SUNSET_HTTP_DATE.encode()),
                   (b"link", f'<{new}>; rel="successor-version"'.encode())]

        async def send_marked(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, send_marked)
