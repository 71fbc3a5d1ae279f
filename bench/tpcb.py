"""The yardstick: pgbench's built-in TPC-B on PostgreSQL, and the same transaction in a plain
sqlite3 script on SQLite, each run in a scratch database of its own."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import re
import resource
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import psycopg

TPCB_SCALE = 8
_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)
_DONE = re.compile(r"number of transactions actually processed: (\d+)")


def pg_env(url: str) -> tuple[list[str], dict]:
    """pgbench/psql connection arguments from a SQLAlchemy URL."""
    u = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    args = ["-h", u.hostname or "127.0.0.1", "-p", str(u.port or 5432),
            "-U", unquote(u.username or "postgres")]
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = unquote(u.password)
    return args, env


class _BackendWatch:
    """Follows the CPU of pgbench's server backends (local server only): every few ms, the pids
    connected to its database (one persistent connection asks), and their /proc/<pid>/schedstat
    until they exit. Approximate by at most one poll interval per backend."""

    POLL_S = 0.05

    def __init__(self, admin_url: str, dbname: str) -> None:
        self.dbname = dbname
        self.conn = psycopg.connect(admin_url.replace("postgresql+psycopg://", "postgresql://"),
                                    autocommit=True)
        self.last: dict[int, int] = {}
        self.cpu_s: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            pids = [r[0] for r in self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.dbname,))]
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/schedstat") as f:
                        self.last[pid] = int(f.read().split()[0])
                except (OSError, ValueError, IndexError):
                    continue
            time.sleep(self.POLL_S)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        self.conn.close()
        if self.last:
            self.cpu_s = sum(self.last.values()) / 1e9


class PgBench:
    """pgbench -i -s 8 into a scratch database; run() returns TPC-B transactions per second."""

    def __init__(self, admin_url: str, dbname: str) -> None:
        self.args, self.env = pg_env(admin_url)
        self.admin_url, self.dbname = admin_url, dbname
        self._psql(f'CREATE DATABASE "{dbname}"', "postgres")
        subprocess.run(["pgbench", *self.args, "-i", "-q", "-s", str(TPCB_SCALE), dbname],
                       check=True, env=self.env, capture_output=True)
        self._psql("ANALYZE", dbname)

    def _psql(self, sql: str, dbname: str) -> None:
        subprocess.run(["psql", *self.args, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbname,
                        "-c", sql], check=True, env=self.env, capture_output=True)

    def run(self, clients: int, seconds: float):
        # What pgbench does itself without -n; autovacuum would in production (it is off here).
        self._psql("VACUUM pgbench_branches, pgbench_tellers", self.dbname)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen(["pgbench", *self.args, "-c", str(clients), "-j", str(clients),
                                 "-T", str(max(1, round(seconds))), "-n", self.dbname],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        server = _BackendWatch(self.admin_url, self.dbname)
        out, err = proc.communicate()
        server.stop()
        if proc.returncode != 0:
            raise RuntimeError(f"pgbench failed:\n{err}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        m = _TPS.search(out)
        if not m:
            raise RuntimeError(f"no tps in pgbench output:\n{out}")
        tps = float(m.group(1))
        n = _DONE.search(out)
        done = max(1, int(n.group(1)) if n else round(tps * max(1, round(seconds))))
        client = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        from bench.awards import Run
        return Run(tps, client / done * 1e3,
                   None if server.cpu_s is None else server.cpu_s / done * 1e3)

    def drop(self) -> None:
        self._psql(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)', "postgres")


def tpcb_rate(admin_url: str, seconds: float, clients: int = 8) -> float:
    """pgbench's TPC-B rate (tps) at `clients` in a scratch database of its own, dropped after:
    the yardstick each bench prints beside its own figures. 0 when `seconds` is 0."""
    if seconds <= 0:
        return 0.0
    bench = PgBench(admin_url, f"jifen_pgbench_{uuid.uuid4().hex[:8]}")
    try:
        return bench.run(clients, seconds).rate
    finally:
        bench.drop()


# One process of other work: busy for `duty` of every 100 ms, asleep for the rest.
_BURN = ("import time\nd = {duty}\nwhile True:\n    end = time.perf_counter() + d * 0.1\n"
         "    while time.perf_counter() < end:\n        pass\n    if d < 1:\n"
         "        time.sleep((1 - d) * 0.1)\n")


@contextmanager
def other_work(cores: float) -> Iterator[None]:
    """Other work loading the machine while a benchmark runs (issue #23 measured "with other
    work loading the machine", where TPC-B gave about 2,000/s at 8 clients): `cores` worth of
    CPU-bound processes at the same priority, int(cores) busy all the time and one busy for
    the fraction left. TPC-B measured under them, in the same run, says what machine that
    made; the benchmark's own figures are read beside it. 0: nothing."""
    duties = [1.0] * int(cores) + ([cores % 1] if cores % 1 else [])
    procs = [subprocess.Popen([sys.executable, "-c", _BURN.format(duty=d)]) for d in duties]
    if procs:
        print(f"other work: {cores:g} core(s) of CPU-bound processes beside the benchmark",
              flush=True)
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


# --- SQLite: the TPC-B transaction in a plain sqlite3 script, in the ledger's own file ---------

_SQLITE_SCHEMA = [
    ("CREATE TABLE IF NOT EXISTS pgbench_branches (bid INTEGER PRIMARY KEY, bbalance INTEGER, "
     "filler TEXT)"),
    ("CREATE TABLE IF NOT EXISTS pgbench_tellers (tid INTEGER PRIMARY KEY, bid INTEGER, "
     "tbalance INTEGER, filler TEXT)"),
    ("CREATE TABLE IF NOT EXISTS pgbench_accounts (aid INTEGER PRIMARY KEY, bid INTEGER, "
     "abalance INTEGER, filler TEXT)"),
    ("CREATE TABLE IF NOT EXISTS pgbench_history (tid INTEGER, bid INTEGER, aid INTEGER, "
     "delta INTEGER, mtime TEXT, filler TEXT)"),
]


def _sqlite_connect(path: str) -> sqlite3.Connection:
    # The same settings the ledger's engine uses (ledger/db.py): WAL, synchronous=NORMAL.
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def sqlite_tpcb_init(path: str) -> None:
    conn = _sqlite_connect(path)
    for stmt in _SQLITE_SCHEMA:
        conn.execute(stmt)
    conn.execute("BEGIN")
    n = TPCB_SCALE
    conn.executemany("INSERT INTO pgbench_branches VALUES (?, 0, '')",
                     [(b,) for b in range(1, n + 1)])
    conn.executemany("INSERT INTO pgbench_tellers VALUES (?, ?, 0, '')",
                     [(t, (t - 1) // 10 + 1) for t in range(1, 10 * n + 1)])
    conn.executemany("INSERT INTO pgbench_accounts VALUES (?, ?, 0, ?)",
                     [(a, (a - 1) // 100000 + 1, " " * 84) for a in range(1, 100000 * n + 1)])
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _sqlite_tpcb_worker(path: str, seconds: float, barrier, out) -> None:
    conn = _sqlite_connect(path)
    rnd = random.Random(os.getpid())
    n = TPCB_SCALE
    barrier.wait()
    done, deadline, cpu0 = 0, time.monotonic() + seconds, time.process_time()
    while time.monotonic() < deadline:
        aid, tid, bid = rnd.randint(1, 100000 * n), rnd.randint(1, 10 * n), rnd.randint(1, n)
        delta = rnd.randint(-5000, 5000)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?",
                     (delta, aid))
        conn.execute("SELECT abalance FROM pgbench_accounts WHERE aid = ?", (aid,)).fetchone()
        conn.execute("UPDATE pgbench_tellers SET tbalance = tbalance + ? WHERE tid = ?",
                     (delta, tid))
        conn.execute("UPDATE pgbench_branches SET bbalance = bbalance + ? WHERE bid = ?",
                     (delta, bid))
        conn.execute("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
                     "VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP)", (tid, bid, aid, delta))
        conn.execute("COMMIT")
        done += 1
    out.put((done, time.process_time() - cpu0, None))
    conn.close()


def sqlite_tpcb_run(path: str, clients: int, seconds: float):
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(clients), ctx.Queue()
    procs = [ctx.Process(target=_sqlite_tpcb_worker, args=(path, seconds, barrier, out))
             for _ in range(clients)]
    for p in procs:
        p.start()
    from bench.awards import collect
    return collect(procs, out, seconds)
