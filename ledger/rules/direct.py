"""The award path's statements, built once and sent on the session's DBAPI connection.

An award posted at once (a check-out's points, an inspector's finding, an admin's award) is,
on PostgreSQL, BEGIN, three statements and COMMIT (two statements for a holder this process has
seen: 1 and 2 are one):

1. `prepare`: the holder, their household and village, the village's budget available, the
   stamp of the catalogs (the highest catalog version id) and the award's id (PostgreSQL: from
   its sequence), in one statement. The parsed catalog comes from memory when the stamp is the
   one this process last read (`store.versions_at`): a version published by any process
   changes the stamp, and the next award reads the versions afresh.
2. `lock_counters`: the award's counters, created if missing and locked, in one fixed order,
   with their usage (one upsert that returns the rows). On PostgreSQL, for a holder this
   process has seen, they are predicted and upserted in the read's own statement (_BASIS), so
   a warm award is BEGIN and the read (one round trip), the posting, COMMIT.
3. `post`: the entry (`journal.posting.post_entry_with`) and, in the same statement on
   PostgreSQL (`journal.apply.PgAlso`), the award record, the counters' new usage and the
   idempotency record that `journal.book.write` would otherwise insert after the work. SQLite
   (one writer, no network) runs the same writes as separate statements.

Account ids come from the process's memory (`journal.accounts`), as for every posting. The
decision between the reads and the writes is the engine's (`engine.evaluate`), taken on the
counters as locked, exactly as the general path takes it (`service.finish`), which remains for
everything that is not posted at once (claims, reviews, public notice, sanctions, a second
confirmation, awards that book service minutes without an attendance, teams).

Over 400 lines: the three statements, their parameters and their SQLite twins are one path,
read together (the read's columns, the counters' rows and the record's columns pair up).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from weakref import WeakKeyDictionary

from sqlalchemy import JSON
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ledger.errors import NotFound
from ledger.identity.actor import Actor
from ledger.journal.accounts import remember_accounts
from ledger.journal.apply import PgAlso
from ledger.journal.book import KEY_PUT_BY_WORK, KEY_TO_PUT
from ledger.journal.models import HolderType, Purpose, Unit
from ledger.journal.posting import Line, post_entry, post_entry_with
from ledger.journal.rawdb import KEYED_PLANS, Raw, Sql, dumps, pg_array
from ledger.rules import engine as E
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
from ledger.rules.types import CounterKey, Holder, Inputs, Usage
from ledger.timeutil import UTCDateTime, utcnow

_BUDGET = ("(SELECT COALESCE(SUM(a.balance - a.pending_out), 0) FROM account a "
           "WHERE a.holder_type = :vt AND a.holder_id = v.id AND a.purpose = :pu "
           "AND a.unit = :un)")
# The award's id before its entry is built (the entry's details name it): from the sequence on
# PostgreSQL; on SQLite, whose one writer at a time holds the database, the next rowid.
_NEXT_ID = {"pg": "nextval(pg_get_serial_sequence('rule_award', 'id'))",
            "sqlite": "(SELECT COALESCE(MAX(id), 0) + 1 FROM rule_award)"}
_FROM = {HolderType.PERSON: ("x.household_id", "person x"),
         HolderType.HOUSEHOLD: ("x.id", "household x")}


# PostgreSQL: the award's transaction runs its prepared statements on generic plans. Planned
# afresh for its parameters on every award (a custom plan, which PostgreSQL's `auto` mode kept
# choosing for the entry's long statement), the award cost about 0.9 ms more server CPU (2.3
# against 1.4 ms, one writer: docs/ledger.md, "Late evening"); every statement of the path
# reaches its rows by primary or unique key, so one plan fits all parameters: index probes and
# nested loops, never a whole table (a generic plan is kept for the connection's life; made
# while `rule_counter` and `journal_entry` were small, the counters' update and each posting's
# foreign key check scanned them whole on every award: docs/ledger.md, "Morning of 2026-12-07
# (second)"). Set by the read itself (transaction-local, no statement of its own), so only
# this transaction is affected (tests/test_rules_plans.py).
_GENERIC_PLANS = f"set_config('plan_cache_mode', 'force_generic_plan', true) || {KEYED_PLANS}"


# The accounts an award may post to, besides the village's: (holder, purpose) as the holder's
# row names them. A person's deed is held or counted by the person and its household
# (rules/wallets.py); a household's by the household.
_ACCOUNTS = {HolderType.PERSON: (("person", "x.id", Purpose.POINTS),
                                 ("person", "x.id", Purpose.SCORE),
                                 ("household", "x.household_id", Purpose.POINTS),
                                 ("household", "x.household_id", Purpose.SCORE)),
             HolderType.HOUSEHOLD: (("household", "x.id", Purpose.POINTS),
                                    ("household", "x.id", Purpose.SCORE))}


def _holder_sql(holder_type: str, budget: bool, accounts: bool) -> Sql:
    return Sql.of(*(_holder_text(holder_type, budget, accounts, pg) for pg in (False, True)))


def _holder_text(holder_type: str, budget: bool, accounts: bool, pg: bool) -> str:
    household, table = _FROM[holder_type]
    ids = "".join(
        f", (SELECT a.id FROM account a WHERE a.unit = '{Unit.POINTS}' AND a.holder_type = "
        f"'{ht}' AND a.holder_id = {hid} AND a.purpose = '{pu}' AND a.shard = 0)"
        for ht, hid, pu in _ACCOUNTS[holder_type]) if accounts else ""
    text = (f"SELECT v.id, {household}, v.name, {store.CATALOG_STAMP_SQL}, "
            f"{_BUDGET if budget else 'NULL'}{ids}, {{next}} "
            f"FROM {table} JOIN village v ON v.id = x.village_id WHERE x.id = :hid")
    return text.format(next=f"{_NEXT_ID['pg']}, {_GENERIC_PLANS}" if pg
                       else _NEXT_ID["sqlite"])


# (holder type, whether the village's budget available is read, whether the holder's account
# ids are read) -> the read. An award does not read the budget (it would visit the budget
# shards, the village's hottest rows, on every award): the shard's guarded UPDATE refuses an
# overdraft and `book.write` finds whether the whole budget can pay; only when it cannot does
# `service.record_award` decide again with the budget read, so that the refusal is the
# engine's, with its explanation. The account ids are read for a holder this process has not
# seen (see _BASIS): each would otherwise be looked up by a statement of its own
# (`accounts.open_account`), three more round trips for a person's first award here.
_HOLDER = {(t, b, a): _holder_sql(t, b, a) for t in _FROM for b in (False, True)
           for a in (False, True)}


@dataclass
class Prepared:
    catalog: S.Catalog
    item: S.Item
    holder: Holder
    actor: Actor
    confirmer: Actor | None
    inputs: Inputs
    budget_available: int | None  # the holder's village, points; None: not read (see _HOLDER)
    award_id: int  # the id the award record will have if it is posted at once
    counter_keys: list[CounterKey] | None = None  # locked ahead (sorted), when the guess held


# What `prepare` last read of a holder (village id, household id, village name, catalog stamp),
# per engine: the next award of the same holder predicts its counters from it and locks them in
# the statement that reads (PostgreSQL: `_read_and_lock_sql`, piped with BEGIN: one round trip).
# The read then tells whether the prediction held; when it did not (the holder moved, a catalog
# was published) the right counters are locked by `lock_counters` as without it. A holder not
# seen yet has its account ids read with it (see _HOLDER).
_BASIS: WeakKeyDictionary = WeakKeyDictionary()
BASIS_CACHE_SIZE = 200_000
_LOCKED = "direct_counters_locked"  # session.info: (transaction, keys, usage, ids) locked ahead
_IDS = "direct_counter_ids"  # session.info: (transaction, {key: id}) of the counters locked


def _derive(s: Session, basis: tuple, *, h_type: str, h_id: int, tags, ctx: dict, recorder,
            context, item_code: str, catalog: str | None, now, rows=None):
    """The holder, inputs, catalog and item an award reads, from what the holder's row gave."""
    village_id, household_id, village_name, stamp = basis
    h = Holder(h_type, h_id, village_id, village_name, household_id, frozenset(tags))
    channel = ctx.get("channel") or (default_channel(recorder, h.village_id)
                                     if isinstance(recorder, Actor) else "organizer")
    inp = make_inputs(context, channel=channel, now=now)
    c, item = store.find_item(s, item_code, on=local_date(inp.occurred_at),
                              village_name=h.village_name, catalog_code=catalog,
                              rows=rows if rows is not None else store.versions_at(s, stamp))
    return h, channel, inp, c, item


def _predicted(s: Session, basis: tuple, **kw) -> tuple[list[CounterKey], tuple] | None:
    """The counters an award posted at once will lock if `basis` still holds, and what
    `_derive` gave for it; None when it would not lock them at once (see
    service.record_award) or cannot be predicted."""
    rows = store.known_versions(s, basis[3])
    if rows is None:  # a catalog was published since: no guess (reading them is no guess)
        return None
    try:
        derived = _derive(s, basis, rows=rows, **kw)
    except Exception:  # noqa: BLE001 - the real read raises it again, in order
        return None
    h, _, inp, c, item = derived
    if E.waits_for_approval(item, inp) or item.sanction:
        return None
    keys = sorted(set(E.counter_keys(c, item.code, h, inp)))
    return (keys, derived) if keys else None


def prepare(s: Session, *, item_code: str, holder, recorder, context, catalog: str | None,
            confirmer: Actor | None, now, read_budget: bool = False) -> Prepared | None:
    """What `service._prepare` finds, read in one statement; None for a team (whose village
    may come from the context: the general path resolves it). The budget available only with
    `read_budget` (see _HOLDER). On PostgreSQL, a holder seen before has its counters locked
    in the same round trip (see _BASIS)."""
    h_type, h_id = holder_arg(holder)
    if h_type not in _FROM:
        return None
    ctx = context if isinstance(context, dict) else {}
    tags = context_tags(ctx)
    kw = dict(h_type=h_type, h_id=h_id, tags=tags, ctx=ctx, recorder=recorder, context=context,
              item_code=item_code, catalog=catalog, now=now)
    raw = Raw(s)
    params = {"hid": h_id, "vt": str(HolderType.VILLAGE), "pu": str(Purpose.BUDGET),
              "un": str(Unit.POINTS)} if read_budget else {"hid": h_id}
    bind = s.get_bind()
    cache = _BASIS.setdefault(getattr(bind, "engine", bind), {})
    known = cache.get((h_type, h_id))
    read = _HOLDER[(h_type, read_budget, known is None)]
    guess = known if raw.pg else None
    predicted = _predicted(s, guess, **kw) if guess is not None else None
    keys = predicted[0] if predicted is not None else None
    if keys is not None:
        both = _read_and_lock_sql(h_type, read_budget, len(keys))
        with raw.conn.pipeline():
            raw.raw_cur.execute(both.pg_raw, both.values({**params, **_lock_params(keys)}),
                                prepare=True)
        rows = raw.raw_cur.fetchall()
        row = rows[0] if rows else None
        locked = _usage([r[-_COUNTER_N:] for r in rows])
    elif raw.pg:  # BEGIN and the read in one round trip
        with raw.conn.pipeline():
            raw.raw_cur.execute(read.pg_raw, read.values(params), prepare=True)
        row = raw.raw_cur.fetchone()
    else:
        row = raw.first(read, params)
    if row is None:
        raise NotFound(f"{h_type} {h_id} does not exist", code="holder_not_found")
    village_id, household_id, village_name, stamp, budget = row[:5]
    accounts = _ACCOUNTS[h_type] if known is None else ()
    award_id = row[5 + len(accounts)]
    if accounts:  # committed before this transaction wrote anything: remembered
        remember_accounts(s, {(str(Unit.POINTS), ht, h_id if hid == "x.id" else household_id,
                               str(pu), 0): acct
                              for (ht, hid, pu), acct in zip(accounts, row[5:])
                              if acct is not None})
    basis = (village_id, household_id, village_name, stamp)
    held = predicted is not None and basis == guess
    if held:  # the guess was right: its counters are locked, its derivation is this one's
        s.info[_LOCKED] = (s.get_transaction(), tuple(keys), *locked)
    if len(cache) >= BASIS_CACHE_SIZE:
        for old in list(cache)[: BASIS_CACHE_SIZE // 10]:  # drop the oldest tenth
            del cache[old]
    cache[(h_type, h_id)] = basis
    h, channel, inp, c, item = predicted[1] if held else _derive(s, basis, **kw)
    actor = resolve_actor(s, actor_from(recorder, channel, h.village_id))
    conf = resolve_actor(s, confirmer) if confirmer is not None else None
    return Prepared(c, item, h, actor, conf, inp, None if budget is None else int(budget),
                    int(award_id), list(keys) if held else None)


_COUNTER_COLS = "holder_type, holder_id, scope, period, award_steps, deduct_steps, times, minutes"
_COUNTER_N = _COUNTER_COLS.count(",") + 2  # the counter's columns and id ending a combined row


@lru_cache(maxsize=32)
def _lock_sql(n: int) -> Sql:
    return Sql.of(_lock_text(n, False), _lock_text(n, True))


def _lock_text(n: int, pg: bool) -> str:
    hid = "CAST(:i{k} AS bigint)" if pg else ":i{k}"
    values = ", ".join(f"(:t{{k}}, {hid}, :s{{k}}, :p{{k}}, 0, 0, 0, 0)".format(k=k)
                       for k in range(n))
    return (f"INSERT INTO rule_counter ({_COUNTER_COLS}) VALUES {values} "
            "ON CONFLICT (holder_type, holder_id, scope, period) DO UPDATE SET "
            f"times = rule_counter.times RETURNING {_COUNTER_COLS}, id")


@lru_cache(maxsize=64)
def _read_and_lock_sql(holder_type: str, budget: bool, n: int) -> Sql:
    """PostgreSQL, a holder seen before: the read and the upsert of the n counters predicted
    (see _BASIS) as one statement, one row per counter: the read's columns, then the
    counter's. The read is materialized once (it takes the award's id from its sequence)."""
    text = (f"WITH r AS MATERIALIZED ({_holder_text(holder_type, budget, False, True)}), "
            f"c AS ({_lock_text(n, True)}) SELECT r.*, c.* FROM r CROSS JOIN c")
    return Sql.of(text, text)


def _lock_params(keys: list[CounterKey]) -> dict:
    params = {}
    for k, key in enumerate(keys):
        params.update({f"t{k}": key.holder_type, f"i{k}": key.holder_id, f"s{k}": key.scope,
                       f"p{k}": key.period})
    return params


def _usage(rows: list) -> tuple[dict[CounterKey, Usage], dict[CounterKey, int]]:
    """The counters' usage and ids, from the rows the upsert returned."""
    keys = [CounterKey(r[0], r[1], r[2], r[3]) for r in rows]
    return ({k: Usage(r[4], r[5], r[6], r[7]) for k, r in zip(keys, rows)},
            {k: r[8] for k, r in zip(keys, rows)})


def lock_counters(s: Session, keys) -> dict[CounterKey, Usage]:
    """The counters' rows, created if missing and locked (PostgreSQL: the upsert's row locks,
    taken in the keys' order, as `counters.lock` takes them; SQLite has one writer at a time),
    with their usage. One statement, or none when `prepare` locked these very keys ahead."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    txn = s.get_transaction()
    ahead = s.info.pop(_LOCKED, None)
    if ahead is not None and ahead[0] is txn and ahead[1] == tuple(keys):
        usage, ids = ahead[2], ahead[3]
    else:
        usage, ids = _usage(Raw(s).all(_lock_sql(len(keys)), _lock_params(keys)))
    s.info[_IDS] = (txn, ids)  # the posting updates them by id (see post)
    return usage


_AWARD_COLUMNS = [c for c in AwardRecord.__table__.columns]
_AWARD_NAMES = [c.name for c in _AWARD_COLUMNS]
_JSON = {c.name for c in _AWARD_COLUMNS if isinstance(c.type, JSON)}
_TIMES = {c.name for c in _AWARD_COLUMNS if isinstance(c.type, UTCDateTime)}
_ENTRY_COLS = ("entry_id", "entry_ids")
_REC_NAMES = [n for n in _AWARD_NAMES if n not in _ENTRY_COLS]


def _pg_type(name: str) -> str:  # a cast without length: the column checks it on assignment
    return re.sub(r"\(\d+\)", "", AwardRecord.__table__.c[name].type.compile(
        dialect=postgresql.dialect()))


# PostgreSQL: the award record, its counters' new usage and the idempotency record, written in
# the statement that posts its entry (apply.PgAlso), only if the entry is. The record is one
# parameter per column, the answer one JSON text, both completed with the entry's id as text
# (parsed into jsonb, concatenated and written out again, they cost about a tenth of the
# award's server CPU: docs/ledger.md, "Morning of 2026-12-07 (second)"). The counters' deltas
# are one array literal per column (rawdb.pg_array): an `unnest` of arrays the planner takes
# for 10 rows, a JSON array for 100, and hashed those (docs/ledger.md, "Late evening").
_DELTA_NAMES = ("id", "a", "dd", "t", "m")
_PG_ALSO = {
    keyed: PgAlso(
        ctes=(f"w AS (INSERT INTO rule_award ({', '.join(_REC_NAMES)}, entry_id, entry_ids) "
              "SELECT " + ", ".join(f"CAST(:r_{n} AS {_pg_type(n)})" for n in _REC_NAMES)
              + ", e.id, CAST('[' || e.id || ']' AS json) FROM e RETURNING id),\n"
              "c AS (UPDATE rule_counter r SET award_steps = r.award_steps + d.a, "
              "deduct_steps = r.deduct_steps + d.dd, times = r.times + d.t, "
              "minutes = r.minutes + d.m FROM unnest(CAST(:c_id AS bigint[]), "
              "CAST(:c_a AS bigint[]), CAST(:c_dd AS bigint[]), CAST(:c_t AS bigint[]), "
              "CAST(:c_m AS bigint[])) AS d(id, a, dd, t, m) "
              "WHERE r.id = d.id AND EXISTS (SELECT 1 FROM e) RETURNING 1)"
              + (",\nk AS (INSERT INTO idempotency_record (key, request_hash, status, result, "
                 "created_at) SELECT :key, :hash, 200, CAST(:result || e.id || "
                 "',\"entry_ids\":[' || e.id || ']}' AS json), CAST(:key_at AS timestamp) "
                 "FROM e ON CONFLICT (key) DO NOTHING RETURNING key)" if keyed else "")),
        columns=("(SELECT count(*) FROM w), (SELECT count(*) FROM c), "
                 + ("(SELECT count(*) FROM k)" if keyed else "1")))
    for keyed in (False, True)}


def _answer_head(answer: dict) -> str:
    """The answer's JSON text up to its entry id, which the statement appends (see _PG_ALSO)."""
    text = dumps({k: v for k, v in answer.items() if k not in _ENTRY_COLS})
    assert text.startswith('{"') and text.endswith("}"), text[:40]  # a non-empty object
    return text[:-1] + ',"entry_id":'


_SQLITE_INSERT_AWARD = Sql.of(
    f"INSERT INTO rule_award ({', '.join(_AWARD_NAMES)}) VALUES "
    f"({', '.join(f':{n}' for n in _AWARD_NAMES)})")
_ADD_SQLITE = Sql.of(
    "UPDATE rule_counter SET award_steps = award_steps + :a, deduct_steps = deduct_steps + :dd, "
    "times = times + :t, minutes = minutes + :m WHERE id = :id")


def _summed(deltas: list[tuple[CounterKey, Usage]], ids: dict[CounterKey, int]) -> list[tuple]:
    """One row per counter, in the keys' order: (id, award_steps, deduct_steps, times,
    minutes)."""
    summed: dict[CounterKey, list[int]] = {}
    for k, u in deltas:
        got = summed.get(k)
        if got is None:
            summed[k] = [u.award_steps, u.deduct_steps, u.times, u.minutes]
        else:
            got[0] += u.award_steps
            got[1] += u.deduct_steps
            got[2] += u.times
            got[3] += u.minutes
    return [(ids[k], *v) for k, v in sorted(summed.items())]


def post(s: Session, lines: list[Line], entry: dict, cols: dict,
         deltas: list[tuple[CounterKey, Usage]], answer: dict) -> int:
    """Post the award's entry (`entry`: post_entry's keywords) and write its record (`cols`:
    every column of AwardRecord but the entry ids), the counters' deltas (their rows locked by
    `lock_counters` in this transaction, updated by id) and, when `book.write` has a key for this write, the
    idempotency record with `answer` (both completed with the entry's id). One statement on
    PostgreSQL. Returns the entry's id. Refusals are post_entry's."""
    raw = Raw(s)
    locked = s.info.pop(_IDS, None)
    if deltas and (locked is None or locked[0] is not s.get_transaction()):
        raise AssertionError("an award's counters are locked (lock_counters) before it posts")
    rows = _summed(deltas, locked[1] if deltas else {})
    if not raw.pg:
        e = post_entry(s, lines=lines, **entry)
        raw.execute(_SQLITE_INSERT_AWARD, {
            n: (dumps(v) if n in _JSON else raw.time(v) if n in _TIMES and v is not None else v)
            for n, v in {**cols, "entry_id": e.id, "entry_ids": [e.id]}.items()})
        raw.cur.executemany(_ADD_SQLITE.sqlite, [
            dict(zip(_DELTA_NAMES, row)) for row in rows])
        return e.id
    keyed = s.info.get(KEY_TO_PUT)
    columns = list(zip(*rows)) or [()] * len(_DELTA_NAMES)
    params = {f"c_{n}": pg_array(v) for n, v in zip(_DELTA_NAMES, columns)}
    for n in _REC_NAMES:
        v = cols[n]
        params[f"r_{n}"] = (dumps(v) if n in _JSON else  # naive UTC, as the column keeps it
                            raw.time(v) if n in _TIMES and v is not None else v)
    if keyed:
        params.update(key=keyed[0], hash=keyed[1], result=_answer_head(answer),
                      key_at=raw.time(utcnow()))
    e, (written, changed, key_new) = post_entry_with(s, lines, also=_PG_ALSO[bool(keyed)],
                                                     also_params=params, **entry)
    if written != 1 or changed != len(rows):
        raise AssertionError(f"award {cols['id']}: record {written}, {changed} of {len(rows)} "
                             "counters written")
    if keyed:
        s.info[KEY_PUT_BY_WORK] = key_new == 1
    return e.id


__all__ = ["Prepared", "lock_counters", "post", "prepare"]
