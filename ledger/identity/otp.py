"""Volunteer sign-in by phone and one-time code. The code goes out through a pluggable sender:
the embedded default writes it to the log; production names an SMS gateway
(JIFEN_OTP_SENDER=aliyun or tencent, ledger/identity/sms.py; or package.module:factory). Only a keyed hash of each code is stored.

Limits: three codes per phone per 15 minutes; per address, 600 per 10 minutes — a whole village
signing in on one shared Wi-Fi at an event (300 people, a second code each) passes, while a
phone's own limit stays strict and codes only ever go to registered volunteers; a code lives
five minutes, survives five wrong guesses, and is spent by its first use; ten verifications per
phone per 15 minutes. A phone nobody registered gets the same answer as a registered one.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import secrets
from datetime import datetime, timedelta
from dataclasses import replace
from typing import Protocol, runtime_checkable

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ledger.registry.models import Person
from ledger.registry.privacy import mask_phone, normalize_phone
from ledger.config import SmsSettings, load_sms_settings
from ledger.db import Database
from ledger.errors import Forbidden, InvalidInput
from ledger.identity import current
from ledger.identity.models import AppUser, OtpCode
from ledger.identity.roles import VOLUNTEER
from ledger.identity.schemas import CodeSent
from ledger.identity.sms import PROVIDERS
from ledger.identity.service import Identity, SignInFailed, add_role, add_user, identity_of
from ledger.ratelimit import Limit, RateLimiter
from ledger.timeutil import utcnow

log = structlog.get_logger("jifen.otp")

OTP_DIGITS = 6
OTP_TTL_S = 300
OTP_MAX_ATTEMPTS = 5
OTP_KEEP_S = 24 * 3600  # spent and expired codes are deleted after a day
OTP_SEND_PER_PHONE = Limit("otp_send", max_hits=3, window_s=900)
OTP_EVENT_CROWD = 300  # people behind one address (an event's Wi-Fi, a village's NAT)
OTP_SEND_PER_ADDRESS = Limit("otp_send_ip", max_hits=2 * OTP_EVENT_CROWD, window_s=600)
OTP_VERIFY_PER_PHONE = Limit("otp_verify", max_hits=10, window_s=900)
SENDER_ENV = "JIFEN_OTP_SENDER"


@runtime_checkable
class CodeSender(Protocol):
    def send(self, phone: str, code: str, ttl_s: int) -> None: ...


class LogSender:
    """The embedded default: the code is written to the server log for the operator to read."""

    def send(self, phone: str, code: str, ttl_s: int) -> None:
        structlog.get_logger("jifen.otp").warning(
            "otp_code", phone=mask_phone(phone), code=code, ttl_s=ttl_s,
            note="embedded mode: codes are logged, not sent")


def load_sender(spec: str | None = None, sms: SmsSettings | None = None) -> CodeSender:
    """'log' (the default), 'aliyun', 'tencent' (configured by `sms`, the JIFEN_SMS_*
    settings) or 'package.module:factory' — a class or function returning an object with
    send(phone, code, ttl_s)."""
    sms = sms or load_sms_settings()
    spec = spec or sms.provider or "log"
    if spec == "log":
        return LogSender()
    if spec in PROVIDERS:
        if spec != sms.provider:
            sms = replace(sms, provider=spec)  # checks that its keys are set
        return PROVIDERS[spec](sms)
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"{SENDER_ENV} must be 'log' or 'package.module:factory'")
    return getattr(importlib.import_module(module), attr)()


def _phone(raw: str) -> str:
    try:
        phone = normalize_phone(raw)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="phone_invalid") from None
    if phone is None:
        raise InvalidInput("请填写手机号 (phone is required)", code="phone_required")
    return phone


def code_hash(secret: str, phone: str, code: str) -> str:
    return hmac.new(secret.encode(), f"otp:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _volunteer(s: Session, phone: str) -> Person | None:
    return s.scalar(select(Person).where(Person.phone == phone, Person.is_volunteer.is_(True))
                    .order_by(Person.id).limit(1))


def request_code(db: Database, limiter: RateLimiter, sender: CodeSender, *, phone: str,
                 secret: str, address: str | None = None, now: datetime | None = None
                 ) -> CodeSent:
    phone = _phone(phone)
    if address:
        limiter.check(OTP_SEND_PER_ADDRESS, address)
    limiter.check(OTP_SEND_PER_PHONE, phone)
    now = now or utcnow()
    answer = CodeSent(sent=True, ttl_s=OTP_TTL_S)
    with db.transaction() as s:
        if _volunteer(s, phone) is None:
            log.info("otp_unknown_phone", phone=mask_phone(phone))
            return answer
        s.execute(delete(OtpCode).where(OtpCode.phone == phone,
                                        OtpCode.expires_at < now - timedelta(seconds=OTP_KEEP_S)))
        s.execute(update(OtpCode).where(OtpCode.phone == phone, OtpCode.used_at.is_(None))
                  .values(used_at=now))  # a new code retires the older ones
        code = f"{secrets.randbelow(10 ** OTP_DIGITS):0{OTP_DIGITS}d}"
        s.add(OtpCode(phone=phone, code_hash=code_hash(secret, phone, code), created_at=now,
                      expires_at=now + timedelta(seconds=OTP_TTL_S), attempts=0))
    sender.send(phone, code, OTP_TTL_S)
    return answer


def _check(s: Session, phone: str, code: str, secret: str, now: datetime) -> str:
    row = s.scalar(select(OtpCode).where(OtpCode.phone == phone, OtpCode.used_at.is_(None))
                   .order_by(OtpCode.id.desc()).limit(1).with_for_update())
    if row is None:
        return "otp_invalid"
    if row.expires_at <= now:
        return "otp_expired"
    if row.attempts >= OTP_MAX_ATTEMPTS:
        return "otp_attempts_exceeded"
    if not hmac.compare_digest(row.code_hash, code_hash(secret, phone, code)):
        row.attempts += 1
        if row.attempts >= OTP_MAX_ATTEMPTS:
            row.used_at = now  # burnt: ask for a new code
        return "otp_invalid"
    row.used_at = now
    return "ok"


MESSAGES = {"otp_invalid": "验证码不对 (wrong code)",
            "otp_expired": "验证码已过期，请重新获取 (the code has expired)",
            "otp_attempts_exceeded": "错误次数过多，请重新获取验证码 (too many wrong codes)"}


def verify_code(db: Database, limiter: RateLimiter, *, phone: str, code: str, secret: str,
                now: datetime | None = None) -> Identity:
    """Spend a code; the volunteer's user is made on their first sign-in. The token carries
    the volunteer role only, even for a staff member who volunteers: staff roles need the
    password."""
    phone = _phone(phone)
    code = (code or "").strip()
    if not code.isdigit() or len(code) != OTP_DIGITS:
        raise InvalidInput(f"验证码为{OTP_DIGITS}位数字", code="otp_format")
    limiter.check(OTP_VERIFY_PER_PHONE, phone)
    now = now or utcnow()
    with db.transaction() as s:
        outcome = _check(s, phone, code, secret, now)  # wrong guesses are counted (committed)
    if outcome != "ok":
        raise SignInFailed(MESSAGES[outcome], code=outcome)
    limiter.reset(OTP_VERIFY_PER_PHONE, phone)
    with db.transaction() as s:
        person = _volunteer(s, phone)
        if person is None:
            raise SignInFailed(MESSAGES["otp_invalid"], code="otp_invalid")
        user = s.scalar(select(AppUser).where(AppUser.person_id == person.id))
        if user is None:
            user = add_user(s, login=None, name=person.name, person_id=person.id,
                            roles=((VOLUNTEER, person.village_id),), now=now)
        elif not user.active:
            raise Forbidden("该账号已停用 (this account is disabled)", code="account_disabled")
        elif (VOLUNTEER, person.village_id) not in identity_of(s, user).roles:
            add_role(s, user.id, VOLUNTEER, person.village_id, now=now)
        user.last_sign_in_at = now
        who = identity_of(s, user, only=(VOLUNTEER,))
    current.forget(db, who.user_id)  # a volunteer role may have been added just now
    return who
