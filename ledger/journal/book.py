"""Transactions around the journal: idempotency keys, shard retries, and the basic flows
(allocate, award, deduct, transfer, reverse) that every feature posts through."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import IdempotencyConflict, InsufficientFunds, InvalidInput
from ledger.journal.accounts import budget_shards, open_account
from ledger.journal.models import Account, HolderType, IdempotencyRecord, Purpose, Unit
from ledger.journal.posting import Line, PostedEntry, ShardsExhausted, canonical_json, post_entry
from ledger.timeutil import utcnow

MAX_KEY_CHARS = 200
MAX_RETRIES = 5

WorkFn = Callable[[Session], dict]


def request_hash(request: dict) -> str:
    return hashlib.sha256(canonical_json(request).encode()).hexdigest()


@dataclass
class WriteResult:
    result: dict
    replayed: bool = False


def _is_retryable(exc: DBAPIError) -> bool:
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in {"40001", "40P01"}  # serialization failure, deadlock


_SHARD_AVAILABLE = text(
    "SELECT id, balance - pending_out FROM account WHERE id IN :ids ORDER BY id"
).bindparams(bindparam("ids", expanding=True))


def _prepare_shards(db: Database, exc: ShardsExhausted, hints: dict) -> None:
    """Find a shard that can cover the line; if none alone can but together they can, move the
    budget into one shard first (a `rebalance` entry). Otherwise the budget is exhausted."""
    need = -exc.line.amount
    shards = exc.line.accounts
    with db.transaction() as s:
        avail = dict(s.execute(_SHARD_AVAILABLE, {"ids": list(shards)}).all())
        best = max(shards, key=lambda a: avail.get(a, 0))
        if avail.get(best, 0) >= need:
            hints[shards] = shards.index(best)
            return
        total = sum(v for v in avail.values() if v > 0)
        if total < need:
            raise InsufficientFunds(f"the budget has {total} available, needs {need}",
                                    code="budget_exhausted", available=total)
        lines = [Line.of(a, -v, hot=True) for a, v in avail.items() if a != best and v > 0]
        lines.append(Line.of(best, sum(v for a, v in avail.items() if a != best and v > 0),
                             hot=True))
        post_entry(s, unit=s.execute(text("SELECT unit FROM account WHERE id = :i"),
                                     {"i": best}).scalar_one(),
                   kind="rebalance", lines=lines, memo="budget shards consolidated",
                   source="rebalance")
        hints[shards] = shards.index(best)


def write(db: Database, fn: WorkFn, *, key: str | None = None, request: dict | None = None
          ) -> WriteResult:
    """Run `fn` in one transaction. With a key: a retry with the same request returns the first
    result; the same key with another request raises `idempotency_conflict`, applying nothing.
    Only successful results are remembered: a refused request changed nothing and may be retried.
    """
    if key is not None and not 1 <= len(key) <= MAX_KEY_CHARS:
        raise InvalidInput(f"idempotency key must be 1..{MAX_KEY_CHARS} characters",
                           code="idempotency_key_invalid")
    rhash = request_hash(request or {}) if key else ""
    hints: dict = {}
    for attempt in range(MAX_RETRIES):
        try:
            with db.transaction() as s:
                if key is not None:
                    rec = s.get(IdempotencyRecord, key)
                    if rec is not None:
                        return _replay(rec, rhash, key)
                s.info["shard_hints"] = hints
                result = fn(s)
                if key is not None:
                    s.add(IdempotencyRecord(key=key, request_hash=rhash, result=result,
                                            created_at=utcnow()))
                    s.flush()
                return WriteResult(result)
        except ShardsExhausted as exc:
            _prepare_shards(db, exc, hints)
        except IntegrityError:
            if key is None:
                raise
            with db.transaction() as s:  # a concurrent request with the same key won the race
                rec = s.get(IdempotencyRecord, key)
            if rec is None:
                raise
            return _replay(rec, rhash, key)
        except DBAPIError as exc:
            if not _is_retryable(exc) or attempt == MAX_RETRIES - 1:
                raise
            time.sleep(0.005 * (attempt + 1))
    raise RuntimeError("write retries exhausted")


def _replay(rec: IdempotencyRecord, rhash: str, key: str) -> WriteResult:
    if rec.request_hash != rhash:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was used for a different request", key=key)
    return WriteResult(rec.result, replayed=True)


# ---------------------------------------------------------------------------------------------
# Flows. Each takes a session and returns the posted entry; callers wrap them in `write`.


def allocate(s: Session, *, town_id: int, village_id: int, amount: int, shards: int,
             unit: str = Unit.POINTS, actor_id: int | None = None, memo: str = "",
             now: datetime | None = None) -> PostedEntry:
    """Move points from the town's funding to a village budget, spread over its shards."""
    if amount <= 0:
        raise InvalidInput("an allocation must be positive", code="amount_out_of_range")
    funding = open_account(s, holder_type=HolderType.TOWN, holder_id=town_id,
                           purpose=Purpose.FUNDING, unit=unit)
    parts = budget_shards(s, village_id, shards, unit)
    share, rest = divmod(amount, len(parts))
    lines = [Line.of(funding, -amount, hot=True)]
    lines += [Line.of(a, share + (rest if i == 0 else 0), hot=True)
              for i, a in enumerate(parts) if share + (rest if i == 0 else 0)]
    return post_entry(s, unit=unit, kind="allocate", lines=lines, actor_id=actor_id,
                      memo=memo or "budget allocation", source="allocation",
                      source_ref=str(village_id), now=now)


def award(s: Session, *, village_id: int, holder_type: str, holder_id: int, amount: int,
          shards: int, unit: str = Unit.POINTS, kind: str = "award", memo: str = "",
          source: str = "", source_ref: str = "", actor_id: int | None = None,
          details: dict | None = None, now: datetime | None = None) -> PostedEntry:
    """Budget → holder's points. Fails with `budget_exhausted` when the village budget is spent."""
    if amount <= 0:
        raise InvalidInput("an award must be positive", code="amount_out_of_range")
    points = open_account(s, holder_type=holder_type, holder_id=holder_id,
                          purpose=Purpose.POINTS, unit=unit)
    budget = budget_shards(s, village_id, shards, unit)
    return post_entry(s, unit=unit, kind=kind, lines=[
        Line.of(points, amount), Line(budget, -amount, hot=True)],
        memo=memo, source=source, source_ref=source_ref, actor_id=actor_id,
        details=details, now=now)


def deduct(s: Session, *, village_id: int, holder_type: str, holder_id: int, amount: int,
           shards: int, unit: str = Unit.POINTS, memo: str = "", source: str = "",
           source_ref: str = "", actor_id: int | None = None, details: dict | None = None,
           now: datetime | None = None) -> PostedEntry:
    """Holder's points → budget. May take the holder below zero (a deduction is not spending)."""
    if amount <= 0:
        raise InvalidInput("a deduction must be positive", code="amount_out_of_range")
    points = open_account(s, holder_type=holder_type, holder_id=holder_id,
                          purpose=Purpose.POINTS, unit=unit)
    budget = budget_shards(s, village_id, shards, unit)
    return post_entry(s, unit=unit, kind="deduct", lines=[
        Line.of(points, -amount), Line(budget, amount, hot=True)],
        memo=memo, source=source, source_ref=source_ref, actor_id=actor_id,
        details=details, now=now)


def village_budget_available(s: Session, village_id: int, unit: str = Unit.POINTS) -> int:
    """What a village can still award: the sum over its budget shards."""
    return int(s.scalar(select(func.coalesce(func.sum(Account.balance - Account.pending_out), 0))
                        .where(Account.holder_type == HolderType.VILLAGE,
                               Account.holder_id == village_id,
                               Account.purpose == Purpose.BUDGET, Account.unit == unit)))
