"""Our side of the comparison: single award postings (village budget → person points) through
the ledger's public path for them, `book.write_award` (one statement on PostgreSQL once the
accounts are known, else `book.write` + `book.award`), with an idempotency key as every real
award has. Each writer is its own process with its own holders."""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from dataclasses import dataclass

from sqlalchemy import event, text

from ledger import outbox
from ledger.db import Database
from ledger.journal import book
from ledger.journal.accounts import open_account
from ledger.journal.ddl import statements
from ledger.models import metadata

TOWN_ID = 1
SHARED_VILLAGE = 1
OWN_VILLAGE_BASE = 1000  # writer w's own budget belongs to village 1000 + w
HOLDERS_PER_WRITER = 500
BUDGET_PER_VILLAGE = 10**11
# Each writer first awards every one of its holders once: a long-running process knows the ids
# of the accounts it posts to (`accounts.remembered`), and the measurement is of that state.
WARMUP_AWARDS = HOLDERS_PER_WRITER


def holder_id(writer: int, i: int) -> int:
    return (writer + 1) * 1_000_000 + i % HOLDERS_PER_WRITER


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
    analyze(db)


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


def _writer(db: Database, writer: int, shared: bool, shards: int, tag: str, ready, go,
            stop_at: list[float], counts: dict) -> None:
    village = SHARED_VILLAGE if shared else OWN_VILLAGE_BASE + writer
    i = 0
    for _ in range(WARMUP_AWARDS):
        award_once(db, writer=writer, i=i, village=village, shards=shards, tag=tag)
        i += 1
    ready.wait()
    go.wait()
    done, deadline = 0, stop_at[0]
    while time.monotonic() < deadline:
        award_once(db, writer=writer, i=i, village=village, shards=shards, tag=tag)
        i += 1
        done += 1
    counts[writer] = done


def _process(url: str, writers: list[int], shared: bool, shards: int, seconds: float, tag: str,
             barrier, out) -> None:
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
    threads = [threading.Thread(target=_writer, args=(db, w, shared, shards, tag, ready, go,
                                                      stop_at, counts)) for w in writers]
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
               tag: str, processes: int = 1) -> Run:
    """Awards per second of `writers` concurrent writers posting for `seconds`, run as threads
    of `processes` client processes (writers dealt out among them)."""
    vacuum_hot(url)
    ctx = mp.get_context("fork")
    groups = [list(range(writers))[p::processes] for p in range(min(processes, writers))]
    barrier, out = ctx.Barrier(len(groups)), ctx.Queue()
    procs = [ctx.Process(target=_process, args=(url, g, shared, shards, seconds, tag, barrier,
                                                 out)) for g in groups]
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
