"""Sign-in and users over HTTP. Sign-in answers with a JWT (for API clients, `Authorization:
Bearer`) and sets the same token in the `jifen_token` cookie (for the pages); its roles are the
user's role assignments. Staff sign in with a password, volunteers with phone + one-time code.
Admins create users and grant or revoke roles within their scope."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import Provide

from api.auth import (
    TOWN_ADMIN,
    VILLAGE_ADMIN,
    Claims,
    Principal,
    clear_token_cookie,
    issue_token,
    principal_for,
    principal_from,
    requires_role,
    set_token_cookie,
    signed_in,
)
from api.controllers import paged as pg
from api.deps import provide_limiter, provide_sender, scoped_key
from ledger.config import Settings
from ledger.db import Database
from ledger.identity import otp
from ledger.identity import service as identity
from ledger.identity import sessions
from ledger.identity.passwords import MAX_PASSWORD_CHARS
from ledger.identity.schemas import (Caller, CodeSent, PasswordChanged, SignedIn, SignedInUser,
                                     SignedOut, UserView, roles_view)
from ledger.ratelimit import RateLimiter

Login = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PASSWORD_CHARS)]
Phone = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
NO_STORE = {"Cache-Control": "no-store"}


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


class PasswordSignIn(msgspec.Struct, forbid_unknown_fields=True):
    login: Login
    password: Password


class CodeRequest(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone


class CodeSignIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=12)]


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    old_password: Password
    new_password: Password


class PasswordReset(msgspec.Struct, forbid_unknown_fields=True):
    new_password: Password


class RoleIn(msgspec.Struct, forbid_unknown_fields=True):
    role: Annotated[str, msgspec.Meta(max_length=20)]
    village_id: int | None = None


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    login: Login
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    password: Password
    person_id: int | None = None
    roles: Annotated[list[RoleIn], msgspec.Meta(max_length=identity.MAX_ROLES_PER_USER)] = []


class ActiveIn(msgspec.Struct, forbid_unknown_fields=True):
    active: bool


def _signed_in(settings: Settings, who: identity.Identity,
               session: dict | None = None) -> Response[SignedIn]:
    """The sign-in answer; a volunteer's long session (ledger/identity/sessions.py) adds its
    refresh_token, for POST /api/v1/auth/refresh when the token lapses."""
    p = principal_from(who)
    token = issue_token(settings, p)
    body = SignedIn(token=token, token_type="Bearer", expires_in=settings.token_ttl_s,
                    **(session or {}),
                    user=SignedInUser(id=p.user_id, name=p.name, person_id=p.person_id,
                                      login=who.login, roles=roles_view(p.roles)))
    resp = Response(body, status_code=200, headers=NO_STORE)
    set_token_cookie(resp, settings, token)
    return resp


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]
    dependencies = {"limiter": Provide(provide_limiter), "sender": Provide(provide_sender)}

    @post("/password", sync_to_thread=True, summary="Staff sign-in with login and password")
    def password(self, request: Request, data: PasswordSignIn, db: Database, settings: Settings,
                 limiter: RateLimiter) -> Response[SignedIn]:
        return _signed_in(settings, identity.sign_in_password(
            db, limiter, login=data.login, password=data.password, address=_address(request)))

    @post("/code", status_code=202, sync_to_thread=True,
          summary="Send a one-time sign-in code to a volunteer's phone")
    def code(self, request: Request, data: CodeRequest, db: Database, settings: Settings,
             limiter: RateLimiter, sender: otp.CodeSender) -> CodeSent:
        return otp.request_code(db, limiter, sender, phone=data.phone,
                                secret=settings.secret_key, address=_address(request))

    @post("/code/verify", sync_to_thread=True, summary="Volunteer sign-in with the code")
    def verify(self, data: CodeSignIn, db: Database, settings: Settings,
               limiter: RateLimiter) -> Response[SignedIn]:
        who = otp.verify_code(db, limiter, phone=data.phone, code=data.code,
                              secret=settings.secret_key)
        return _signed_in(settings, who, sessions.start(db, settings.secret_key, who.user_id))

    @post("/signout", status_code=200, sync_to_thread=True,
          summary="Sign out: every token of this user ends, and the cookie is cleared")
    def signout(self, db: Database, maybe_principal: Principal | None) -> Response[SignedOut]:
        if maybe_principal is not None:
            identity.sign_out(db, maybe_principal.user_id)
        resp = Response(SignedOut(signed_out=True), headers=NO_STORE)
        clear_token_cookie(resp)
        return resp

    @get("/me", guards=[signed_in], summary="Who the caller is, as their user stands now")
    async def me(self, principal: Principal) -> Caller:
        return Caller(user_id=principal.user_id, name=principal.name,
                      person_id=principal.person_id, roles=roles_view(principal.roles))

    @post("/password/change", guards=[signed_in], sync_to_thread=True, status_code=200,
          summary="Change one's own password: other sessions end, this one gets a new token")
    def change_password(self, data: PasswordChange, db: Database, settings: Settings,
                        principal: Principal) -> Response[PasswordChanged]:
        out = identity.set_password(db, principal, principal.user_id, data.new_password,
                                    old_password=data.old_password)
        fresh = principal_for(db, Claims(principal.user_id, principal.token_version + 1,
                                         principal.only))
        token = issue_token(settings, fresh)
        resp = Response(PasswordChanged(id=out.id, password_changed=out.password_changed,
                                        token=token, token_type="Bearer",
                                        expires_in=settings.token_ttl_s), headers=NO_STORE)
        set_token_cookie(resp, settings, token)
        return resp


ADMINS = (TOWN_ADMIN, VILLAGE_ADMIN)


class UsersController(Controller):
    path = "/api/v1/users"
    tags = ["auth"]

    @get("/", guards=[requires_role(*ADMINS)], sync_to_thread=True)
    def list_users(self, db: Database, principal: Principal, village_id: int | None = None,
                   cursor: pg.Cursor = None,
                   limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[UserView]:
        return pg.page_of(identity.list_users(db, principal, village_id), cursor, limit,
                          lambda u: u.id)

    @post("/", guards=[requires_role(*ADMINS)], status_code=201, sync_to_thread=True,
          summary="Create a staff user with a password and roles")
    def create(self, request: Request, data: UserIn, db: Database,
               principal: Principal) -> UserView:
        return identity.create_user(db, principal, login=data.login, name=data.name,
                                    password=data.password, person_id=data.person_id,
                                    roles=[(r.role, r.village_id) for r in data.roles],
                                    key=scoped_key(request, principal))

    @post("/{user_id:int}/roles", guards=[requires_role(*ADMINS)], status_code=201,
          sync_to_thread=True)
    def grant(self, request: Request, user_id: int, data: RoleIn, db: Database,
              principal: Principal) -> UserView:
        return identity.grant_role(db, principal, user_id, data.role, data.village_id,
                                   key=scoped_key(request, principal))

    @delete("/{user_id:int}/roles/{role:str}", guards=[requires_role(*ADMINS)], status_code=200,
            sync_to_thread=True, summary="Take a role back (village_id: where it was held)")
    def revoke(self, request: Request, user_id: int, role: str, db: Database,
               principal: Principal, village_id: int | None = None) -> UserView:
        return identity.revoke_role(db, principal, user_id, role, village_id,
                                    key=scoped_key(request, principal))

    @post("/{user_id:int}/password", guards=[requires_role(TOWN_ADMIN)], status_code=200,
          sync_to_thread=True, summary="A town admin resets a user's password")
    def reset_password(self, user_id: int, data: PasswordReset, db: Database,
                       principal: Principal) -> PasswordChanged:
        return identity.set_password(db, principal, user_id, data.new_password)

    @post("/{user_id:int}/active", guards=[requires_role(TOWN_ADMIN)], status_code=200,
          sync_to_thread=True, summary="Disable or enable a user")
    def set_active(self, user_id: int, data: ActiveIn, db: Database,
                   principal: Principal) -> UserView:
        return identity.set_active(db, principal, user_id, data.active)
