"""Per-holder, per-period rollups of the journal, so rankings, stars and honor lists never
rescan it.

The journal writes its postings on the driver connection (ledger/journal/rawdb.py), so the
rollups follow it as a tailer rather than from inside each posting's transaction. Exactness
comes from the account's own sequence: each holder account's committed postings always form a
gapless prefix 1..n of `seq` (the account row's lock orders them, a refused attempt is undone,
a rolled-back transaction leaves nothing), so "apply the postings with seq > applied_seq, then
store the highest seq applied", done in one transaction under a lock on the progress row,
applies every committed posting exactly once and never one of a rolled-back transaction. Where
to look is only a hint (postings after a cursor); a `full` pass compares every holder account's
posting count with its progress and catches anything the hint missed.

Who runs it: the outbox. Every transaction that posts to the journal queues the task
`recognition.catch_up` with it (journal/posting.py, `outbox.enqueue_once`: one pending row at a
time, so a burst of awards queues one catch-up); the outbox delivers it after the commit — to
the worker in production, which runs it a second after its commit (`outbox.held_back`: the
commits of that second queue nothing more, and one run takes them all), in-process in the
embedded default, there at most once a second per database (measured: following every single
commit from the writer cut award throughput tenfold on SQLite and fourfold at 8 writers on
PostgreSQL; a row left waiting runs at the next commit's dispatch or the relay). The beat's
`recent` pass every 5 s and `full` pass every 10 min are the safety net; reads that need the
figures catch up first (`new` before a live ranking, a star page, the door plate; `full` before
an honor list draft, an export or a recomputation).

`net` is the civility score of the period as ledger/recognition/scores.py defines it (what
counts, how a reversal counts, the deed's period). Deductions naming a rule item are kept in
`deduction_mark` for veto checks. `rebuild` recomputes everything from the journal.

(Over 400 lines on purpose: the tailer and the rebuild are two ways to one result — the same
rows from the same rules — and the tests hold them to it; kept side by side.)
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ledger import outbox
from ledger.db import Database
from ledger.journal.models import Posting
from ledger.journal.rawdb import Raw, Sql, dumps, pg_array
from ledger.journal.posting import ROLLUPS_DUE_TASK
from ledger.recognition import leaderboards, rollup_tables, star_history
from ledger.recognition.models import (
    DeductionMark,
    HolderRollup,
    RollupCursor,
    RollupProgress,
)
from ledger.registry.lookup import scopes_of
from ledger.recognition.scores import (
    ITEM_KEYS,
    NON_SCORE_KINDS,
    counts_in_score,
    deed_time_sql,
    item_code_of,
    month_key,
    year_key,
)
from ledger.rules.periods import deed_time, local_date

ROLLUP_HOLDERS = ("person", "household", "team")
UTC_OFFSET_H = 8  # Asia/Shanghai, no daylight saving since 1991 (SQL side of the period keys)
log = logging.getLogger("jifen.rollups")
# The outbox task that follows commits (queued by journal/posting.py; one pending row at a time)
CATCH_UP_TASK = ROLLUPS_DUE_TASK
INLINE_INTERVAL_S = 1.0  # at most one catch-up a second: inline, or a row's wait on the workers
CURSOR = "journal"
TAIL_BATCH = 500  # accounts per transaction
RECENT_MARGIN_IDS = 20_000
# PostgreSQL: connections that load the new rows at once, each the accounts whose id is k
# modulo REBUILD_PARTS, all in one exported snapshot (the aggregate is one CPU-bound
# statement, never parallel in PostgreSQL 15 as an INSERT … SELECT; measured on the 2-core
# machine: bench/README.md, "bench/recognition.py")
REBUILD_PARTS = 2
# PostgreSQL settings of the rebuild's transaction (SET LOCAL): memory for the one big hash
# join, its two sorts (a part holds both; the layout's sort took 125 MB for 719,414 rows at
# 2 M postings, so a part's ~4.8 M rows at 20 M would pass 512 MB: 1 GB, measured together
# with the layout) and the index builds; no JIT (measured: 1.2 s of compiling in the 11 s
# aggregate of 2 M postings)
REBUILD_SETTINGS = {"work_mem": "1GB", "maintenance_work_mem": "1GB", "jit": "off"}
_HOLDERS_SQL = ", ".join(f"'{h}'" for h in ROLLUP_HOLDERS)
# A holder's `score` postings (deeds held in another wallet that count for it, see
# ledger/rules/wallets.py) roll up into the row of its `points` account, beside its own.
_TARGET_JOIN = ("JOIN account t ON t.unit = sa.unit AND t.holder_type = sa.holder_type "
                "AND t.holder_id = sa.holder_id AND t.purpose = 'points' AND t.shard = 0")
_TARGETS = text(
    f"SELECT sa.id, t.id FROM account sa {_TARGET_JOIN} "
    "WHERE sa.purpose = 'score' AND sa.id IN :ids").bindparams(bindparam("ids", expanding=True))


def period_keys(at: datetime) -> tuple[str, str]:
    d = local_date(at)
    return month_key(d), year_key(d)


# ---------------------------------------------------------------------------------------------
# The tailer: apply committed postings, account by account, exactly once


def changed_accounts(s: Session, mode: str, cursor: int, top: int) -> list[int]:
    """Holder accounts with postings not yet in the rollups. `new`/`recent` look only at
    postings after the cursor (recent: with a margin, for transactions that committed late);
    `full` compares every holder account's posting count with its progress."""
    if mode == "full":
        # Every account's progress is at most its posting count (both read in one snapshot),
        # so equal sums mean no account is behind: two plain scans, no join of every holder
        # account with its progress row (measured: the join was 1.0 of a honor list's 1.1 s
        # at 300,000 holder accounts).
        if s.scalar(text(
                "SELECT (SELECT COALESCE(SUM(a.posting_count), 0) FROM account a "
                f"WHERE a.purpose IN ('points', 'score') AND a.holder_type IN ({_HOLDERS_SQL})) "
                "- (SELECT COALESCE(SUM(g.applied_seq), 0) FROM rollup_progress g)")) == 0:
            return []
        return list(s.scalars(text(
            "SELECT a.id FROM account a LEFT JOIN rollup_progress g ON g.account_id = a.id "
            f"WHERE a.purpose IN ('points', 'score') AND a.holder_type IN ({_HOLDERS_SQL}) "
            "AND a.posting_count > COALESCE(g.applied_seq, 0) ORDER BY a.id")))
    since = cursor if mode == "new" else max(0, cursor - RECENT_MARGIN_IDS)
    if top <= since:
        return []
    return list(s.scalars(text(
        "SELECT DISTINCT p.account_id FROM posting p JOIN account a ON a.id = p.account_id "
        "WHERE p.id > :lo AND p.id <= :hi AND a.purpose IN ('points', 'score') "
        f"AND a.holder_type IN ({_HOLDERS_SQL}) ORDER BY p.account_id"), {"lo": since, "hi": top}))


def catch_up(db: Database, *, mode: str = "new") -> dict:
    """Bring the rollups (and the stars and live boards of the holders concerned) up to every
    committed posting. Safe to run anywhere, any number of times, concurrently."""
    if mode not in ("new", "recent", "full"):
        raise ValueError(f"unknown catch-up mode {mode!r}")
    with db.sessions() as s:
        cursor = s.scalar(select(RollupCursor.last_posting_id).where(
            RollupCursor.name == CURSOR)) or 0
        top = s.scalar(select(func.max(Posting.id))) or 0
        if mode == "new" and top <= cursor:
            return {"accounts": 0, "postings": 0}
        accounts = changed_accounts(s, mode, cursor, top)
    applied, changes = 0, {}
    for i in range(0, len(accounts), TAIL_BATCH):
        with db.transaction() as s:
            n, ch = apply_accounts(s, accounts[i:i + TAIL_BATCH])
        applied += n
        changes.update(ch)
    with db.transaction() as s:
        _advance_cursor(s, top)
    if changes:
        with db.sessions() as s:
            leaderboards.refresh(s, [k for k in changes], sorted({p for v in changes.values()
                                                                   for p in v}))
    return {"accounts": len(accounts), "postings": applied}


@outbox.handler(CATCH_UP_TASK, own_transactions=True, coalesce_s=INLINE_INTERVAL_S)
def catch_up_task(db: Database) -> dict:
    """The outbox's delivery of "the journal moved": a `new` catch-up (idempotent, so a row
    delivered twice is harmless)."""
    return catch_up(db, mode="new")


def catch_up_for_read(s: Session) -> None:
    """Before a page reads the rollups (the door plate, the village ranking): when postings
    are past the cursor and this process follows the journal itself (embedded: a coalesced
    catch-up may be waiting), a `new` catch-up now. Production leaves it to the worker (it runs
    after every commit). Two cheap reads on the page's own connection when nothing is new; the
    catch-up's transactions are its own, and the page's read transaction is ended first so
    that no request ever holds two pooled connections at once (measured: under load, pages
    waiting for a second connection held the whole pool). The session must have written
    nothing."""
    bind = s.get_bind()
    if not outbox.runs_inline(bind):
        return
    cursor = s.scalar(select(RollupCursor.last_posting_id).where(
        RollupCursor.name == CURSOR)) or 0
    if (s.scalar(select(func.max(Posting.id))) or 0) <= cursor:
        return
    if s.new or s.dirty or s.deleted:
        raise AssertionError("catch_up_for_read needs a session that has written nothing")
    s.commit()
    catch_up(outbox.database_for(bind), mode="new")


def _advance_cursor(s: Session, top: int) -> None:
    s.execute(_insert(s)(RollupCursor).values(name=CURSOR, last_posting_id=0)
              .on_conflict_do_nothing())
    s.execute(update(RollupCursor).where(RollupCursor.name == CURSOR,
                                         RollupCursor.last_posting_id < top)
              .values(last_posting_id=top))


# The tailer's statements, built once (ledger/journal/rawdb.py): a catch-up runs after every
# posting transaction (on the worker, or after the answer in the embedded default), and built
# by SQLAlchemy per call its upserts cost more client CPU than the rest of it. A list of
# accounts is one parameter: an array literal on PostgreSQL, JSON text on SQLite.
_IDS_PG, _IDS_SQLITE = "CAST(:ids AS bigint[])", "(SELECT value FROM json_each(:ids))"
_UNAPPLIED = (
    "SELECT p.account_id, p.seq, p.amount, p.created_at, p.entry_id, e.kind, r.kind, "
    "e.reverses_id, e.details, a.unit, a.holder_type, a.holder_id "
    "FROM posting p JOIN rollup_progress g ON g.account_id = p.account_id "
    "AND p.seq > g.applied_seq "
    "JOIN account a ON a.id = p.account_id JOIN journal_entry e ON e.id = p.entry_id "
    "LEFT JOIN journal_entry r ON r.id = e.reverses_id WHERE p.account_id ")
_READ = Sql.of(f"{_UNAPPLIED}IN {_IDS_SQLITE} ORDER BY p.account_id, p.seq",
               f"{_UNAPPLIED}= ANY({_IDS_PG}) ORDER BY p.account_id, p.seq")
_OPEN_PROGRESS = Sql.of(
    "INSERT INTO rollup_progress (account_id, applied_seq) SELECT value, 0 "
    "FROM json_each(:ids) WHERE true ON CONFLICT (account_id) DO NOTHING",
    "INSERT INTO rollup_progress (account_id, applied_seq) "
    f"SELECT unnest({_IDS_PG}), 0 ON CONFLICT (account_id) DO NOTHING")
# PostgreSQL: another tailer holding some of them applies those (SKIP LOCKED); SQLite has one
# writer at a time.
_LOCK_PROGRESS = Sql.of(
    f"SELECT account_id FROM rollup_progress WHERE account_id IN {_IDS_SQLITE} "
    "ORDER BY account_id",
    f"SELECT account_id FROM rollup_progress WHERE account_id = ANY({_IDS_PG}) "
    "ORDER BY account_id FOR UPDATE SKIP LOCKED")
_SET_PROGRESS = Sql.of(
    "UPDATE rollup_progress SET applied_seq = json_extract(j.value, '$[1]') "
    "FROM json_each(:rows) j WHERE rollup_progress.account_id = json_extract(j.value, '$[0]')",
    "UPDATE rollup_progress g SET applied_seq = u.seq FROM unnest(CAST(:ids AS bigint[]), "
    "CAST(:seqs AS bigint[])) u(account_id, seq) WHERE g.account_id = u.account_id")
_ROLLUP_UPDATE = ("ON CONFLICT (account_id, period_key) DO UPDATE SET "
                  "gained = holder_rollup.gained + excluded.gained, "
                  "lost = holder_rollup.lost + excluded.lost, "
                  "net = holder_rollup.net + excluded.net, "
                  "postings = holder_rollup.postings + excluded.postings, "
                  "village_id = excluded.village_id, town_id = excluded.town_id")
_UPSERT_COLS = ("account_id", "period_key", "unit", "holder_type", "holder_id", "village_id",
                "town_id", "gained", "lost", "net", "postings")
_UPSERT_TYPES = ("bigint", "text", "text", "text", "bigint", "bigint", "bigint", "bigint",
                 "bigint", "bigint", "bigint")
_UPSERT = Sql.of(
    f"INSERT INTO holder_rollup ({', '.join(_UPSERT_COLS)}) SELECT "
    + ", ".join(f"json_extract(j.value, '$[{i}]')" for i in range(len(_UPSERT_COLS)))
    + f" FROM json_each(:rows) j WHERE true {_ROLLUP_UPDATE}",
    f"INSERT INTO holder_rollup ({', '.join(_UPSERT_COLS)}) SELECT * FROM unnest("
    + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in zip(_UPSERT_COLS, _UPSERT_TYPES))
    + f") {_ROLLUP_UPDATE}")


def _ids(raw: Raw, ids: list[int]) -> dict:
    return {"ids": pg_array(ids) if raw.pg else dumps(ids)}


def catch_up_in(s: Session) -> int:
    """A full catch-up inside the caller's transaction (before a draft or a recomputation
    reads the rollups); the live boards follow at the next ordinary catch-up."""
    accounts = changed_accounts(s, "full", 0, 0)
    applied = 0
    for i in range(0, len(accounts), TAIL_BATCH):
        applied += apply_accounts(s, accounts[i:i + TAIL_BATCH])[0]
    return applied


def _lock_progress(raw: Raw, ids: list[int]) -> list[int]:
    params = _ids(raw, ids)
    raw.execute(_OPEN_PROGRESS, params)
    return [r[0] for r in raw.all(_LOCK_PROGRESS, params)]


def apply_accounts(s: Session, ids: list[int]) -> tuple[int, dict]:
    """Apply these accounts' unapplied postings inside the caller's transaction; refresh the
    stars of their holders. Returns (postings applied, {(holder type, id, unit): periods})."""
    raw = Raw(s)
    with raw.keyed_plans():  # every statement of the application reaches its rows by key
        done = _apply(s, raw, ids)
    if done is None:
        return 0, {}
    applied, changes, last = done
    _refresh_stars(s, last, changes)
    return applied, dict(changes)


def _apply(s: Session, raw: Raw, ids: list[int]) -> tuple[int, dict, dict] | None:
    """The postings applied (None: another tailer holds all these accounts), the periods
    changed by holder, and each holder's last entry and deed time."""
    locked = _lock_progress(raw, ids)
    if not locked:
        return None
    rows = raw.all(_READ, _ids(raw, locked))
    deltas: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    meta: dict[int, tuple[str, str, int]] = {}
    top: dict[int, int] = {}
    marks, unmarks = [], []
    changes: dict[tuple[str, int, str], set[str]] = defaultdict(set)
    last: dict[tuple[str, int, str], tuple[int, datetime]] = {}
    row_of = dict(s.execute(_TARGETS, {"ids": locked}).all())
    for acct, seq, amount, at, entry_id, kind, rkind, reverses_id, details, unit, htype, hid \
            in rows:
        top[acct] = max(seq, top.get(acct, 0))
        if not counts_in_score(kind, rkind):
            continue
        details = details if isinstance(details, dict) else _json(details)
        at = deed_time(details, _as_utc(at))
        target = row_of.get(acct, acct)
        meta[target] = (unit, htype, hid)
        for key in period_keys(at):
            d = deltas[(target, key)]
            d[0 if amount > 0 else 1] += abs(amount)
            d[2] += 1
            changes[(htype, hid, unit)].add(key)
        last[(htype, hid, unit)] = (entry_id, at)
        if amount < 0 and kind != "reverse":
            code = item_code_of(details)
            if code:
                marks.append({"entry_id": entry_id, "account_id": acct, "holder_type": htype,
                              "holder_id": hid, "item_code": code, "amount": -amount,
                              "created_at": at})
        elif amount > 0 and kind == "reverse" and reverses_id:
            unmarks.append({"e": reverses_id, "a": acct, "by": entry_id})
    if deltas:
        scope = scopes_of(s, {(m[1], m[2]) for m in meta.values()})
        _upsert(raw, [(acct, key, *meta[acct], *scope.get(meta[acct][1:], (None, None)),
                       g, lo, g - lo, n) for (acct, key), (g, lo, n) in sorted(deltas.items())])
    if marks:
        s.execute(_insert(s)(DeductionMark).on_conflict_do_nothing(), marks)
    if unmarks:
        s.execute(text("UPDATE deduction_mark SET reversed_by = :by WHERE entry_id = :e "
                       "AND account_id = :a"), unmarks)
    if top:
        done = sorted(top.items())
        raw.execute(_SET_PROGRESS, {"ids": pg_array([a for a, _ in done]),
                                    "seqs": pg_array([n for _, n in done])} if raw.pg else
                    {"rows": dumps(done)})
    return len(rows), changes, last


def _refresh_stars(s: Session, last: dict, changes: dict) -> None:
    """The stars of the holders whose figures this catch-up moved: a volunteer's by its
    minutes, a household's in each star period its changed months fall in."""
    star_history.refresh_volunteers(s, {
        hid: (f"entry:{entry_id}", at) for (htype, hid, unit), (entry_id, at) in last.items()
        if htype == "person" and unit == "minutes"}, cause="service_minutes")
    star_history.refresh_households(s, {
        hid: (changes[(htype, hid, unit)], f"entry:{entry_id}", at)
        for (htype, hid, unit), (entry_id, at) in last.items()
        if htype == "household" and unit == "points"}, cause="civility_score")


def _insert(session: Session):
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _as_utc(v) -> datetime:  # noqa: ANN001 - SQLite returns text, PostgreSQL naive datetimes
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v


def _json(v):  # noqa: ANN001, ANN202
    try:
        return json.loads(v) if isinstance(v, str) else None
    except ValueError:
        return None


def _upsert(raw: Raw, rows: list[tuple]) -> None:
    """Add these deltas (rows in _UPSERT_COLS' order) to the rollups, one statement."""
    if raw.pg:
        raw.execute(_UPSERT, {c: pg_array(col) for c, col in zip(_UPSERT_COLS, zip(*rows))})
    else:
        raw.execute(_UPSERT, {"rows": dumps(rows)})


# ---------------------------------------------------------------------------------------------
# Rebuild from the journal


# The holder's village and town, joined once per rollup account (staged before the aggregate).
_SCOPE_JOINS = (
    "LEFT JOIN person pp ON a.holder_type = 'person' AND pp.id = a.holder_id "
    "LEFT JOIN household hh ON a.holder_type = 'household' AND hh.id = a.holder_id "
    "LEFT JOIN team tt ON a.holder_type = 'team' AND tt.id = a.holder_id "
    "LEFT JOIN village vv ON vv.id = COALESCE(pp.village_id, hh.village_id)")
_SCOPE_COLS = ("COALESCE(pp.village_id, hh.village_id, tt.village_id) AS village_id, "
               "COALESCE(vv.town_id, tt.town_id) AS town_id")
# PostgreSQL: each part inserts its rows grouped as the ranking indexes sort them (unit,
# holder type, period, village), by one integer per row: the rank of (unit, holder type) among
# the part's accounts × _LAYOUT_UH + the period (12 × year + month; a year after every month)
# × _LAYOUT_PERIOD + the rank of the village (none last). Rows of a group then lie together,
# and the index builds' sorts (whose leading columns are nearly all ties) touch one part of
# memory at a time (measured at 8 M postings, one build at a time: the two ranking indexes
# 28.7 and 26.7 s → 10–12 s each; at 20 M the index phase 67–85 → 50–55 s, the whole rebuild
# 133–161 → 110–120 s: bench/README.md). Only the layout: a rank past its field would misplace
# rows, never change one.
_LAYOUT_PERIOD = 1 << 20  # villages ranked within 20 bits
_LAYOUT_YEARS = 1 << 19  # year rows after every month row (12 × 9999 + 12 < 2^17)
_LAYOUT_UH = 1 << 40  # (unit, holder type) above the period's 20 bits
_STAGED = ("rollup_rebuild_map", "rollup_rebuild_rev", "rollup_rebuild_dst",
           "rollup_rebuild_rows", "rollup_rebuild_ded")


def _staged_names(part: int) -> tuple[str, ...]:
    return tuple(_STAGED) if part == 0 else tuple(f"{t}_{part}" for t in _STAGED)

_ROLLUP_COLS = ("account_id, period_key, unit, holder_type, holder_id, village_id, town_id, "
                "gained, lost, net, postings")
# Rebuilds of one database run one at a time (a session-level advisory lock; key: "jifen"
# "rollups" in ASCII, an arbitrary constant no other lock of the service uses)
REBUILD_LOCK_KEY = 0x6A6966656E_726F
_LIVE = {"holder_rollup": "holder_rollup", "deduction_mark": "deduction_mark",
         "rollup_progress": "rollup_progress"}


def _month_sql(dialect: str) -> tuple[str, str, str]:
    """(a posting's local deed month as a group-by value — the posting time when the entry
    names no deed time — and templates of the SQL of the `month:YYYY-MM` and `year:YYYY`
    keys of a month `{m}`). The deed time is scores.deed_time_sql's, computed per entry with
    no fallback (`e.at`), the posting's time filled in after the join."""
    if dialect == "postgresql":
        # a timestamp, not text: a fixed-width sort key (text compares through the collation)
        return (f"date_trunc('month', COALESCE(e.at, p.created_at) "
                f"+ interval '{UTC_OFFSET_H} hours')",
                "'month:' || to_char({m}, 'YYYY-MM')", "'year:' || to_char({m}, 'YYYY')")
    return (f"strftime('%Y-%m', COALESCE(e.at, p.created_at), '+{UTC_OFFSET_H} hours')",
            "'month:' || {m}", "'year:' || substr({m}, 1, 4)")


class _Phases:
    """Wall time of each step of the rebuild (returned with its result, printed by the bench)."""

    def __init__(self) -> None:
        self.took: dict[str, float] = {}
        self._t = time.monotonic()

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.took[name] = round(self.took.get(name, 0.0) + now - self._t, 2)
        self._t = now


def rebuild(db: Database) -> dict:
    """Recompute every rollup, veto mark and progress row from the journal in one consistent
    snapshot. Readers keep the old rows until the new ones replace them whole; postings
    committed meanwhile are applied after (a `full` catch-up). Returns the row counts and the
    wall time of each phase."""
    ph = _Phases()
    if db.is_sqlite:
        # One transaction: readers see the old rows (WAL) until it commits; writers wait.
        with db.transaction() as s:
            for t in (HolderRollup, DeductionMark, RollupProgress):
                s.execute(delete(t))
            ph.done("truncate")
            rows, marks, top = _fill(s, "sqlite", _LIVE, ph)
            _advance_cursor(s, top)
        ph.done("commit")
    else:
        rows, marks = _rebuild_pg(db, ph)
    catch_up(db, mode="full")
    ph.done("catch up since the snapshot")
    return {"rollup_rows": rows, "deduction_marks": marks, "phases": ph.took}


def _rebuild_pg(db: Database, ph: _Phases) -> tuple[int, int]:
    """PostgreSQL: the new rows loaded into shadow tables in one REPEATABLE READ snapshot
    (no index to maintain), by REBUILD_PARTS connections at once, each a share of the
    accounts, all in the snapshot the first exports; their indexes built after on several
    connections, foreign keys checked, then swapped in by renaming
    (ledger/recognition/rollup_tables.py). The live tables stay readable, and followed by the
    tailers, until the swap."""
    engine = db.engine
    with engine.connect() as c:
        c.execute(text("SELECT pg_advisory_lock(:k)"), {"k": REBUILD_LOCK_KEY})
        c.commit()
        try:
            rollup_tables.drop_shadows(c)
            plan = rollup_tables.plan(c)
            # committed before the load, so that every part's connection can write into them
            rollup_tables.create_shadows(c)
            c.commit()
            ph.done("shadow tables")
            into = {t: rollup_tables.shadow(t) for t in rollup_tables.TABLES}
            with c.begin():
                _begin_snapshot(c)
                snapshot_id = c.execute(text("SELECT pg_export_snapshot()")).scalar()
                with ThreadPoolExecutor(max(1, REBUILD_PARTS - 1)) as pool:
                    others = [pool.submit(_fill_part, engine, snapshot_id, into, k)
                              for k in range(1, REBUILD_PARTS)]
                    rows, marks, top = _fill(c, "postgresql", into, ph, (0, REBUILD_PARTS))
                    for f in others:  # the exporting transaction stays open until all end
                        n_rows, n_marks, their_top = f.result()
                        assert their_top == top, (their_top, top)  # one snapshot
                        rows, marks = rows + n_rows, marks + n_marks
                ph.done("the other parts")
            ph.done("commit")
            # statistics before anyone plans against the new tables (autovacuum may be off;
            # unanalyzed, the honor list's ranking read every year row of a town). After the
            # commit: the snapshot's transaction does not see the other parts' rows.
            for t in rollup_tables.TABLES:
                c.execute(text(f"ANALYZE {rollup_tables.shadow(t)}"))
            c.commit()
            ph.done("analyze")
            rollup_tables.build_indexes(engine, plan)
            ph.done("indexes")
            rollup_tables.add_foreign_keys(engine, plan)
            ph.done("foreign keys")
            rollup_tables.swap(engine, plan, CURSOR, top)
            ph.done("swap")
        except BaseException:
            c.rollback()
            rollup_tables.drop_shadows(c)
            c.commit()
            raise
        finally:
            c.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": REBUILD_LOCK_KEY})
            c.commit()
    return rows, marks


def _begin_snapshot(c: Connection, snapshot_id: str | None = None) -> None:
    """The rebuild's transaction: REPEATABLE READ (one snapshot for every statement), in the
    snapshot another transaction exported when given, with the rebuild's settings."""
    c.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
    if snapshot_id is not None:
        c.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'"))
    for k, v in REBUILD_SETTINGS.items():
        c.execute(text(f"SET LOCAL {k} = '{v}'"))


def _fill_part(engine: Engine, snapshot_id: str, into: dict[str, str], k: int
               ) -> tuple[int, int, int]:
    """One share of the rebuild's load on a connection of its own, in the exported snapshot;
    committed when done (the shadows are not read by anyone before the swap, and a failed
    rebuild drops them)."""
    assert 0 < k < REBUILD_PARTS, k
    with engine.connect() as c, c.begin():
        _begin_snapshot(c, snapshot_id)
        return _fill(c, "postgresql", into, _Phases(), (k, REBUILD_PARTS))



def _accounts_sql(pg: bool, share: str = "") -> str:
    """The rollup accounts of a part (`share`: its condition on `a.id`): each one's unit,
    holder and scope, and on PostgreSQL where its rows go in the new table (_LAYOUT). The two
    small rankings are MATERIALIZED: joined to every account, an inlined one was sorted and
    ranked again for each account when the planner thought there was one (no statistics yet,
    as after a history load with autovacuum off: 12 s for 9,000 accounts, quadratic)."""
    accounts = (f"SELECT a.id, a.unit, a.holder_type, a.holder_id, {_SCOPE_COLS} "
                f"FROM account a {_SCOPE_JOINS} WHERE a.purpose = 'points' AND a.shard = 0 "
                f"AND a.holder_type IN ({_HOLDERS_SQL}){share}")
    if not pg:
        return accounts
    return (
        f"WITH s AS MATERIALIZED ({accounts}), "
        "uh AS MATERIALIZED (SELECT unit, holder_type, dense_rank() OVER (ORDER BY unit, "
        "holder_type) AS r FROM (SELECT DISTINCT unit, holder_type FROM s) z), "
        "vr AS MATERIALIZED (SELECT village_id, dense_rank() OVER (ORDER BY village_id) AS r "
        "FROM (SELECT DISTINCT village_id FROM s WHERE village_id IS NOT NULL) z) "
        f"SELECT s.*, uh.r * {_LAYOUT_UH} + COALESCE(vr.r, {_LAYOUT_PERIOD - 1}) AS lay "
        "FROM s JOIN uh ON uh.unit = s.unit AND uh.holder_type = s.holder_type "
        "LEFT JOIN vr ON vr.village_id = s.village_id")

def _fill(c: Session | Connection, dialect: str, into: dict[str, str], ph: _Phases,
          part: tuple[int, int] = (0, 1)) -> tuple[int, int, int]:
    """Every rollup row, progress row and veto mark of the journal as this transaction sees
    it, inserted into `into`'s tables (empty), or those of one share of the accounts: `part`
    (k, n) is the accounts whose id is k modulo n (each rollup row by the account it rolls
    into, each progress row and mark by its own account). Returns (rollup rows, marks, the
    highest posting id seen)."""
    pg = dialect == "postgresql"
    k_part, n_parts = part
    assert 0 <= k_part < n_parts, part

    def share(col: str) -> str:  # the part's condition on an account id (none: one part)
        return f" AND {col} % {n_parts} = {k_part}" if n_parts > 1 else ""

    skip = ", ".join(f"'{kind}'" for kind in sorted(NON_SCORE_KINDS))
    bucket, month, year = _month_sql(dialect)
    # Staging tables: UNLOGGED on PostgreSQL (no WAL; regular, not temporary, so that
    # parallel workers may scan them), created and dropped inside this transaction, one set
    # per part (named apart: parts run at once on their own connections).
    staged = "CREATE UNLOGGED TABLE" if pg else "CREATE TEMPORARY TABLE"
    names = _staged_names(k_part)
    t_map, t_rev, t_dst, t_rows, t_ded = names
    for t in names:
        c.execute(text(f"DROP TABLE IF EXISTS {t}"))
    # (1) the holder accounts and the rollup row each rolls into: a holder's own points
    # account (shard 0) into itself, a `score` account into its holder's points account
    # (only these go through the join on unit and holder: the self-join of every holder
    # account took 10 s of a loaded 8 M-posting rebuild); (2) the kind each reversal
    # reverses, through the reversals' own index (reversals are few: before, a second
    # hash of every entry); (3) each rollup account's unit, holder and scope, joined once
    # per account (before: once per rollup row).
    c.execute(text(
        f"{staged} {t_map} AS "
        "SELECT a.id AS src, a.id AS dst FROM account a WHERE a.purpose = 'points' "
        f"AND a.shard = 0 AND a.holder_type IN ({_HOLDERS_SQL}){share('a.id')} UNION ALL "
        "SELECT sa.id, t.id FROM account sa "
        f"{_TARGET_JOIN} WHERE sa.holder_type IN ({_HOLDERS_SQL}) "
        f"AND (sa.purpose = 'score' OR (sa.purpose = 'points' AND sa.shard <> 0)){share('t.id')}"))
    c.execute(text(
        f"{staged} {t_rev} AS SELECT e.id, r.kind FROM journal_entry e "
        "JOIN journal_entry r ON r.id = e.reverses_id "
        "WHERE e.reverses_id IS NOT NULL AND e.kind = 'reverse'"))
    c.execute(text(f"{staged} {t_dst} AS {_accounts_sql(pg, share('a.id'))}"))
    for t in (t_map, t_rev, t_dst):
        c.execute(text(f"ANALYZE {t}"))
    top = c.execute(text("SELECT MAX(id) FROM posting")).scalar() or 0
    ph.done("stage accounts and reversals")
    # (4) one aggregate pass: holder postings ⋈ their entry, narrowed first to (id, deed
    # time named in its details or NULL) for the entries that count, grouped by (row,
    # local deed month). Hash joins: the planner, misled by the deed-time expression,
    # otherwise probes the entries' index once per posting (measured 75 s against 34 s
    # for 2 M postings). The written join order is kept (join_collapse_limit 1): postings
    # ⋈ the map first, which drops the other side of every entry (a budget's or the
    # town's account: half the postings) before the entries' hash is probed. Grouped by
    # sorting, not hashing (a hash aggregate keeps a numeric SUM state per group: 311 MB
    # for 587,729 groups, and it was the slower of the two in the plans measured).
    if pg:
        for k in ("enable_nestloop", "enable_mergejoin", "enable_hashagg"):
            c.execute(text(f"SET LOCAL {k} = off"))
        c.execute(text("SET LOCAL join_collapse_limit = 1"))
    entry_at = deed_time_sql(dialect, posted="NULL")
    postings = (
        f"SELECT m.dst, {bucket} AS m, p.amount "
        f"FROM posting p JOIN {t_map} m ON m.src = p.account_id "
        f"JOIN (SELECT e.id, {entry_at} AS at FROM journal_entry e "
        f" LEFT JOIN {t_rev} rv ON rv.id = e.id "
        f" WHERE COALESCE(rv.kind, e.kind) NOT IN ({skip})) e ON e.id = p.entry_id")
    sums = ("SUM(CASE WHEN q.amount > 0 THEN q.amount ELSE 0 END) AS g, "
            "SUM(CASE WHEN q.amount < 0 THEN -q.amount ELSE 0 END) AS l, COUNT(*) AS c")
    target = (f"INSERT INTO {into['holder_rollup']} ({_ROLLUP_COLS}) SELECT x.dst, x.k, d.unit, "
              "d.holder_type, d.holder_id, d.village_id, d.town_id, x.g, x.l, x.g - x.l, x.c ")
    if pg:
        # months and years in the same sorted pass (a rollup of the month within its year:
        # the year's row follows its months), sorted once more by the one-integer layout key
        # (_LAYOUT_*) into the new table (before: months staged, then summed again into
        # years, sorted again, inserted)
        year_of_m = "date_trunc('year', q.m)"
        period = (f"CASE WHEN GROUPING(q.m) = 1 THEN {_LAYOUT_YEARS} "
                  f"+ 12 * CAST(extract(year FROM {year_of_m}) AS bigint) "
                  "ELSE 12 * CAST(extract(year FROM q.m) AS bigint) "
                  "+ CAST(extract(month FROM q.m) AS bigint) END")
        n = c.execute(text(
            f"{target} FROM (SELECT q.dst, CASE WHEN GROUPING(q.m) = 1 "
            f"THEN {year.format(m=year_of_m)} ELSE {month.format(m='q.m')} END AS k, "
            f"{period} AS pc, {sums} "
            f"FROM ({postings}) q GROUP BY q.dst, {year_of_m}, ROLLUP(q.m)) x "
            f"JOIN {t_dst} d ON d.id = x.dst ORDER BY d.lay + x.pc * {_LAYOUT_PERIOD}"
        )).rowcount
        c.execute(text("SET LOCAL join_collapse_limit = DEFAULT"))
    else:
        c.execute(text(f"{staged} {t_rows} AS SELECT q.dst, q.m, {sums} "
                       f"FROM ({postings}) q GROUP BY q.dst, q.m"))
        n = c.execute(text(
            f"{target} FROM (SELECT dst, {month.format(m='m')} AS k, g, l, c "
            f"FROM {t_rows} UNION ALL SELECT dst, {year.format(m='m')}, SUM(g), "
            f"SUM(l), SUM(c) FROM {t_rows} GROUP BY dst, {year.format(m='m')}) x "
            f"JOIN {t_dst} d ON d.id = x.dst ORDER BY x.dst, x.k")).rowcount
    ph.done("aggregate and insert rollups")
    c.execute(text(
        f"INSERT INTO {into['rollup_progress']} (account_id, applied_seq) "
        "SELECT a.id, a.posting_count FROM account a "
        f"WHERE a.purpose IN ('points', 'score') AND a.holder_type IN ({_HOLDERS_SQL}) "
        f"AND a.posting_count > 0{share('a.id')}"))
    ph.done("progress")
    if pg:
        for k in ("enable_nestloop", "enable_mergejoin", "enable_hashagg"):
            c.execute(text(f"SET LOCAL {k} = DEFAULT"))
    marks = _rebuild_marks(c, dialect, staged, into["deduction_mark"], t_ded, share("a.id"))
    for t in names:
        c.execute(text(f"DROP TABLE IF EXISTS {t}"))
    ph.done("veto marks")
    return int(n or 0), marks, top



def _item_code_sql(dialect: str) -> str:
    """SQL for `scores.item_code_of(e.details)` (the item a rule entry names)."""
    if dialect == "postgresql":
        d = "e.details::jsonb"
        parts = [f"NULLIF({d} ->> '{k}', '')" for k in ITEM_KEYS] + [f"{d} -> 'rule' ->> 'item'"]
    else:
        parts = [f"NULLIF(json_extract(e.details, '$.{k}'), '')" for k in ITEM_KEYS]
        parts.append("json_extract(e.details, '$.rule.item')")
    return f"substr(COALESCE({', '.join(parts)}), 1, 64)"


def _rebuild_marks(c: Session | Connection, dialect: str, staged: str, into: str,
                   ded: str, share: str) -> int:
    """The veto marks, set-based: every deduction on a holder account that names an item.
    The holder accounts' deductions are staged first (one pass over the postings); only their
    entries' details are parsed (before, every entry's JSON was: 9 s of 9.3 s at 2 M
    postings)."""
    code = _item_code_sql(dialect)
    at = deed_time_sql(dialect)
    skip = ", ".join(repr(k) for k in sorted(NON_SCORE_KINDS))
    c.execute(text(
        f"{staged} {ded} AS SELECT p.entry_id, p.account_id, p.amount, "
        "p.created_at FROM posting p JOIN account a ON a.id = p.account_id "
        f"WHERE p.amount < 0 AND a.purpose IN ('points', 'score') "
        f"AND a.holder_type IN ({_HOLDERS_SQL}){share}"))
    c.execute(text(f"ANALYZE {ded}"))
    return c.execute(text(
        f"INSERT INTO {into} (entry_id, account_id, holder_type, holder_id, item_code, "
        "amount, created_at, reversed_by) SELECT * FROM ("
        f"SELECT p.entry_id, p.account_id, a.holder_type, a.holder_id, {code} AS code, "
        f"-p.amount, {at}, "
        "(SELECT MIN(x.id) FROM journal_entry x WHERE x.reverses_id = e.id) "
        f"FROM {ded} p JOIN account a ON a.id = p.account_id "
        "JOIN journal_entry e ON e.id = p.entry_id "
        f"WHERE e.kind NOT IN ('reverse', {skip})) m WHERE m.code IS NOT NULL"
    )).rowcount or 0


def snapshot(s: Session) -> dict[tuple[int, str], tuple]:
    """Every rollup row as a comparable value (tests and the drift check)."""
    return {(r.account_id, r.period_key): (r.unit, r.holder_type, r.holder_id, r.village_id,
                                           r.town_id, r.gained, r.lost, r.net, r.postings)
            for r in s.scalars(select(HolderRollup))}
