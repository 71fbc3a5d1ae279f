"""Transactions around the journal: idempotency keys, shard retries, and the basic flows
(allocate, award, deduct, transfer, reverse) that every feature posts through."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import DomainError, IdempotencyConflict, InsufficientFunds, InvalidInput
from ledger.journal.accounts import award_accounts, budget_shards, open_account
from ledger.journal.models import Account, HolderType, Purpose, Unit
from ledger.journal.posting import (
    Line,
    PostedEntry,
    ShardsExhausted,
    StaleAccountId,
    canonical_json,
    post_entry,
    shard_key,
    shard_moved,
    shards_available,
)
from ledger.journal.rawdb import Raw, Sql, dumps
from ledger.timeutil import utcnow

# Errors raised by the drivers themselves (the journal's hot statements run on the DBAPI
# connection, so SQLAlchemy does not wrap them).
DRIVER_ERRORS = (psycopg.Error, sqlite3.Error)

MAX_KEY_CHARS = 200
MAX_RETRIES = 10  # deadlocks and serialization failures, retried with a growing random pause
# A chosen budget shard that turned out short: the write moves to another (each such retry
# means another writer drew on the budget meanwhile, so they are bounded by real progress).
MAX_SHARD_RETRIES = 64

WorkFn = Callable[[Session], dict]
# A work may write its idempotency record itself, in a statement it sends anyway (the award
# path does, rules/direct.py): it finds (key, request hash) under KEY_TO_PUT in session.info,
# and sets KEY_PUT_BY_WORK to True (written) or False (the key was taken: `write` rolls back
# and answers with the stored record, as when its own INSERT finds the key taken).
KEY_TO_PUT, KEY_PUT_BY_WORK = "idempotency_key_to_put", "idempotency_key_put_by_work"

_KEY_GET = Sql.of("SELECT request_hash, result FROM idempotency_record WHERE key = :key")
_KEY_PUT = Sql.of(
    "INSERT INTO idempotency_record (key, request_hash, status, result, created_at) "
    "VALUES (:key, :hash, 200, :result, :now) ON CONFLICT (key) DO NOTHING RETURNING key",
    "INSERT INTO idempotency_record (key, request_hash, status, result, created_at) "
    "VALUES (:key, :hash, 200, CAST(:result AS json), CAST(:now AS timestamp)) "
    "ON CONFLICT (key) DO NOTHING RETURNING key")


def request_hash(request: dict) -> str:
    return hashlib.sha256(canonical_json(request).encode()).hexdigest()


@dataclass
class WriteResult:
    result: dict
    replayed: bool = False


class _KeyTaken(Exception):
    """A concurrent request with the same key committed first; roll back and answer with it."""


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)


def _is_retryable(exc: BaseException) -> bool:
    return _sqlstate(exc) in {"40001", "40P01"}  # serialization failure, deadlock


def _is_integrity(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.IntegrityError) or (_sqlstate(exc) or "").startswith("23")


def write(db: Database, fn: WorkFn, *, key: str | None = None, request: dict | None = None
          ) -> WriteResult:
    """Run `fn` in one transaction. With a key: a retry with the same request returns the first
    result; the same key with another request raises `idempotency_conflict`, applying nothing.
    Only successful results are remembered: a refused request changed nothing and may be retried.
    Deadlocks and serialization failures are retried from the start.

    The key is checked optimistically, after the work: a new key (nearly every request) costs
    one INSERT and no lookup. A key already taken makes that INSERT return nothing, and the work
    is rolled back and the stored result answered; a refusal raised by the work is answered with
    the stored result too when the key turns out to be taken (the refusal may be the first
    request's own effect, e.g. the points it spent).
    """
    _check_key(key)
    rhash = request_hash(request or {}) if key else ""
    try:
        return _attempts(db, fn, key, rhash)
    except IdempotencyConflict:
        raise
    except DomainError:
        if key is not None:
            found = _replay_stored(db, key, rhash, missing_ok=True)
            if found is not None:
                return found
        raise


def _check_key(key: str | None) -> None:
    if key is not None and not 1 <= len(key) <= MAX_KEY_CHARS:
        raise InvalidInput(f"idempotency key must be 1..{MAX_KEY_CHARS} characters",
                           code="idempotency_key_invalid")


def _attempts(db: Database, fn: WorkFn, key: str | None, rhash: str) -> WriteResult:
    hints: dict = {}
    attempt = shard_retries = 0
    while True:
        try:
            with db.transaction() as s:
                s.info["shard_hints"] = hints
                if key is not None:
                    s.info[KEY_TO_PUT] = (key, rhash)
                result = fn(s)
                put = s.info.pop(KEY_PUT_BY_WORK, None)
                if put is False:
                    raise _KeyTaken
                if key is not None and put is None:
                    raw = Raw(s)  # flushes the work's pending ORM changes first
                    if raw.first(_KEY_PUT, {"key": key, "hash": rhash, "result": dumps(result),
                                            "now": raw.time(utcnow())}) is None:
                        raise _KeyTaken
                return WriteResult(result)
        except _KeyTaken:
            return _replay_stored(db, key, rhash)
        except ShardsExhausted as exc:
            shard_retries += 1
            if shard_retries > MAX_SHARD_RETRIES:
                raise AssertionError("budget shard retries exhausted") from exc
            try:
                prepare_shards(db, exc.line, hints)
            except (DBAPIError, *DRIVER_ERRORS) as again:
                if not _is_retryable(again):
                    raise
        except StaleAccountId:
            attempt += 1
            if attempt >= MAX_RETRIES:
                raise
            # the ids were forgotten: the next attempt looks them up afresh
        except (DBAPIError, *DRIVER_ERRORS) as exc:
            if key is not None and _is_integrity(exc):
                found = _replay_stored(db, key, rhash, missing_ok=True)
                if found is not None:  # a concurrent request with the same key won the race
                    return found
                raise
            attempt += 1
            if not _is_retryable(exc) or attempt >= MAX_RETRIES:
                raise
            time.sleep(random.uniform(0.001, 0.004) * attempt)


def prepare_shards(db: Database, line: Line, hints: dict) -> None:
    """Before a write retries a sharded line, find a shard that can cover it, in a transaction
    of its own (holding no other lock, so it cannot deadlock): the one with the most available;
    if none alone can, lock all the shards in id order and, if together they can, move the
    budget into the best one (a `rebalance` entry). Otherwise the budget is exhausted."""
    need = -line.amount
    with db.transaction() as s:
        raw = Raw(s)
        avail = shards_available(raw, line.accounts)
        best = max(line.accounts, key=lambda a: avail.get(a, 0))
        if avail.get(best, 0) < need:
            avail = shards_available(raw, line.accounts, lock=True)
            best = max(line.accounts, key=lambda a: avail.get(a, 0))
        if avail.get(best, 0) < need:
            total = sum(v for v in avail.values() if v > 0)
            if total < need:
                raise InsufficientFunds(f"the budget has {total} available, needs {need}",
                                        code="budget_exhausted", available=total)
            moved = [(a, v) for a, v in avail.items() if a != best and v > 0]
            post_entry(s, unit=_unit_of(raw, best), kind="rebalance", source="rebalance",
                       memo="budget shards consolidated",
                       lines=[Line.of(a, -v, hot=True) for a, v in moved]
                       + [Line.of(best, sum(v for _, v in moved), hot=True)])
    hints[shard_key(line.accounts)] = line.accounts.index(best)
    shard_moved(line.accounts, hints[shard_key(line.accounts)])


_UNIT_OF = Sql.of("SELECT unit FROM account WHERE id = :id")


def _unit_of(raw: Raw, account_id: int) -> str:
    return raw.first(_UNIT_OF, {"id": account_id})[0]


def _replay_stored(db: Database, key: str, rhash: str, missing_ok: bool = False
                   ) -> WriteResult | None:
    with db.transaction() as s:
        raw = Raw(s)
        rec = raw.first(_KEY_GET, {"key": key})
    if rec is None:
        if missing_ok:
            return None
        raise AssertionError(f"idempotency record {key!r} vanished")
    return _replay(rec[0], raw.json_out(rec[1]), rhash, key)


def _replay(stored_hash: str, result: dict, rhash: str, key: str) -> WriteResult:
    if stored_hash != rhash:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was used for a different request", key=key)
    return WriteResult(result, replayed=True)


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
    points, budget = award_accounts(s, holder_type=holder_type, holder_id=holder_id,
                                    village_id=village_id, shards=shards, unit=unit)
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
    points, budget = award_accounts(s, holder_type=holder_type, holder_id=holder_id,
                                    village_id=village_id, shards=shards, unit=unit)
    return post_entry(s, unit=unit, kind="deduct", lines=[
        Line.of(points, -amount), Line(budget, amount, hot=True)],
        memo=memo, source=source, source_ref=source_ref, actor_id=actor_id,
        details=details, now=now)


def write_award(db: Database, *, key: str | None, request: dict, deduction: bool = False,
                **kw) -> WriteResult:
    """`write` of one `award` (or, with `deduction`, one `deduct`) and nothing else: an admin's
    adjustment, an opening grant."""
    flow = deduct if deduction else award
    return write(db, lambda s: flow(s, **kw).as_dict(), key=key, request=request)


def village_budget_available(s: Session, village_id: int, unit: str = Unit.POINTS) -> int:
    """What a village can still award: the sum over its budget shards."""
    return int(s.scalar(select(func.coalesce(func.sum(Account.balance - Account.pending_out), 0))
                        .where(Account.holder_type == HolderType.VILLAGE,
                               Account.holder_id == village_id,
                               Account.purpose == Purpose.BUDGET, Account.unit == unit)))
