"""Every error leaves as an RFC 9457 problem detail with a stable `code`."""

from __future__ import annotations

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

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


def internal_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", path=request.url.path)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "Server error",
                   "an unexpected error occurred; it has been logged", request)


exception_handlers = {
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}

__all__ = ["exception_handlers", "problem", "MediaType"]
