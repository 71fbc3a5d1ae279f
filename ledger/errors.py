"""Domain errors. Each failure has its own stable `code`; the API turns them into RFC 9457
problem details without knowing any of them by name."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal the caller can act on. `status` is the HTTP status the API answers with."""

    code = "domain_error"
    status = 400
    title = "Request refused"

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        if status:
            self.status = status
        self.extra = extra


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "Conflict"


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    title = "Forbidden"


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 422
    title = "Invalid input"


class InsufficientFunds(DomainError):
    code = "insufficient_points"
    status = 409
    title = "Insufficient balance"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    title = "Idempotency key reused with a different request"


class LimitExceeded(DomainError):
    code = "limit_exceeded"
    status = 422
    title = "Limit exceeded"
