"""The per-holder, per-scope, per-period counters behind caps and once-per-period items.

Race safety: an award first makes sure its counter rows exist (insert, ignoring conflicts),
then locks them with SELECT … FOR UPDATE in one fixed order (holder type, holder, scope,
period) before it evaluates; a second award on the same counters waits for the first to commit
and then sees its usage. Counters are always locked before any ledger account, so the two
kinds of locks never wait on each other in opposite orders. SQLite runs one writer at a time
(BEGIN IMMEDIATE), which gives the same guarantee."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ledger.rules.models import RuleCounter
from ledger.rules.types import CounterKey, Usage

_COLS = (RuleCounter.holder_type, RuleCounter.holder_id, RuleCounter.scope, RuleCounter.period)


def _rows(s: Session, keys: list[CounterKey], lock: bool) -> dict[CounterKey, Usage]:
    if not keys:
        return {}
    q = (select(RuleCounter).where(tuple_(*_COLS).in_([tuple(k) for k in keys]))
         .order_by(*_COLS))
    if lock:
        q = q.with_for_update()
    return {CounterKey(r.holder_type, r.holder_id, r.scope, r.period):
            Usage(r.award_steps, r.deduct_steps, r.times, r.minutes)
            for r in s.scalars(q)}


def read(s: Session, keys: Iterable[CounterKey]) -> dict[CounterKey, Usage]:
    """Current usage without locks (previews, pre-checks)."""
    return _rows(s, sorted(set(keys)), lock=False)


def lock(s: Session, keys: Iterable[CounterKey]) -> dict[CounterKey, Usage]:
    """Create the rows if needed and lock them, in a fixed order; returns their usage."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    ins = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    s.execute(ins(RuleCounter).values([
        {"holder_type": k.holder_type, "holder_id": k.holder_id, "scope": k.scope,
         "period": k.period, "award_steps": 0, "deduct_steps": 0, "times": 0, "minutes": 0}
        for k in keys]).on_conflict_do_nothing())
    return _rows(s, keys, lock=True)


_ADD = (update(RuleCounter).where(
    RuleCounter.holder_type == bindparam("k_type"), RuleCounter.holder_id == bindparam("k_id"),
    RuleCounter.scope == bindparam("k_scope"), RuleCounter.period == bindparam("k_period"))
    .values(award_steps=RuleCounter.award_steps + bindparam("d_award"),
            deduct_steps=RuleCounter.deduct_steps + bindparam("d_deduct"),
            times=RuleCounter.times + bindparam("d_times"),
            minutes=RuleCounter.minutes + bindparam("d_minutes"))
    .execution_options(synchronize_session=False))


def apply(s: Session, deltas: Iterable[tuple[CounterKey, Usage]], sign: int = 1) -> None:
    """Add (sign=1) or give back (sign=-1) usage, in one batch; the rows are already locked
    (or at least exist)."""
    rows = [{"k_type": k.holder_type, "k_id": k.holder_id, "k_scope": k.scope,
             "k_period": k.period, "d_award": sign * u.award_steps,
             "d_deduct": sign * u.deduct_steps, "d_times": sign * u.times,
             "d_minutes": sign * u.minutes} for k, u in sorted(deltas, key=lambda d: d[0])]
    if rows:
        s.connection().execute(_ADD, rows)


def encode(deltas: Iterable[tuple[CounterKey, Usage]]) -> list[list]:
    return [[*k, u.award_steps, u.deduct_steps, u.times, u.minutes] for k, u in deltas]


def decode(rows: list[list]) -> list[tuple[CounterKey, Usage]]:
    return [(CounterKey(r[0], r[1], r[2], r[3]), Usage(r[4], r[5], r[6], r[7])) for r in rows]
