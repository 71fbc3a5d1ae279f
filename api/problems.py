"""Every error leaves as an RFC 9457 problem detail with a stable `code`."""

from __future__ import annotations

import msgspec
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError, StatementError

from ledger.errors import DomainError

log = structlog.get_logger("jifen.api")
PROBLEM = "application/problem+json"
TYPE_BASE = "https://jifen.example/problems/"


def problem(status: int, code: str, title: str, detail: str, request: Request | None = None,
            **extra) -> Response:
    body = {"type": TYPE_BASE + code, "title": title, "status": status, "detail": detail,
            "code": code, **extra}
    if request is not None:
        body["instance"] = request.url.path
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return Response(body, status_code=status, media_type=PROBLEM, headers=headers)


def domain_error_handler(request: Request, exc: DomainError) -> Response:
    return problem(exc.status, exc.code, exc.title, exc.detail, request, **exc.extra)


_HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
               415: "unsupported_media_type", 429: "rate_limited"}


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        errors = [{"field": e.get("key"), "message": e.get("message"), "source": e.get("source")}
                  for e in (exc.extra or []) if isinstance(e, dict)]
        return problem(400, "validation_error", "Invalid request", str(exc.detail), request,
                       errors=errors)
    if isinstance(exc, NotAuthorizedException):
        return problem(401, "unauthenticated", "Sign-in required", str(exc.detail), request)
    if isinstance(exc, PermissionDeniedException):
        return problem(403, getattr(exc, "code", None) or "forbidden", "Forbidden",
                       str(exc.detail), request)
    code = _HTTP_CODES.get(status, f"http_{status}")
    if status >= 500:
        log.error("http_error", status=status, detail=str(exc.detail))
    return problem(status, code, "Request refused" if status < 500 else "Server error",
                   str(exc.detail), request)


def encoding_error_handler(request: Request, exc: UnicodeDecodeError) -> Response:
    """Bytes that are not UTF-8 where text is expected (a form field, a JSON string): the
    client's mistake, refused with its own code rather than a server error."""
    return problem(400, "invalid_utf8", "Invalid request",
                   f"the request is not valid UTF-8 (byte {exc.start})", request)


def nesting_error_handler(request: Request, exc: RecursionError) -> Response:
    """A body nested deeper than the decoder's stack (JSON 1,000 deep is 2 KB and needs no
    sign-in): the client's doing, so a 400 and one warning line, never a traceback."""
    log.warning("request_too_deep", path=request.url.path, error=str(exc)[:120])
    return problem(400, "body_too_deep", "Invalid request",
                   "the request body is nested too deeply", request)


def _out_of_range(exc: BaseException) -> bool:
    """A number or date the client sent that no column (or datetime) can hold: bigger than
    64 bits, a year past 9999. Found by the fuzzer on every id parameter."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, (OverflowError, DataError)):
            return True
        if type(exc).__module__.startswith("psycopg") and type(exc).__name__ in (
                "NumericValueOutOfRange", "DatetimeFieldOverflow", "DataError"):
            return True
        exc, seen = getattr(exc, "orig", None) or exc.__cause__, seen + 1
    return False


def data_error_handler(request: Request, exc: Exception) -> Response:
    if _out_of_range(exc):
        return problem(422, "value_out_of_range", "Invalid input",
                       "a number or date in the request is out of range", request)
    return internal_error_handler(request, exc)


def internal_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", path=request.url.path)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "Server error",
                   "an unexpected error occurred; it has been logged", request)


class Problem(msgspec.Struct):
    """The body of every error (RFC 9457). Some carry more members: `errors` (the fields a
    validation error names), `retry_after`, `limit`, `field`."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None


# What any operation may answer besides its success: documented on every operation, so the
# schema the fuzzer checks against (and clients generate from) says errors are problem details.
PROBLEM_STATUSES = {400: "Malformed request", 401: "Sign-in required",
                    403: "Not allowed for this caller", 404: "No such resource",
                    409: "Conflicts with the current state (or an idempotency key reused)",
                    413: "Request body too large", 415: "Unsupported media type",
                    422: "Invalid input or a limit passed", 429: "Rate limited",
                    503: "A store it needs is down (rankings without Redis)"}


def document_problems(app) -> None:
    """Document the problem responses on every operation in the schema (replacing Litestar's
    default 400 body, which is not what we send)."""
    specs = {status: ResponseSpec(data_container=Problem, media_type=PROBLEM,
                                  description=text, generate_examples=False)
             for status, text in PROBLEM_STATUSES.items()}
    for route in app.routes:
        for h, _ in getattr(route, "route_handler_map", {}).values():
            if isinstance(h, HTTPRouteHandler):
                h.responses = {**specs, **(h.responses or {})}


exception_handlers = {
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    UnicodeDecodeError: encoding_error_handler,
    RecursionError: nesting_error_handler,
    OverflowError: data_error_handler,
    StatementError: data_error_handler,  # out-of-range values; other database errors stay 500
    Exception: internal_error_handler,
}

__all__ = ["MediaType", "document_problems", "exception_handlers", "problem"]
