"""Dependencies injected into handlers: the database, settings, the caller, idempotency keys,
the rate limiter and the SMS gateway."""

from __future__ import annotations

from litestar import Request
from litestar.di import Provide

from api.auth import Principal, provide_optional_principal, provide_principal
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import InvalidInput
from ledger.identity import otp
from ledger.ratelimit import RateLimiter

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_CHARS = 128


async def provide_db(request: Request) -> Database:
    return request.app.state.db


async def provide_settings(request: Request) -> Settings:
    return request.app.state.settings


def limiter_of(request: Request) -> RateLimiter:
    """The process's one rate limiter (api.app.bind puts it on the app's state), shared by the
    JSON API and the pages: Redis when configured, else this process's memory."""
    return request.app.state.limiter


async def provide_limiter(request: Request) -> RateLimiter:
    return limiter_of(request)


def sender_of(request: Request) -> otp.CodeSender:
    """The SMS gateway for one-time codes, shared by the JSON API and the sign-in page:
    app.state.otp_sender if set (tests, embedding apps), else the one the settings name (the
    log in the embedded default), chosen on first use."""
    sender = getattr(request.app.state, "otp_sender", None)
    if sender is None:
        sender = request.app.state.otp_sender = otp.load_sender(sms=request.app.state.settings.sms)
    return sender


async def provide_sender(request: Request) -> otp.CodeSender:
    return sender_of(request)


def scoped_key(request: Request, principal: Principal | None, *, required: bool = True
               ) -> str | None:
    """The client's Idempotency-Key, scoped to the caller so two users never collide."""
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        if required:
            raise InvalidInput(f"send an {IDEMPOTENCY_HEADER} header with every write",
                               code="idempotency_key_required")
        return None
    raw = raw.strip()
    if not 1 <= len(raw) <= IDEMPOTENCY_KEY_CHARS or not raw.isprintable():
        raise InvalidInput(f"Idempotency-Key must be 1..{IDEMPOTENCY_KEY_CHARS} printable "
                           "characters",
                           code="idempotency_key_invalid")
    who = principal.user_id if principal else "anon"
    return f"u{who}:{raw}"


def needs_idempotency_key(handler) -> bool:
    """True if the handler asks for the key: its code calls `scoped_key` (whose default is
    required=True; no handler passes required=False today)."""
    fn = handler.fn
    fn = getattr(fn, "func", fn)  # sync handlers run in a thread are wrapped
    return "scoped_key" in getattr(getattr(fn, "__code__", None), "co_names", ())


def _idempotency_header():
    from litestar.openapi.spec import Parameter, Schema
    from litestar.openapi.spec.enums import OpenAPIType
    return Parameter(
        name=IDEMPOTENCY_HEADER, param_in="header", required=True,
        description="The client's key for this write: a retry with the same key and body gets "
                    "the first answer; the same key with another body is refused (409).",
        schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=IDEMPOTENCY_KEY_CHARS,
                      pattern=r"^[!-~]+$"))


def document_idempotency(app) -> int:
    """Declare the Idempotency-Key header on every operation that requires it (through the
    handler's OpenAPI operation class), so generated clients and the fuzzer send it; the
    number of such operations."""
    from dataclasses import dataclass

    from litestar.handlers import HTTPRouteHandler
    from litestar.openapi.spec import Operation

    header = _idempotency_header()

    @dataclass
    class KeyedOperation(Operation):
        def __post_init__(self) -> None:
            self.parameters = [*(self.parameters or []), header]

    count = 0
    for route in app.routes:
        for h, _ in getattr(route, "route_handler_map", {}).values():
            if isinstance(h, HTTPRouteHandler) and needs_idempotency_key(h):
                h.operation_class = KeyedOperation
                count += 1
    return count


dependencies = {
    "db": Provide(provide_db),
    "settings": Provide(provide_settings),
    "principal": Provide(provide_principal),
    "maybe_principal": Provide(provide_optional_principal),
}
