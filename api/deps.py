"""Dependencies injected into handlers: the database, settings, the caller, idempotency keys."""

from __future__ import annotations

from litestar import Request
from litestar.di import Provide

from api.auth import Principal, provide_optional_principal, provide_principal
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import InvalidInput

IDEMPOTENCY_HEADER = "Idempotency-Key"


async def provide_db(request: Request) -> Database:
    return request.app.state.db


async def provide_settings(request: Request) -> Settings:
    return request.app.state.settings


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
    if not 1 <= len(raw) <= 128 or not raw.isprintable():
        raise InvalidInput("Idempotency-Key must be 1..128 printable characters",
                           code="idempotency_key_invalid")
    who = principal.user_id if principal else "anon"
    return f"u{who}:{raw}"


dependencies = {
    "db": Provide(provide_db),
    "settings": Provide(provide_settings),
    "principal": Provide(provide_principal),
    "maybe_principal": Provide(provide_optional_principal),
}
