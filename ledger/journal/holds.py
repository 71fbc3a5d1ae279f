"""Two-phase transfers: reserve now, then post or void; a sweep voids the expired ones.

A pending hold moves no balance: it raises `pending_out` on the paying account (so the amount is
no longer available) and `pending_in` on the receiving one. Posting turns it into an ordinary
journal entry; voiding releases it. The state change is one conditional UPDATE, so a hold is
posted or voided exactly once however many clerks or sweeps race for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.orm import Session

from ledger.errors import Conflict, InvalidInput, NotFound
from ledger.journal.models import Hold, HoldStatus
from ledger.journal.posting import Line, PostedEntry, _refusal, hot_flags, post_entry
from ledger.timeutil import UTCDateTime, utcnow

MAX_HOLD_TTL_S = 90 * 24 * 3600
SWEEP_BATCH = 500

_RESERVE_DEBIT = text(
    "UPDATE account SET pending_out = pending_out + :amount "
    "WHERE id = :id AND unit = :unit AND (overdraft = 'allowed' "
    "OR balance - pending_out - :amount >= 0) RETURNING id")
_RESERVE_CREDIT = text(
    "UPDATE account SET pending_in = pending_in + :amount WHERE id = :id AND unit = :unit "
    "RETURNING id")
_RELEASE_DEBIT = text("UPDATE account SET pending_out = pending_out - :amount WHERE id = :id")
_RELEASE_CREDIT = text("UPDATE account SET pending_in = pending_in - :amount WHERE id = :id")
_CLAIM = text(
    "UPDATE hold SET status = :status, resolved_at = :now WHERE id = :id AND status = 'pending' "
    "RETURNING debit_account_id, credit_account_id, amount, unit, source, source_ref"
).bindparams(bindparam("now", type_=UTCDateTime()))
_INSERT_HOLD = insert(Hold).returning(Hold.id)
_STATUS = text("SELECT status FROM hold WHERE id = :id")


def reserve(session: Session, *, unit: str, debit_account_id: int, credit_account_id: int,
            amount: int, ttl_s: int, memo: str = "", source: str = "", source_ref: str = "",
            details: dict | None = None, now: datetime | None = None) -> int:
    if not isinstance(amount, int) or amount <= 0:
        raise InvalidInput("a hold's amount must be a positive whole number", code="amount_out_of_range")
    if not 1 <= ttl_s <= MAX_HOLD_TTL_S:
        raise InvalidInput(f"hold timeout must be 1..{MAX_HOLD_TTL_S} s", code="hold_ttl_out_of_range")
    if debit_account_id == credit_account_id:
        raise InvalidInput("a hold needs two different accounts", code="entry_duplicate_account")
    now = now or utcnow()
    if session.execute(_RESERVE_DEBIT, {"amount": amount, "id": debit_account_id,
                                        "unit": unit}).first() is None:
        raise _refusal(session, debit_account_id, unit, -amount)
    if session.execute(_RESERVE_CREDIT, {"amount": amount, "id": credit_account_id,
                                         "unit": unit}).first() is None:
        raise _refusal(session, credit_account_id, unit, amount)
    return session.execute(_INSERT_HOLD, {
        "unit": unit, "debit_account_id": debit_account_id,
        "credit_account_id": credit_account_id, "amount": amount,
        "status": HoldStatus.PENDING, "created_at": now,
        "expires_at": now + timedelta(seconds=ttl_s), "memo": memo, "source": source,
        "source_ref": source_ref, "details": details or {},
    }).scalar_one()


def _claim(session: Session, hold_id: int, status: str, now: datetime):
    row = session.execute(_CLAIM, {"status": str(status), "now": now, "id": hold_id}).first()
    if row is None:
        # Read the status afresh: an object loaded earlier in this session still says
        # "pending" when a concurrent clerk or sweep has just resolved the hold.
        found = session.execute(_STATUS, {"id": hold_id}).first()
        if found is None:
            raise NotFound(f"hold {hold_id} does not exist", code="hold_not_found")
        raise Conflict(f"hold {hold_id} is {found[0]}, not pending", code=f"hold_{found[0]}",
                       hold_status=found[0])
    session.execute(_RELEASE_DEBIT, {"amount": row[2], "id": row[0]})
    session.execute(_RELEASE_CREDIT, {"amount": row[2], "id": row[1]})
    return row


def post_hold(session: Session, hold_id: int, *, kind: str = "redeem", memo: str = "",
              actor_id: int | None = None, details: dict | None = None,
              now: datetime | None = None) -> PostedEntry:
    """Turn a pending hold into a journal entry. A hold is honoured even if a deduction since
    took the payer below zero: the amount was reserved when it was there."""
    now = now or utcnow()
    hold = session.get(Hold, hold_id)
    if hold is not None and hold.status == HoldStatus.PENDING and hold.expires_at <= now:
        raise Conflict(f"hold {hold_id} expired at {hold.expires_at.isoformat()}",
                       code="hold_expired")
    debit, credit, amount, unit, source, source_ref = _claim(session, hold_id,
                                                                 HoldStatus.POSTED, now)
    hot = hot_flags(session, [debit, credit])
    entry = post_entry(session, unit=unit, kind=kind, lines=[
        Line.of(debit, -amount, hot=hot.get(debit, False)),
        Line.of(credit, amount, hot=hot.get(credit, False))],
        memo=memo, source=source or "hold", source_ref=source_ref or str(hold_id),
        actor_id=actor_id, details={**(details or {}), "hold_id": hold_id}, now=now,
        neg_ok=True)
    session.execute(text("UPDATE hold SET entry_id = :e WHERE id = :id"),
                    {"e": entry.id, "id": hold_id})
    return entry


def void_hold(session: Session, hold_id: int, *, expired: bool = False,
              now: datetime | None = None) -> dict:
    now = now or utcnow()
    status = HoldStatus.EXPIRED if expired else HoldStatus.VOIDED
    _debit, _credit, amount, *_ = _claim(session, hold_id, status, now)
    return {"hold_id": hold_id, "status": str(status), "amount": amount}


def expired_hold_ids(session: Session, now: datetime | None = None,
                     limit: int = SWEEP_BATCH) -> list[int]:
    now = now or utcnow()
    return list(session.scalars(select(Hold.id).where(
        Hold.status == HoldStatus.PENDING, Hold.expires_at <= now).order_by(Hold.id).limit(limit)))
