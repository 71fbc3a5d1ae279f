"""Bulk history: a town's years of records (points and service hours per person, from its paper
ledgers or another system's export) loaded through the history import (`jifen sheets import
history FILE…`, ledger/sheets/history.py), timed, on PostgreSQL.

    .venv/bin/python -m bench.history                       # 5 files × 19,999 rows
    .venv/bin/python -m bench.history --files 1 --rows 5000 # a smoke run

A scratch database gets the schema, one town with VILLAGES villages, `--people` people (made
with set-based SQL, as bench/recognition.py does) and a funded budget per village. Then CSV
files of `--rows` rows each (a row: a person, a date between 2019 and last year, points, a
third of them with service hours too, a reason, a source, an original number) are imported one
after another, each whole in one transaction, as the command imports them. Printed per file, and
as the median (min–max) over the files: postings per second for the whole import (read, check,
post) and for its posting phase alone (journal.bulk.post_many: accounts locked, digests and
chains computed, COPY, accounts written; posting's foreign keys dropped and validated once
when the load is big beside the journal). Then: the first file imported again (answered from
its idempotency record, nothing posted), the rollups rebuilt from the journal (`rollups.rebuild`, timed) and
the audit (must be clean: balances, digests, hash chains). First, pgbench's TPC-B at 8 clients on the same server
(`--tpcb-seconds`, 0 skips it): the posting rate is printed as a multiple of it too, so that
runs on machines of different speed (or differently loaded) compare. Target (issue #23):
≥ 100,000 postings/s on PostgreSQL.
Exit status 1 when the audit is not clean or the target is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from datetime import date, timedelta

from sqlalchemy import create_engine, func, select, text

from bench.cpu import CpuUse
from bench.tpcb import tpcb_rate
from ledger.db import Database
from ledger.identity.service import SYSTEM
from ledger.journal import bulk
from ledger.journal import service as journal
from ledger.journal.models import JournalEntry, Posting
from ledger.recognition import rollups
from ledger.sheets import history, tabular

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
VILLAGES = 20
SHARDS = 8
BUDGET_STEPS = 10**11  # per village: far above what the files award
TARGET_POSTINGS_S = 100_000
HEADER = ",".join(c.header for c in history.COLUMNS)


def seed(db: Database, people: int) -> None:
    with db.engine.begin() as c:
        c.execute(text("INSERT INTO town (id, name, city, prefecture, created_at) VALUES "
                       "(1, '历史基准镇', '石狮市', '泉州市', now())"))
        c.execute(text("INSERT INTO village (id, town_id, name, kind, created_at) SELECT g, 1, "
                       "'村' || g, 'village', now() FROM generate_series(1, :v) g"),
                  {"v": VILLAGES})
        c.execute(text("INSERT INTO person (id, village_id, name, is_volunteer, created_at) "
                       "SELECT g, 1 + g % :v, '志愿者' || g, true, now() "
                       "FROM generate_series(1, :p) g"), {"v": VILLAGES, "p": people})
        for t in ("town", "village", "person"):
            c.execute(text(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "
                           f"(SELECT max(id) FROM {t}))"))
    for v in range(1, VILLAGES + 1):
        journal.allocate(db, shards=SHARDS, town_id=1, village_id=v, amount=BUDGET_STEPS,
                         actor_id=None, key=None)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))


def history_file(n: int, rows: int, people: int, rnd: random.Random) -> bytes:
    """`rows` rows of one file: every row distinct (its original number is)."""
    last = date.today().replace(month=1, day=1) - timedelta(days=1)
    span = (last - date(2019, 1, 1)).days
    out = [HEADER]
    for i in range(rows):
        p = rnd.randint(1, people)
        on = date(2019, 1, 1) + timedelta(days=rnd.randint(0, span))
        points = rnd.choice(("1", "2", "3", "5", "10", "-2"))
        hours = rnd.choice(("1.5", "2", "3")) if i % 3 == 0 else ""
        out.append(f"村{1 + p % VILLAGES},个人,志愿者{p},,,,{on.isoformat()},{points},{hours},"
                   f"参加环境整治,历史台账{on.year},{n}-{i}")
    return ("\n".join(out) + "\n").encode()


class _Timed:
    """Times journal.bulk.post_many as the history import calls it."""

    def __init__(self) -> None:
        self.seconds = self.cpu_s = 0.0
        self.real = history.post_many
        history.post_many = self

    def __call__(self, s, entries):  # noqa: ANN001, ANN204
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return self.real(s, entries)
        finally:
            self.seconds += time.perf_counter() - t0
            self.cpu_s += time.process_time() - c0


class _Steps:
    """With --steps: the wall time of each step of an import (the check, opening accounts, and
    post_many's own steps: lock, digests and chains, ids, foreign keys, COPY, write-back)."""

    STEPS = ((bulk, "_lock"), (bulk, "_entry_ids"), (bulk, "_unchecked"), (bulk, "_post_pg"),
             (bulk, "_write_accounts"), (history, "open_accounts"))

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.saved = [(mod, name, getattr(mod, name)) for mod, name in self.STEPS]
        self.saved += [(bulk._Book, "add", bulk._Book.add),
                       (history.HistoryImport, "plan", history.HistoryImport.plan)]
        for mod, name, fn in self.saved:
            setattr(mod, name, self._timed(name, fn))

    def _timed(self, name, fn):  # noqa: ANN001, ANN202
        def timed(*a, **k):  # noqa: ANN002, ANN003, ANN202
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
        return timed

    def line(self) -> str:
        got = ", ".join(f"{k.strip('_')} {v:.2f}" for k, v in self.seconds.items())
        self.seconds.clear()
        return f"    steps (s): {got}"

    def undo(self) -> None:
        for mod, name, fn in self.saved:
            setattr(mod, name, fn)


def count_postings(db: Database) -> int:
    with db.sessions() as s:
        return s.scalar(select(func.count()).select_from(Posting))


def run(admin_url: str, files: int, rows: int, people: int, keep: bool,
        tpcb_seconds: int = 0, steps: bool = False) -> int:
    tps = tpcb_rate(admin_url, tpcb_seconds)
    if tps:
        print(f"pgbench TPC-B, 8 clients, {tpcb_seconds} s: {tps:,.0f} tps")
    name = f"jifen_hbench_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    from bench.awards import build_schema
    from ledger import outbox
    db = Database(url)
    outbox.attach(db, lambda engine, ids: None)  # rollups are caught up below, timed
    timed = _Timed()
    stepped = _Steps() if steps else None
    ok = True
    try:
        build_schema(db)
        seed(db, people)
        rnd = random.Random(23)
        data = [history_file(n, rows, people, rnd) for n in range(files)]
        total_postings = total_s = post_s = 0.0
        whole_rates: list[float] = []
        phase_rates: list[float] = []
        print(f"history into {name}: {files} file(s) × {rows:,} rows, {people:,} people, "
              f"{VILLAGES} villages ({os.cpu_count()} cores)")
        for n, blob in enumerate(data):
            before, p0, pc0 = count_postings(db), timed.seconds, timed.cpu_s
            server = CpuUse(admin_url, name, {})
            server.start()
            t0, c0 = time.perf_counter(), time.process_time()
            r = history.import_history(db, SYSTEM, blob)
            took, cpu = time.perf_counter() - t0, time.process_time() - c0
            backend_s = server.stop()["database"]
            got = count_postings(db) - before
            phase, phase_cpu = timed.seconds - p0, timed.cpu_s - pc0
            total_postings += got
            total_s += took
            post_s += phase
            whole_rates.append(got / took)
            phase_rates.append(got / phase)
            print(f"  file {n + 1}: {r.rows_booked:,} rows, {got:,} postings in {took:.2f} s "
                  f"= {got / took:,.0f} postings/s; posting phase {phase:.2f} s = "
                  f"{got / phase:,.0f} postings/s; client CPU {cpu / got * 1e6:.1f} µs a "
                  f"posting ({phase_cpu / got * 1e6:.1f} µs in the posting phase), the "
                  f"database's {backend_s / got * 1e6:.1f} µs")
            if stepped:
                print(stepped.line())
        before = count_postings(db)
        t0 = time.perf_counter()
        again = history.import_history(db, SYSTEM, data[0])
        print(f"  file 1 again: {again.rows_booked:,} rows booked (its first answer), "
              f"{count_postings(db) - before} new postings, {time.perf_counter() - t0:.2f} s")
        ok &= count_postings(db) == before
        t0 = time.perf_counter()
        built = rollups.rebuild(db)
        print(f"  rollups rebuilt from the journal: {time.perf_counter() - t0:.1f} s ({built})")
        t0 = time.perf_counter()
        report = journal.audit(db)
        with db.sessions() as s:
            entries = s.scalar(select(func.count()).select_from(JournalEntry))
        print(f"  audit: {'clean' if report['ok'] else 'FAILED'} ({entries:,} entries, "
              f"{report['postings']:,} postings, {time.perf_counter() - t0:.1f} s)")
        ok &= bool(report["ok"])
        whole, phase = statistics.median(whole_rates), statistics.median(phase_rates)
        met = phase >= TARGET_POSTINGS_S
        print(f"== history: {total_postings:,.0f} postings in {files} file(s); per file, median "
              f"(min–max): whole import {whole:,.0f} ({min(whole_rates):,.0f}–"
              f"{max(whole_rates):,.0f}) postings/s; posting phase {phase:,.0f} "
              f"({min(phase_rates):,.0f}–{max(phase_rates):,.0f}) postings/s (target ≥ "
              f"{TARGET_POSTINGS_S:,}) {'ok' if met else 'MISSED'}")
        if tps:
            print(f"   as multiples of TPC-B ({tps:,.0f} tps): whole import {whole / tps:.1f}×, "
                  f"posting phase {phase / tps:.1f}× (the target is about 50× on a machine "
                  "where TPC-B gives 2,000)")
        return 0 if ok and met else 1
    finally:
        history.post_many = timed.real
        if stepped:
            stepped.undo()
        db.dispose()
        if not keep:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=5)
    ap.add_argument("--rows", type=int, default=tabular.MAX_ROWS - 1)
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--pg-url", default=os.environ.get("JIFEN_BENCH_PG_URL", DEFAULT_PG_URL))
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    ap.add_argument("--tpcb-seconds", type=int, default=10)
    ap.add_argument("--steps", action="store_true", help="print the time of each step")
    a = ap.parse_args(argv)
    return run(a.pg_url, a.files, a.rows, a.people, a.keep, a.tpcb_seconds, a.steps)


if __name__ == "__main__":
    raise SystemExit(main())
