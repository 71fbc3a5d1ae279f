"""Users and their roles, and password sign-in with a per-account lockout.

Roles live in `role_assignment`: every request reads the caller's current rows (through
ledger/identity/current.py), so a grant or a revocation counts on the next request; a password
change or reset, disabling and signing out bump the user's token version, which ends every token
issued before. Who may grant what: a town admin any role anywhere; a village admin the organizer,
inspector, clerk and volunteer roles in their own village; nobody else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ledger.registry import lookup
from ledger.registry.commands import keyed
from ledger.registry.models import Village
from ledger.db import Database
from ledger.errors import Conflict, DomainError, Forbidden, InvalidInput, LimitExceeded, NotFound
from ledger.identity import current, passwords
from ledger.identity.models import AppUser, RefreshToken, RoleAssignment
from ledger.identity.actor import may, villages_of
from ledger.identity.schemas import PasswordChanged, UserView
from ledger.identity.roles import TOWN_ADMIN, VILLAGE_ADMIN, VILLAGE_GRANTABLE, check_scope
from ledger.ratelimit import Limit, RateLimiter
from ledger.timeutil import utcnow

LOGIN_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
MAX_ROLES_PER_USER = 50
MAX_USERS_LISTED = 1000
# Five wrong passwords for one login lock it for the rest of 15 minutes (a right password
# resets the count); one address may try 30 logins in that time.
PASSWORD_ATTEMPTS = Limit("password", max_hits=5, window_s=900)
PASSWORD_PER_ADDRESS = Limit("password_ip", max_hits=30, window_s=900)


class SignInFailed(DomainError):
    code = "sign_in_failed"
    status = 401
    title = "Sign-in failed"


@dataclass(frozen=True)
class Identity:
    """Who signed in, as the token will say: the API turns it into its Principal."""

    user_id: int
    name: str
    roles: tuple[tuple[str, int | None], ...]
    person_id: int | None = None
    login: str | None = None
    token_version: int = 0
    # The roles the token may use (None: all the user holds): a code sign-in is volunteer only.
    only: tuple[str, ...] | None = None


class _System:
    """The operator at the command line (jifen user create): acts as a town admin."""

    user_id = None
    person_id = None
    roles = ((TOWN_ADMIN, None),)


SYSTEM = _System()


def normalize_login(login: str) -> str:
    return (login or "").strip().lower()


def _check_login(login: str) -> str:
    login = normalize_login(login)
    if not LOGIN_RE.match(login):
        raise InvalidInput("登录名为3到64个小写字母、数字或 ._- (a login is 3..64 of a-z 0-9 . _ -)",
                           code="login_invalid")
    return login


def roles_of(s: Session, user_id: int, only: tuple[str, ...] | None = None
             ) -> tuple[tuple[str, int | None], ...]:
    q = select(RoleAssignment.role, RoleAssignment.village_id).where(
        RoleAssignment.user_id == user_id).order_by(RoleAssignment.id)
    if only:
        q = q.where(RoleAssignment.role.in_(only))
    return tuple((r, v) for r, v in s.execute(q))


def identity_of(s: Session, user: AppUser, only: tuple[str, ...] | None = None) -> Identity:
    return Identity(user.id, user.name, roles_of(s, user.id, only), user.person_id, user.login,
                    int(user.token_version or 0), only)


def may_grant(actor, role: str, village_id: int | None) -> bool:
    if may(actor, (TOWN_ADMIN,), None):
        return True
    return (village_id is not None and role in VILLAGE_GRANTABLE
            and may(actor, (VILLAGE_ADMIN,), village_id))


def _require_grant(actor, role: str, village_id: int | None) -> None:
    if not may_grant(actor, role, village_id):
        raise Forbidden(f"you may not grant or revoke {role}"
                        + (f" in village {village_id}" if village_id is not None else
                           " for the whole town"), code="forbidden_grant")


def add_role(s: Session, user_id: int, role: str, village_id: int | None, *,
             granted_by: int | None = None, now: datetime | None = None) -> RoleAssignment:
    check_scope(role, village_id)
    if village_id is not None and s.get(Village, village_id) is None:
        raise NotFound(f"village {village_id} does not exist", code="village_not_found")
    held = roles_of(s, user_id)
    if (role, village_id) in held:
        raise Conflict(f"the user holds {role} there already", code="role_held")
    if len(held) >= MAX_ROLES_PER_USER:
        raise LimitExceeded(f"at most {MAX_ROLES_PER_USER} roles per user", code="too_many_roles")
    ra = RoleAssignment(user_id=user_id, role=role, village_id=village_id,
                        granted_by=granted_by, created_at=now or utcnow())
    s.add(ra)
    s.flush()
    return ra


def add_user(s: Session, *, login: str | None, name: str, password: str | None = None,
             person_id: int | None = None, roles=(), granted_by: int | None = None,
             now: datetime | None = None) -> AppUser:
    """A user inside the caller's transaction (the demo, the CLI, code sign-in)."""
    now = now or utcnow()
    if login is not None:
        login = _check_login(login)
        if s.scalar(select(AppUser.id).where(AppUser.login == login)) is not None:
            raise Conflict(f"login {login} is taken", code="login_taken")
    if password is not None:
        passwords.check_new_password(password, login=login)
    if person_id is not None:
        lookup.person_with_village(s, person_id)
        if s.scalar(select(AppUser.id).where(AppUser.person_id == person_id)) is not None:
            raise Conflict("this person has a user already", code="person_has_user")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("name: 1..100 characters", code="name_required")
    u = AppUser(login=login, name=name, person_id=person_id, created_at=now,
                password_hash=passwords.hash_password(password) if password else None)
    s.add(u)
    s.flush()
    for role, village_id in roles:
        add_role(s, u.id, role, village_id, granted_by=granted_by, now=now)
    return u


def user_view(s: Session, u: AppUser) -> dict:
    return {"id": u.id, "login": u.login, "name": u.name, "person_id": u.person_id,
            "active": u.active, "has_password": u.password_hash is not None,
            "roles": [{"role": r, "village_id": v} for r, v in roles_of(s, u.id)],
            "created_at": u.created_at.isoformat(),
            "last_sign_in_at": u.last_sign_in_at.isoformat() if u.last_sign_in_at else None}


def _user(s: Session, user_id: int) -> AppUser:
    u = s.get(AppUser, user_id)
    if u is None:
        raise NotFound(f"user {user_id} does not exist", code="user_not_found")
    return u


def create_user(db: Database, actor, *, login: str, name: str, password: str,
                person_id: int | None = None, roles=(), key: str | None = None) -> UserView:
    """A staff user with a password and roles. Every role must be one the actor may grant."""
    roles = tuple((r, v) for r, v in roles)
    if not roles and not may(actor, (TOWN_ADMIN,), None):
        raise Forbidden("only a town admin creates users without roles", code="forbidden_grant")
    for role, village_id in roles:
        _require_grant(actor, role, village_id)

    def work(s: Session) -> dict:
        u = add_user(s, login=login, name=name, password=password, person_id=person_id,
                     roles=roles, granted_by=getattr(actor, "user_id", None))
        return user_view(s, u)

    # The password is not part of the remembered request: only its presence.
    out = keyed(db, work, key=key, request={"op": "user", "login": normalize_login(login),
                                            "name": name, "person": person_id,
                                            "roles": [list(r) for r in roles]})
    current.forget(db, out["id"])
    return msgspec.convert(out, UserView)


def grant_role(db: Database, actor, user_id: int, role: str, village_id: int | None, *,
               key: str | None = None) -> UserView:
    _require_grant(actor, role, village_id)

    def work(s: Session) -> dict:
        add_role(s, _user(s, user_id).id, role, village_id,
                 granted_by=getattr(actor, "user_id", None))
        return user_view(s, _user(s, user_id))

    out = keyed(db, work, key=key, request={"op": "grant", "user": user_id, "role": role,
                                            "village": village_id})
    current.forget(db, user_id)
    return msgspec.convert(out, UserView)


def revoke_role(db: Database, actor, user_id: int, role: str, village_id: int | None, *,
                key: str | None = None) -> UserView:
    _require_grant(actor, role, village_id)

    def work(s: Session) -> dict:
        u = _user(s, user_id)
        q = delete(RoleAssignment).where(RoleAssignment.user_id == u.id,
                                         RoleAssignment.role == role)
        q = q.where(RoleAssignment.village_id.is_(None) if village_id is None
                    else RoleAssignment.village_id == village_id)
        if s.execute(q).rowcount == 0:
            raise NotFound(f"the user does not hold {role} there", code="role_not_held")
        return user_view(s, u)

    out = keyed(db, work, key=key, request={"op": "revoke", "user": user_id, "role": role,
                                            "village": village_id})
    current.forget(db, user_id)
    return msgspec.convert(out, UserView)


def set_password(db: Database, actor, user_id: int, new_password: str, *,
                 old_password: str | None = None) -> PasswordChanged:
    """A user changes their own password (giving the old one); a town admin resets anyone's."""
    with db.transaction() as s:
        u = _user(s, user_id)
        own = getattr(actor, "user_id", None) == u.id
        if not own and not may(actor, (TOWN_ADMIN,), None):
            raise Forbidden("only a town admin resets another user's password",
                            code="forbidden_role")
        if own and not passwords.verify_password(u.password_hash, old_password or ""):
            raise SignInFailed("原密码不对 (the current password is wrong)",
                               code="password_wrong")
        passwords.check_new_password(new_password, login=u.login)
        u.password_hash = passwords.hash_password(new_password)
        _end_every_token(s, u, "password")  # every session of the old password ends
        out = PasswordChanged(id=u.id, password_changed=True)
    current.forget(db, user_id)
    return out


def set_active(db: Database, actor, user_id: int, active: bool) -> UserView:
    if not may(actor, (TOWN_ADMIN,), None):
        raise Forbidden("only a town admin disables or enables users", code="forbidden_role")
    with db.transaction() as s:
        u = _user(s, user_id)
        if u.active and not active:  # enabling again does not bring old tokens back
            _end_every_token(s, u, "disabled")
        u.active = active
        s.flush()
        out = msgspec.convert(user_view(s, u), UserView)
    current.forget(db, user_id)
    return out


def _end_every_token(s: Session, u: AppUser, reason: str) -> None:
    """The one way a user's tokens end: the access tokens by their version, and the long
    sessions' refresh tokens (ledger/identity/sessions.py), which would otherwise mint new
    access tokens at the new version."""
    u.token_version = (u.token_version or 0) + 1
    s.execute(update(RefreshToken).where(RefreshToken.user_id == u.id,
                                         RefreshToken.revoked_at.is_(None))
              .values(revoked_at=utcnow(), revoke_reason=reason))


def sign_out(db: Database, user_id: int) -> None:
    """End every token of this user (all their devices): the next request with one is refused,
    and no refresh token of theirs mints another."""
    with db.transaction() as s:
        _end_every_token(s, _user(s, user_id), "signed_out")
    current.forget(db, user_id)


def list_users(db: Database, actor, village_id: int | None = None) -> list[UserView]:
    """A town admin sees every user; a village admin those holding a role in their villages."""
    scope = villages_of(actor, (TOWN_ADMIN, VILLAGE_ADMIN))
    if scope is not None and not scope:
        raise Forbidden("listing users needs an admin role", code="forbidden_role")
    if village_id is not None:
        if scope is not None and village_id not in scope:
            raise Forbidden(f"no admin role for village {village_id}", code="forbidden_village")
        scope = {village_id}
    with db.sessions() as s:
        q = select(AppUser).order_by(AppUser.id).limit(MAX_USERS_LISTED)
        if scope is not None:
            q = q.where(AppUser.id.in_(select(RoleAssignment.user_id).where(
                RoleAssignment.village_id.in_(scope))))
        return msgspec.convert([user_view(s, u) for u in s.scalars(q)], list[UserView])


def sign_in_password(db: Database, limiter: RateLimiter, *, login: str, password: str,
                     address: str | None = None, now: datetime | None = None) -> Identity:
    """Check a login and password. Each attempt counts against the login (and the caller's
    address); a right password clears the login's count, five wrong ones lock it."""
    login = normalize_login(login)[:64]
    if address:
        limiter.check(PASSWORD_PER_ADDRESS, address)
    limiter.check(PASSWORD_ATTEMPTS, login or "-")
    with db.sessions() as s:
        u = s.scalar(select(AppUser).where(AppUser.login == login)) if login else None
        stored = u.password_hash if u is not None else None
    if not passwords.verify_password(stored, password):
        raise SignInFailed("登录名或密码不对 (wrong login or password)")
    limiter.reset(PASSWORD_ATTEMPTS, login)
    with db.transaction() as s:
        u = _user(s, u.id)
        if not u.active:
            raise Forbidden("该账号已停用 (this account is disabled)", code="account_disabled")
        u.last_sign_in_at = now or utcnow()
        if passwords.needs_rehash(u.password_hash):
            u.password_hash = passwords.hash_password(password)
        return identity_of(s, u)
