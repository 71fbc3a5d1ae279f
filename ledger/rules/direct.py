"""The award path's statements, built once and sent on the session's DBAPI connection.

An award posted at once (a check-out's points, an inspector's finding, an admin's award) is,
on PostgreSQL, BEGIN and five statements (the idempotency key among them) and COMMIT:

1. `prepare`: the holder, their household and village, the village's budget available, the
   stamp of the catalogs (the highest catalog version id) and, on PostgreSQL, the award's id
   from its sequence, in one statement. The parsed catalog comes from memory when the stamp
   is the one this process last read (`store.versions_at`): a version published by any
   process changes the stamp, and the next award reads the versions afresh.
2. `lock_counters`: the award's counters, created if missing and locked, in one fixed order,
   with their usage (one upsert that returns the rows).
3. The posting itself (`journal.posting.post_entry`: one statement on PostgreSQL).
4. `insert_award`: the award record and its counters' new usage (one statement on
   PostgreSQL: data-modifying CTEs).
5. The idempotency record (`journal.book.write`).

Account ids come from the process's memory (`journal.accounts`), as for every posting. The
decision between the reads and the writes is the engine's (`engine.evaluate`), taken on the
counters as locked, exactly as the general path takes it (`service.finish`), which remains for
everything that is not posted at once (claims, reviews, public notice, sanctions, a second
confirmation, awards that book service minutes, teams).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import JSON, BigInteger, Integer, SmallInteger
from sqlalchemy.orm import Session

from ledger.errors import NotFound
from ledger.journal.models import HolderType, Purpose, Unit
from ledger.journal.rawdb import Raw, Sql, dumps
from ledger.rules import spec as S
from ledger.rules import store
from ledger.rules.holders import (
    actor_from,
    context_tags,
    default_channel,
    holder_arg,
    make_inputs,
    resolve_actor,
)
from ledger.rules.models import AwardRecord
from ledger.rules.periods import local_date
from ledger.rules.types import Actor, CounterKey, Holder, Inputs, Usage
from ledger.timeutil import UTCDateTime

_BUDGET = ("(SELECT COALESCE(SUM(a.balance - a.pending_out), 0) FROM account a "
           "WHERE a.holder_type = :vt AND a.holder_id = v.id AND a.purpose = :pu "
           "AND a.unit = :un)")
# The award's id before its entry is built (the entry's details name it): from the sequence on
# PostgreSQL; on SQLite, whose one writer at a time holds the database, the next rowid.
_NEXT_ID = {"pg": "nextval(pg_get_serial_sequence('rule_award', 'id'))",
            "sqlite": "(SELECT COALESCE(MAX(id), 0) + 1 FROM rule_award)"}
_FROM = {HolderType.PERSON: ("x.household_id", "person x"),
         HolderType.HOUSEHOLD: ("x.id", "household x")}


def _holder_sql(holder_type: str) -> Sql:
    household, table = _FROM[holder_type]
    text = (f"SELECT v.id, {household}, v.name, {store.CATALOG_STAMP_SQL}, {_BUDGET}, {{next}} "
            f"FROM {table} JOIN village v ON v.id = x.village_id WHERE x.id = :hid")
    return Sql.of(text.format(next=_NEXT_ID["sqlite"]), text.format(next=_NEXT_ID["pg"]))


_HOLDER = {t: _holder_sql(t) for t in _FROM}


@dataclass
class Prepared:
    catalog: S.Catalog
    item: S.Item
    holder: Holder
    actor: Actor
    confirmer: Actor | None
    inputs: Inputs
    budget_available: int  # the holder's village, points
    award_id: int  # the id the award record will have if it is posted at once


def prepare(s: Session, *, item_code: str, holder, recorder, context, catalog: str | None,
            confirmer: Actor | None, now) -> Prepared | None:
    """What `service._prepare` finds, read in one statement; None for a team (whose village
    may come from the context: the general path resolves it)."""
    h_type, h_id = holder_arg(holder)
    if h_type not in _HOLDER:
        return None
    ctx = context if isinstance(context, dict) else {}
    tags = context_tags(ctx)
    raw = Raw(s)
    row = raw.first(_HOLDER[h_type], {"hid": h_id, "vt": str(HolderType.VILLAGE),
                                      "pu": str(Purpose.BUDGET), "un": str(Unit.POINTS)})
    if row is None:
        raise NotFound(f"{h_type} {h_id} does not exist", code="holder_not_found")
    village_id, household_id, village_name, stamp, budget, award_id = row
    h = Holder(h_type, h_id, village_id, village_name, household_id, frozenset(tags))
    channel = ctx.get("channel") or (default_channel(recorder, h.village_id)
                                     if isinstance(recorder, Actor) else "organizer")
    actor = resolve_actor(s, actor_from(recorder, channel, h.village_id))
    conf = resolve_actor(s, confirmer) if confirmer is not None else None
    inp = make_inputs(context, channel=channel, now=now)
    c, item = store.find_item(s, item_code, on=local_date(inp.occurred_at),
                              village_name=h.village_name, catalog_code=catalog,
                              rows=store.versions_at(s, stamp))
    return Prepared(c, item, h, actor, conf, inp, int(budget), int(award_id))


_COUNTER_COLS = "holder_type, holder_id, scope, period, award_steps, deduct_steps, times, minutes"


@lru_cache(maxsize=32)
def _lock_sql(n: int) -> Sql:
    def values(pg: bool) -> str:
        hid = "CAST(:i{k} AS bigint)" if pg else ":i{k}"
        return ", ".join(f"(:t{{k}}, {hid}, :s{{k}}, :p{{k}}, 0, 0, 0, 0)".format(k=k)
                         for k in range(n))
    text = (f"INSERT INTO rule_counter ({_COUNTER_COLS}) VALUES {{values}} "
            "ON CONFLICT (holder_type, holder_id, scope, period) DO UPDATE SET "
            f"times = rule_counter.times RETURNING {_COUNTER_COLS}")
    return Sql.of(text.format(values=values(False)), text.format(values=values(True)))


def lock_counters(s: Session, keys) -> dict[CounterKey, Usage]:
    """The counters' rows, created if missing and locked (PostgreSQL: the upsert's row locks,
    taken in the keys' order, as `counters.lock` takes them; SQLite has one writer at a time),
    with their usage. One statement."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    params = {}
    for k, key in enumerate(keys):
        params.update({f"t{k}": key.holder_type, f"i{k}": key.holder_id, f"s{k}": key.scope,
                       f"p{k}": key.period})
    return {CounterKey(r[0], r[1], r[2], r[3]): Usage(r[4], r[5], r[6], r[7])
            for r in Raw(s).all(_lock_sql(len(keys)), params)}


def _pg_cast(column) -> str:
    t = column.type
    if isinstance(t, JSON):
        return "json"
    if isinstance(t, UTCDateTime):
        return "timestamp"
    if isinstance(t, SmallInteger):
        return "smallint"
    if isinstance(t, BigInteger) or column.primary_key:
        return "bigint"
    if isinstance(t, Integer):
        return "integer"
    return "varchar"


_AWARD_COLUMNS = [c for c in AwardRecord.__table__.columns]
_AWARD_NAMES = [c.name for c in _AWARD_COLUMNS]
_JSON = {c.name for c in _AWARD_COLUMNS if isinstance(c.type, JSON)}
_TIMES = {c.name for c in _AWARD_COLUMNS if isinstance(c.type, UTCDateTime)}
_INSERT_AWARD = (f"INSERT INTO rule_award ({', '.join(_AWARD_NAMES)}) VALUES "
                 + "({values})")
_ADD_SQLITE = Sql.of(
    "UPDATE rule_counter SET award_steps = award_steps + :a, deduct_steps = deduct_steps + :d, "
    "times = times + :t, minutes = minutes + :m WHERE holder_type = :ht AND holder_id = :hid "
    "AND scope = :sc AND period = :pe")


@lru_cache(maxsize=32)
def _pg_insert_award(n: int) -> Sql:
    """The award record and its n counters' new usage, as one statement."""
    values = ", ".join(f"CAST(:{c.name} AS {_pg_cast(c)})" for c in _AWARD_COLUMNS)
    text = f"WITH w AS ({_INSERT_AWARD.format(values=values)} RETURNING id)"
    if n:
        rows = ", ".join(
            f"(CAST(:ht{k} AS varchar), CAST(:hid{k} AS bigint), CAST(:sc{k} AS varchar), "
            f"CAST(:pe{k} AS varchar), CAST(:a{k} AS bigint), CAST(:d{k} AS bigint), "
            f"CAST(:t{k} AS bigint), CAST(:m{k} AS bigint))" for k in range(n))
        text += (", c AS (UPDATE rule_counter r SET award_steps = r.award_steps + d.a, "
                 "deduct_steps = r.deduct_steps + d.dd, times = r.times + d.t, "
                 "minutes = r.minutes + d.m "
                 f"FROM (VALUES {rows}) AS d(ht, hid, sc, pe, a, dd, t, m) "
                 "WHERE r.holder_type = d.ht AND r.holder_id = d.hid AND r.scope = d.sc "
                 "AND r.period = d.pe RETURNING 1) "
                 "SELECT (SELECT id FROM w), (SELECT count(*) FROM c)")
    else:
        text += " SELECT (SELECT id FROM w), 0"
    return Sql.of(text, text)


_SQLITE_INSERT_AWARD = Sql.of(_INSERT_AWARD.format(
    values=", ".join(f":{n}" for n in _AWARD_NAMES)) + " RETURNING id")


def insert_award(s: Session, cols: dict, deltas: list[tuple[CounterKey, Usage]]) -> int:
    """Write the award record (`cols`: every column of AwardRecord) and add `deltas` to its
    counters, locked by `lock_counters` in this transaction. Returns the award's id."""
    raw = Raw(s)
    summed: dict[CounterKey, Usage] = {}
    for k, u in deltas:
        got = summed.setdefault(k, Usage())
        got.award_steps += u.award_steps
        got.deduct_steps += u.deduct_steps
        got.times += u.times
        got.minutes += u.minutes
    params = {n: (dumps(cols[n]) if n in _JSON else raw.time(cols[n])
                  if n in _TIMES and cols[n] is not None else cols[n]) for n in _AWARD_NAMES}
    rows = sorted(summed.items())
    if raw.pg:
        for k, (key, u) in enumerate(rows):
            params.update({f"ht{k}": key.holder_type, f"hid{k}": key.holder_id,
                           f"sc{k}": key.scope, f"pe{k}": key.period, f"a{k}": u.award_steps,
                           f"d{k}": u.deduct_steps, f"t{k}": u.times, f"m{k}": u.minutes})
        award_id, changed = raw.first(_pg_insert_award(len(rows)), params)
        if changed != len(rows):
            raise AssertionError(f"award {award_id}: {changed} of {len(rows)} counters found")
        return award_id
    award_id = raw.first(_SQLITE_INSERT_AWARD, params)[0]
    raw.cur.executemany(_ADD_SQLITE.sqlite, [
        {"ht": key.holder_type, "hid": key.holder_id, "sc": key.scope, "pe": key.period,
         "a": u.award_steps, "d": u.deduct_steps, "t": u.times, "m": u.minutes}
        for key, u in rows])
    return award_id


__all__ = ["Prepared", "insert_award", "lock_counters", "prepare"]
