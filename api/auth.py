"""Who is calling, and guards that say who may do what, next to each route.

A signed-in caller carries a JWT (HS256 with the server secret) in `Authorization: Bearer` or in
the `jifen_token` cookie (pages). Its claims name the user, the user's token version when it was
issued, and (for a code sign-in) which roles it may use. What the caller may do comes from the
user's CURRENT state, read on every request (ledger/identity/current.py): a disabled user, a
bumped token version (password reset, sign-out) or a revoked role counts on the next request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import jwt
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from ledger.config import Settings
from ledger.identity import current
from ledger.identity.actor import ANYWHERE, Actor, may
from ledger.identity.roles import (  # noqa: F401 - re-exported: the roles' one definition
    ALL_ROLES,
    CLERK,
    INSPECTOR,
    ORGANIZER,
    STAFF_ROLES,
    TOWN_ADMIN,
    VILLAGE_ADMIN,
    VOLUNTEER,
)
from ledger.timeutil import utcnow

COOKIE = "jifen_token"
ALGORITHM = "HS256"


# The caller is the domain's one Actor; `Principal` is the web layer's name for it (the type
# the controllers and pages take from `principal` / `maybe_principal`).
Principal = Actor


def issue_token(settings: Settings, p: Principal, ttl_s: int | None = None) -> str:
    now = utcnow()
    claims = {"sub": str(p.user_id), "name": p.name, "tv": p.token_version,
              "iat": int(now.timestamp()),
              "exp": int((now + timedelta(seconds=ttl_s or settings.token_ttl_s)).timestamp())}
    if p.only is not None:
        claims["only"] = list(p.only)
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)


def principal_from(identity) -> Principal:  # a ledger.identity.service.Identity
    """The token's subject from a sign-in: roles exactly as the role assignments hold them."""
    return Principal(user_id=identity.user_id, name=identity.name, roles=tuple(identity.roles),
                     person_id=identity.person_id, token_version=identity.token_version,
                     only=identity.only)


def set_token_cookie(response, settings: Settings, token: str) -> None:
    """The pages read the token from this cookie: HttpOnly (no script reads it), SameSite=Lax
    (no cross-site form post carries it), Secure when the service is served over https."""
    response.set_cookie(COOKIE, token, max_age=settings.token_ttl_s, httponly=True,
                        samesite="lax", secure=settings.public_base_url.startswith("https://"),
                        path="/")


def clear_token_cookie(response) -> None:
    response.delete_cookie(COOKIE, path="/")


@dataclass(frozen=True)
class Claims:
    user_id: int
    token_version: int
    only: tuple[str, ...] | None


def decode_token(settings: Settings, token: str) -> Claims | None:
    """The token's claims if its signature and expiry hold; None otherwise. A token whose
    signature held once is not checked again in this process (`_DECODED`): only its expiry,
    the one thing about the same text that changes with time."""
    key = (settings.secret_key, token)
    hit = _DECODED.get(key)
    if hit is not None:
        return hit[0] if time.time() < hit[1] else None
    try:
        c = jwt.decode(token, settings.secret_key, algorithms=[ALGORITHM],
                       options={"require": ["exp", "sub"]})
        only = c.get("only")
        claims = Claims(int(c["sub"]), int(c.get("tv", 0)),
                        tuple(str(r) for r in only) if only is not None else None)
        expires = float(c["exp"])
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    if len(_DECODED) >= MAX_DECODED_TOKENS:
        _DECODED.clear()  # a cache: the next request of each decodes its token again
    _DECODED[key] = (claims, expires)
    return claims


MAX_DECODED_TOKENS = 20_000  # per process: about 11 MB at most (0.3 KB an entry and its token)
_DECODED: dict[tuple[str, str], tuple[Claims, float]] = {}


def principal_for(db, claims: Claims) -> Principal:
    """The caller as the user stands now; refused (401) if the user was disabled or the token's
    version has passed (password reset, sign-out)."""
    state = current.state_of(db, claims.user_id)
    if state is not None and not state.active:
        raise current.TokenRefused("该账号已停用 (this account is disabled)",
                                   code="account_disabled")
    if state is None or state.token_version != claims.token_version:
        raise current.TokenRefused("登录已失效，请重新登录 (this sign-in has ended; sign in again)",
                                   code="token_revoked")
    roles = state.roles if claims.only is None else tuple(
        (r, v) for r, v in state.roles if r in claims.only)
    return Principal(user_id=state.user_id, name=state.name, roles=roles,
                     person_id=state.person_id, token_version=state.token_version,
                     only=claims.only)


def principal_of(connection: ASGIConnection) -> Principal | None:
    """The caller, decoded once per request and kept on the connection state. A token that
    was good once but is no longer (see principal_for) leaves the caller anonymous, with the
    reason kept for the guards' 401."""
    state = connection.state
    if "principal" not in state:
        settings: Settings = connection.app.state.settings
        token = None
        auth = connection.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        elif COOKIE in connection.cookies:
            token = connection.cookies[COOKIE]
        claims = decode_token(settings, token) if token else None
        principal = None
        if claims is not None:
            try:
                principal = principal_for(connection.app.state.db, claims)
            except current.TokenRefused as exc:
                state["auth_refused"] = exc
        state["principal"] = principal
    return state["principal"]


def _sign_in_first(connection: ASGIConnection) -> Exception:
    refused = connection.state.get("auth_refused")
    return refused if refused is not None else NotAuthorizedException("sign in first")


async def provide_principal(request: Request) -> Principal:
    p = principal_of(request)
    if p is None:
        raise _sign_in_first(request)
    return p


async def provide_optional_principal(request: Request) -> Principal | None:
    return principal_of(request)


def signed_in(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if principal_of(connection) is None:
        raise _sign_in_first(connection)


def requires_role(*roles: str, scope_param: str | None = None, page: bool = False):
    """Guard: the caller holds one of `roles`, town-wide or for the village named by the path
    parameter `scope_param` (`identity.actor.may`). Village-scoped checks on bodies happen in
    the service. A page's guard (`page=True`) sends anyone not signed in (or whose sign-in
    has ended) to sign in (the pages' 401 handler), where the API answers with the reason."""

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        p = principal_of(connection)
        if p is None:
            raise NotAuthorizedException("sign in first") if page else \
                _sign_in_first(connection)
        village = ANYWHERE  # the service checks the village named in the body
        if scope_param is not None:
            raw = connection.path_params.get(scope_param)
            village = int(raw) if raw is not None else None
        if not may(p, roles, village):
            raise PermissionDeniedException(
                f"this needs one of the roles {', '.join(roles)}"
                + (f" for village {village}" if isinstance(village, int) else ""))

    guard.__name__ = f"requires_{'_or_'.join(roles)}"
    return guard
