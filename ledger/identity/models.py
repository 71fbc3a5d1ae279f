"""Tables of identity: users (staff with a password, volunteers linked to their person), the
roles each holds and where, and one-time sign-in codes (stored as keyed hashes only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base
from ledger.journal.models import BigId
from ledger.timeutil import UTCDateTime


class AppUser(Base):
    """Someone who signs in. Staff have a login and a password hash (argon2id); a volunteer's
    user is made on their first code sign-in and has neither, only its person."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    login: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), unique=True,
                                                  default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Carried in every token; bumped by a password change or reset, disabling and signing out,
    # so every token issued before no longer works (ledger/identity/current.py).
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class RoleAssignment(Base):
    """One role held by one user, for one village or (village_id NULL) the whole town."""

    __tablename__ = "role_assignment"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "village_id", name="uq_role_assignment"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    village_id: Mapped[int | None] = mapped_column(ForeignKey("village.id"), index=True,
                                                   default=None)
    granted_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OtpCode(Base):
    """A one-time sign-in code sent to a phone: only its HMAC is kept; it dies after a few
    minutes, a few wrong guesses, or one use."""

    __tablename__ = "otp_code"
    __table_args__ = (Index("ix_otp_code_phone", "phone", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class WechatBinding(Base):
    """A WeChat openid (one per 公众号 app id) bound to a volunteer's user after one SMS
    sign-in: opening a page inside WeChat then signs them in. Rows are never deleted: an
    unbinding sets unbound_at/by, so who bound and unbound what, and when, stays on record."""

    __tablename__ = "wechat_binding"
    __table_args__ = (
        Index("uq_wechat_binding_openid_live", "app_id", "openid", unique=True,
              sqlite_where=text("unbound_at IS NULL"),
              postgresql_where=text("unbound_at IS NULL")),
        Index("uq_wechat_binding_user_live", "app_id", "user_id", unique=True,
              sqlite_where=text("unbound_at IS NULL"),
              postgresql_where=text("unbound_at IS NULL")),
        Index("ix_wechat_binding_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    nickname: Mapped[str] = mapped_column(String(64), default="")
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime())
    unbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # the user who removed it: the volunteer, an admin, or the next volunteer who verified
    # this WeChat with their own phone
    unbound_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    unbind_reason: Mapped[str] = mapped_column(String(20), default="")


class RefreshToken(Base):
    """One refresh token of a volunteer's long session (ledger/identity/sessions.py): only its
    keyed hash is kept; used once, it is replaced by the next of its family (the session)."""

    __tablename__ = "refresh_token"
    __table_args__ = (Index("ix_refresh_token_user", "user_id", "started_at"),
                      Index("ix_refresh_token_family", "family"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    family: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoke_reason: Mapped[str] = mapped_column(String(20), default="")
