"""Our side of the comparison: single awards, each with an idempotency key as every real award
has, through two paths:

- `rules.service.record_award` (what users get: a check-out's points, an inspector's finding,
  an approved claim): the rule engine decides under the bench catalog's per-hour item (points
  and minutes caps, a per-activity limit, a household roll-up: five counters an award) and
  posts budget → person and household, with the explanation;
- `journal.book.write_award` (one plain posting, village budget → person points; what admin
  adjustments and the opening grants take), kept beside for comparison.

Each writer has its own holders; in the shared mode they all live in village 1 (whose budget
every award draws on), in the own mode writer w's live in village 1000 + w.

(Over 400 lines: one script — world set-up, the two paths, the writers and the report — that
reads top to bottom.)"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import tempfile
import threading
import traceback
import zlib
import time
from dataclasses import dataclass

from datetime import UTC, datetime

import psycopg
from sqlalchemy import event, text

from ledger import outbox
from ledger.config import Settings
from ledger.db import Database
from ledger.journal import book
from ledger.journal import rawdb
from ledger.journal.accounts import open_account
from ledger.journal.ddl import statements
from ledger.models import metadata
from ledger.registry.models import Household, Person, Town, Village
from ledger.rules import service as rules
from ledger.rules import store

TOWN_ID = 1
SHARED_VILLAGE = 1
OWN_VILLAGE_BASE = 1000  # writer w's own budget belongs to village 1000 + w
HOLDERS_PER_WRITER = 500
BUDGET_PER_VILLAGE = 10**11
# Each writer first awards every one of its holders once: a long-running process knows the ids
# of the accounts it posts to (`accounts.remembered`), and the measurement is of that state.
WARMUP_AWARDS = HOLDERS_PER_WRITER


PATHS = ("record_award", "write_award")
OWN_HOLDERS = 500_000  # offset of a writer's own-budget holders among its ids
ORGANIZER_USER = 9  # the recorder: a trusted caller's user id, as a check-out passes it
BENCH_ITEM = "bench:R01"
# The shape of a check-out's item (Baogai's A01): per hour, rolled up to the household, a
# per-activity limit, a monthly points cap and a yearly catalog cap, all far above what a run
# reaches, so that every award is decided and posted, never refused.
BENCH_CATALOG = """\
catalog:
  code: bench
  name: 基准测试目录
  town: 基准镇
  scale: 2
  effective_from: 2020-01-01
  approval: {approved_by: 基准, decision: 基准〔2026〕1号}
  subjects: [person, household]
  recorders: [organizer, admin]
  caps:
    points: {year: 100000}
categories:
  - code: R
    name: 志愿服务
    items:
      - {code: R01, name: 志愿服务（按小时）, per: hour, points: 1, rollup: household,
         max_minutes_per_activity: 240, subjects: [person], caps: {points: {month: 100000}}}
"""


def holder_id(writer: int, i: int, shared: bool = True) -> int:
    return (writer + 1) * 1_000_000 + (0 if shared else OWN_HOLDERS) + i % HOLDERS_PER_WRITER


def build_schema(db: Database) -> None:
    metadata.create_all(db.engine)
    with db.engine.begin() as c:
        for stmt in statements(db.engine.dialect.name):
            c.exec_driver_sql(stmt)


def seed(db: Database, writers: int, shards: int) -> None:
    """Fund the shared village and one village per writer; open every writer's holders."""
    for village in [SHARED_VILLAGE] + [OWN_VILLAGE_BASE + w for w in range(writers)]:
        book.write(db, lambda s, v=village: book.allocate(
            s, town_id=TOWN_ID, village_id=v, amount=BUDGET_PER_VILLAGE, shards=shards).as_dict())
    for w in range(writers):
        with db.transaction() as s:
            for i in range(HOLDERS_PER_WRITER):
                open_account(s, holder_type="person", holder_id=holder_id(w, i),
                             purpose="points")
    seed_registry(db, writers)
    analyze(db)


def seed_registry(db: Database, writers: int) -> None:
    """The people `record_award` resolves: each holder a person in a household of its own, in
    village 1 (shared mode) or 1000 + w (own mode); and the bench catalog."""
    now = datetime.now(UTC)
    with db.transaction() as s:
        s.add(Town(id=TOWN_ID, name="基准镇", created_at=now))
        s.flush()
        s.add_all([Village(id=v, town_id=TOWN_ID, name=f"村{v}", kind="village", created_at=now)
                   for v in [SHARED_VILLAGE] + [OWN_VILLAGE_BASE + w for w in range(writers)]])
        s.flush()
        for w in range(writers):
            for shared in (True, False):
                village = SHARED_VILLAGE if shared else OWN_VILLAGE_BASE + w
                ids = [holder_id(w, i, shared) for i in range(HOLDERS_PER_WRITER)]
                s.add_all([Household(id=h, village_id=village, plate_code=f"b{h}",
                                     head_name="户", created_at=now) for h in ids])
                s.flush()
                s.add_all([Person(id=h, village_id=village, household_id=h, name="人",
                                  created_at=now) for h in ids])
            s.flush()
    store.import_catalog(db, BENCH_CATALOG, actor_id=None, town_id=TOWN_ID)


def analyze(db: Database) -> None:
    # Autovacuum is off on these machines: plans made on empty tables are slow.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE"))


def vacuum_hot(url: str) -> None:
    """Vacuum the update-heavy table before a run, as pgbench does for its own (and as
    autovacuum would in production; it is off on these machines)."""
    db = Database(url)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM account" if not db.is_sqlite else "PRAGMA optimize"))
    db.dispose()


def award_once(db: Database, *, writer: int, i: int, village: int, shards: int, tag: str) -> dict:
    holder = holder_id(writer, i)
    request = {"op": "award", "village": village, "holder": holder, "amount": 1, "rule": "bench"}
    return book.write_award(
        db, key=f"{tag}:{writer}:{i}", request=request, village_id=village,
        holder_type="person", holder_id=holder, amount=1, shards=shards, source="bench",
        source_ref=f"{tag}:{writer}:{i}", actor_id=writer,
        details={"rule_item": "bench", "rule_version": 1, "points": 1}).result


def bench_settings(url: str, shards: int) -> Settings:
    return Settings(database_url=url, redis_url="", secret_key="bench" * 9,
                    data_dir=tempfile.gettempdir(), budget_shards=shards)


def rule_award_once(db: Database, settings: Settings, *, writer: int, i: int, shared: bool,
                    tag: str) -> dict:
    """One check-out's points as `activities.awards.settle_points` asks for them."""
    holder = holder_id(writer, i, shared)
    # Each run its own activities: the item limits the minutes of one holder in one activity.
    activity = (zlib.crc32(tag.encode()) % 100_000) * 10_000_000 + i
    return rules.record_award(
        db, settings, item_code=BENCH_ITEM, holder=("person", holder), recorder=ORGANIZER_USER,
        context={"activity_id": activity, "attendance_id": activity, "minutes": 60,
                 "village_id": SHARED_VILLAGE if shared else OWN_VILLAGE_BASE + writer,
                 "activity_title": "基准", "source": "scanned"},
        key=f"{tag}:{writer}:{i}:points")


def _leave_for_worker(_engine, _ids) -> None:
    """Production's dispatch: committed outbox rows go to a worker process, not this one."""


def open_db(url: str) -> Database:
    """The database as production opens it: committed outbox rows (and the rollups that follow
    the journal) are a worker's job, not the posting process's. In the embedded default they
    run in-process after commits, at most once a second; that cost is the tailer's, measured
    apart from the posting path."""
    db = Database(url)
    outbox.attach(db, _leave_for_worker)
    return db


def backend_cpu_s(pids) -> float | None:
    """CPU seconds the given local PostgreSQL backends have used (None if not on this host)."""
    if not pids:
        return None
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
    return total / 1e9


def warmup(path: str) -> int:
    """Awards before the measurement: every holder once; for record_award twice, since the
    household's account an award opens in its own transaction is remembered only when a
    later award finds it committed (`journal.accounts`)."""
    return WARMUP_AWARDS * (2 if path == "record_award" else 1)


def awarder(db: Database, path: str, writer: int, shared: bool, shards: int, tag: str):
    """`one(i)`: the i-th award of this writer through `path`."""
    if path == "record_award":
        settings = bench_settings(db.url, shards)
        return lambda i: rule_award_once(db, settings, writer=writer, i=i, shared=shared,
                                         tag=tag)
    village = SHARED_VILLAGE if shared else OWN_VILLAGE_BASE + writer
    return lambda i: award_once(db, writer=writer, i=i, village=village, shards=shards, tag=tag)


def _writer(*args) -> None:
    try:
        _write(*args)
    except BaseException:  # noqa: BLE001 - a failed writer fails the run at once, not at a barrier
        traceback.print_exc()
        os._exit(1)


def _write(db: Database, path: str, writer: int, shared: bool, shards: int, tag: str, ready,
           go, stop_at: list[float], counts: dict) -> None:
    one = awarder(db, path, writer, shared, shards, tag)
    i = 0
    for _ in range(warmup(path)):
        one(i)
        i += 1
    ready.wait()
    go.wait()
    done, deadline = 0, stop_at[0]
    while time.monotonic() < deadline:
        one(i)
        i += 1
        done += 1
    counts[writer] = done


def _process(url: str, path: str, writers: list[int], shared: bool, shards: int,
             seconds: float, tag: str, barrier, out) -> None:
    """One client process running `writers` as threads, each on its own pooled connection (as
    pgbench runs its clients as threads of one process, and as an API process serves requests)."""
    db = open_db(url)
    pids: list[int] = []
    if not db.is_sqlite:
        event.listen(db.engine, "connect",
                     lambda dbapi, _rec: pids.append(dbapi.info.backend_pid))
    ready, go = threading.Barrier(len(writers) + 1), threading.Event()
    stop_at: list[float] = [0.0]
    counts: dict[int, int] = {}
    threads = [threading.Thread(target=_writer, args=(db, path, w, shared, shards, tag, ready,
                                                      go, stop_at, counts)) for w in writers]
    for t in threads:
        t.start()
    ready.wait()  # every thread warmed up
    barrier.wait()  # every process too
    server0, client0 = backend_cpu_s(pids), time.process_time()
    stop_at[0] = time.monotonic() + seconds
    go.set()
    for t in threads:
        t.join()
    client = time.process_time() - client0
    server = backend_cpu_s(pids)
    out.put((sum(counts.values()), client,
             None if server is None or server0 is None else server - server0))
    db.dispose()


@dataclass
class Run:
    """One measurement: transactions per second, and CPU per transaction (client and database
    server, ms; server None when it cannot be read, as for a remote server or in SQLite)."""

    rate: float
    client_ms: float
    server_ms: float | None

    @property
    def cpu_ms(self) -> float:
        return self.client_ms + (self.server_ms or 0)


def run_awards(url: str, *, writers: int, shared: bool, shards: int, seconds: float,
               tag: str, processes: int = 1, path: str = "record_award") -> Run:
    """Awards per second of `writers` concurrent writers posting through `path` for `seconds`,
    run as threads of `processes` client processes (writers dealt out among them)."""
    vacuum_hot(url)
    ctx = mp.get_context("fork")
    groups = [list(range(writers))[p::processes] for p in range(min(processes, writers))]
    barrier, out = ctx.Barrier(len(groups)), ctx.Queue()
    procs = [ctx.Process(target=_process, args=(url, path, g, shared, shards, seconds, tag,
                                                 barrier, out)) for g in groups]
    for p in procs:
        p.start()
    return collect(procs, out, seconds)


def collect(procs: list, out, seconds: float) -> Run:
    """Sum what each worker reports (count, client CPU s, server CPU s); fail at once if one
    dies (no waiting for a lost count)."""
    reports, deadline = [], time.monotonic() + seconds + 600
    while len(reports) < len(procs):
        try:
            reports.append(out.get(timeout=1))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                raise RuntimeError(f"a benchmark worker failed (exit codes {dead})") from None
    for p in procs:
        p.join()
    done = sum(r[0] for r in reports) or 1
    server = None if any(r[2] is None for r in reports) else sum(r[2] for r in reports)
    return Run(sum(r[0] for r in reports) / seconds, sum(r[1] for r in reports) / done * 1e3,
               None if server is None else server / done * 1e3)


# --- Statements per award ----------------------------------------------------------------------

class _Counting:
    """Counts what a psycopg connection sends: each execute / executemany is a statement (one
    round trip), and the BEGIN psycopg sends before the first statement of a transaction.
    Statements (and a BEGIN) sent in a pipeline (`connection.pipeline()`) share its one round
    trip: they are counted apart, and the pipelines by `_count_pipelines`."""

    counts = {"statements": 0, "begins": 0, "piped": 0, "pipelines": 0}

    def execute(self, *a, **kw):
        self._count()
        return super().execute(*a, **kw)

    def executemany(self, *a, **kw):
        self._count()
        return super().executemany(*a, **kw)

    def _count(self) -> None:
        conn = self.connection
        piped = getattr(conn, "_pipeline", None) is not None
        if not conn.autocommit and conn.info.transaction_status == \
                psycopg.pq.TransactionStatus.IDLE:
            _Counting.counts["begins"] += 1
            _Counting.counts["piped"] += piped
        _Counting.counts["statements"] += 1
        _Counting.counts["piped"] += piped


class _CountingCursor(_Counting, psycopg.Cursor):
    """The connection's cursors (`connection.cursor()`)."""


class _CountingRawCursor(_Counting, psycopg.RawCursor):
    """The journal's `$n` statements (`rawdb.RAW_CURSOR`)."""


def _count_pipelines(dbapi) -> None:  # noqa: ANN001 - a psycopg connection
    """Each pipeline is one round trip (its sync), whatever it sends."""
    opened = dbapi.pipeline

    def pipeline(*a, **kw):  # noqa: ANN202
        _Counting.counts["pipelines"] += 1
        return opened(*a, **kw)
    dbapi.pipeline = pipeline


def _counting(dbapi) -> None:  # noqa: ANN001
    dbapi.cursor_factory = _CountingCursor
    _count_pipelines(dbapi)


def count_statements(db: Database):  # noqa: ANN201 - a reader of the count
    """From now on, count every statement psycopg sends on `db`'s new connections (the ORM's
    and the prebuilt `rawdb` ones alike); returns a function giving the running count. Call it
    before `db` opens a connection."""
    rawdb.RAW_CURSOR = _CountingRawCursor
    event.listen(db.engine, "connect", lambda dbapi, _rec: _counting(dbapi))
    return lambda: _Counting.counts["statements"]


def statements_per_award(url: str, path: str, shards: int, tag: str, n: int = 200) -> dict:
    """Statements and round trips per award through `path`, counted on the client over `n`
    awards by one warmed-up writer (as `_writer` runs them): every statement the driver sends,
    plus BEGIN and COMMIT/ROLLBACK (PostgreSQL: psycopg cursors and the engine's commit
    events; SQLite: the connection's trace callback, which sees every statement)."""
    db = open_db(url)
    rawdb.RAW_CURSOR = _CountingRawCursor  # this process's raw cursors count too
    counts = {"statements": 0, "begins": 0, "ends": 0, "piped": 0, "pipelines": 0}
    if db.is_sqlite:
        def trace(sql: str) -> None:
            word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
            key = {"BEGIN": "begins", "COMMIT": "ends", "ROLLBACK": "ends"}.get(word,
                                                                               "statements")
            counts[key] += 1
        event.listen(db.engine, "connect",
                     lambda dbapi, _rec: dbapi.set_trace_callback(trace))
    else:
        event.listen(db.engine, "connect", lambda dbapi, _rec: _counting(dbapi))
        for name in ("commit", "rollback"):
            event.listen(db.engine, name,
                         lambda _conn: counts.__setitem__("ends", counts["ends"] + 1))
    one = awarder(db, path, 0, False, shards, tag)
    for i in range(warmup(path)):
        one(i)
    base = dict(_Counting.counts)
    counts.update(statements=0, begins=0, ends=0, piped=0, pipelines=0)
    for i in range(warmup(path), warmup(path) + n):
        one(i)
    if not db.is_sqlite:
        counts["statements"] = _Counting.counts["statements"] - base["statements"]
        for k in ("begins", "piped", "pipelines"):
            counts[k] = _Counting.counts[k] - base[k]
    db.dispose()
    rawdb.RAW_CURSOR = psycopg.RawCursor
    stmts = counts["statements"] / n
    trips = (counts["statements"] + counts["begins"] + counts["ends"] - counts["piped"]
             + counts["pipelines"]) / n
    return {"statements": stmts, "round_trips": trips}
