"""Long sessions for volunteers on their own phone: a refresh token, kept only as a keyed hash,
that buys a new access token and is replaced by a new one each time it is used (rotation).
A session lasts SESSION_IDLE_DAYS after its last use, SESSION_MAX_DAYS at most; the volunteer
(or a town admin) can end it. A refresh token used twice means it was copied: the whole session
(its family) ends. Staff get no refresh token: their sessions stay as short as the access
token (JIFEN_TOKEN_TTL_S)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import DomainError, Forbidden, NotFound
from ledger.identity.models import AppUser, RefreshToken
from ledger.identity.roles import VOLUNTEER
from ledger.identity.schemas import SessionsEnded, SessionView
from ledger.identity.service import Identity, identity_of
from ledger.timeutil import utcnow

log = structlog.get_logger("jifen.sessions")

SESSION_IDLE_DAYS = 30     # unused this long, a session ends
SESSION_MAX_DAYS = 180     # however often used, sign in by SMS again after this
MAX_SESSIONS_PER_USER = 5  # phones; the oldest ends when a sixth signs in
TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 128


class SessionRefused(DomainError):
    code = "refresh_invalid"
    status = 401
    title = "Session ended"


def _hash(secret: str, raw: str) -> str:
    return hmac.new(secret.encode(), f"refresh:{raw}".encode(), hashlib.sha256).hexdigest()


def _issue(s: Session, secret: str, user_id: int, family: str, started: datetime,
           now: datetime) -> tuple[str, RefreshToken]:
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    expires = min(now + timedelta(days=SESSION_IDLE_DAYS),
                  started + timedelta(days=SESSION_MAX_DAYS))
    row = RefreshToken(user_id=user_id, family=family, token_hash=_hash(secret, raw),
                       started_at=started, created_at=now, expires_at=expires)
    s.add(row)
    s.flush()
    return raw, row


def start(db: Database, secret: str, user_id: int, now: datetime | None = None) -> dict:
    """A new session after a volunteer sign-in (SMS code or WeChat)."""
    now = now or utcnow()
    with db.transaction() as s:
        live = list(s.scalars(select(RefreshToken.family).where(
            RefreshToken.user_id == user_id, RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None), RefreshToken.expires_at > now)
            .order_by(RefreshToken.started_at, RefreshToken.id)))
        for family in live[:max(0, len(live) - MAX_SESSIONS_PER_USER + 1)]:
            _end_family(s, family, now, "too_many")
        raw, row = _issue(s, secret, user_id, secrets.token_hex(16), now, now)
        return {"refresh_token": raw, "session_id": row.family,
                "refresh_expires_in": int((row.expires_at - now).total_seconds())}


def _end_family(s: Session, family: str, now: datetime, reason: str) -> int:
    return s.execute(update(RefreshToken).where(RefreshToken.family == family,
                                                RefreshToken.revoked_at.is_(None))
                     .values(revoked_at=now, revoke_reason=reason)).rowcount


def rotate(db: Database, secret: str, raw: str,
           now: datetime | None = None) -> tuple[Identity, dict]:
    """Spend a refresh token: the volunteer's identity (volunteer role only, as their sign-in
    gave) and the session's next refresh token."""
    now = now or utcnow()
    if not raw or len(raw) > MAX_TOKEN_CHARS:
        raise SessionRefused("请重新登录 (sign in again)")
    with db.transaction() as s:
        row = s.scalar(select(RefreshToken).where(RefreshToken.token_hash == _hash(secret, raw))
                       .with_for_update())
        if row is None or row.revoked_at is not None:
            raise SessionRefused("请重新登录 (sign in again)")
        if row.used_at is None:
            return _spend(s, secret, row, now)
        user_id, family = row.user_id, row.family
        _end_family(s, family, now, "reused")  # a copy was used: end it everywhere
    log.warning("refresh_token_reused", user_id=user_id, session=family[:8])
    raise SessionRefused("登录凭据已被使用，请重新登录 (this session was ended)",
                         code="refresh_reused")  # after the commit: the session stays ended


def _spend(s: Session, secret: str, row: RefreshToken, now: datetime) -> tuple[Identity, dict]:
    if row.expires_at <= now:
        raise SessionRefused("登录已过期，请重新登录 (the session expired)",
                             code="refresh_expired")
    user = s.get(AppUser, row.user_id)
    if user is None or not user.active:
        raise Forbidden("该账号已停用 (this account is disabled)", code="account_disabled")
    row.used_at = user.last_sign_in_at = now
    raw, new = _issue(s, secret, row.user_id, row.family, row.started_at, now)
    return identity_of(s, user, only=(VOLUNTEER,)), {
        "refresh_token": raw, "session_id": new.family,
        "refresh_expires_in": int((new.expires_at - now).total_seconds())}


def end(db: Database, user_id: int, session_id: str | None, *, by: int,
        now: datetime | None = None) -> SessionsEnded:
    """End one session of the user (session_id), or all of them (None)."""
    now = now or utcnow()
    with db.transaction() as s:
        q = select(RefreshToken.family).where(RefreshToken.user_id == user_id,
                                              RefreshToken.revoked_at.is_(None))
        if session_id is not None:
            q = q.where(RefreshToken.family == session_id)
        families = set(s.scalars(q))
        if session_id is not None and not families:
            raise NotFound("no such session", code="session_not_found")
        reason = "signed_out" if by == user_id else "admin"
        for family in families:
            _end_family(s, family, now, reason)
    log.info("sessions_ended", user_id=user_id, by=by, count=len(families))
    return SessionsEnded(ended=len(families))


def end_by_token(db: Database, secret: str, raw: str, now: datetime | None = None) -> None:
    """Sign-out with the token in hand (the page's cookie): its session ends."""
    if not raw or len(raw) > MAX_TOKEN_CHARS:
        return
    with db.transaction() as s:
        family = s.scalar(select(RefreshToken.family)
                          .where(RefreshToken.token_hash == _hash(secret, raw)))
        if family is not None:
            _end_family(s, family, now or utcnow(), "signed_out")


def live_sessions(db: Database, user_id: int, now: datetime | None = None) -> list[SessionView]:
    now = now or utcnow()
    with db.sessions() as s:
        rows = s.scalars(select(RefreshToken).where(
            RefreshToken.user_id == user_id, RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None), RefreshToken.expires_at > now)
            .order_by(RefreshToken.started_at.desc()).limit(MAX_SESSIONS_PER_USER))
        return [SessionView(session_id=r.family, started_at=r.started_at.isoformat(),
                            last_used_at=r.created_at.isoformat(),
                            expires_at=r.expires_at.isoformat()) for r in rows]
