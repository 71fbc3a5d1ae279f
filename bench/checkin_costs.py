"""What one check-in and one check-out cost: statements, client CPU and server CPU a scan,
through `activities.service.scan` (what `POST /api/v1/c/{token}` calls), on PostgreSQL, with the
points paid as the embedded default pays them (the outbox task run in this process after the
check-out's commit). The figure a loaded machine disturbs least, for comparing commits; the load
itself is `bench.checkin_load`.

    .venv/bin/python -m bench.checkin_costs                       # 300 volunteers in, then out
    .venv/bin/python -m bench.checkin_costs --pg-log /var/log/postgresql/postgresql-15-main.log

Seeds a scratch database as `bench.checkin_load` does (dropped at the end), warms up (each
volunteer's first scan opens connections and prepares statements), then `--volunteers` check
in and out. As at a real activity, each check-in is dated `--stay-minutes` (90) before its
check-out, so the check-out books service minutes beside the points and the catch-up after it
refreshes the volunteers' stars (`--stay-minutes 0`: out a second after in, as in the load
test's minute, which books no minute). Server CPU is read from `/proc` for the scratch database's
backends (PostgreSQL on this host). With `--pg-log` (the server's log, readable here) the
database is set to `log_statement_stats` for the measured scans and the server's CPU is
printed per statement (parse, bind and execute summed), which is how the prepared statements
lost on every ROLLBACK were found (docs/ledger.md); the logging itself adds to the server's CPU
read from `/proc`, so compare commits without it. First, pgbench's TPC-B on the same server
(`--tpcb-seconds`, 0 skips it): a scan's CPU (client and server) is printed in TPC-B
transactions' worth too, so that runs on machines of different speed compare.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
from sqlalchemy import event, text

from bench import checkin_load as load
from bench.awards import backend_cpu_s
from bench.tpcb import tpcb_rate
from ledger.activities import service as checkin
from ledger.activities import tokens
from ledger.activities.models import Activity
from ledger.config import Settings
from ledger.db import Database
from ledger.timeutil import utcnow

WARMUP = 40
_STATS = re.compile(r"!\s+([\d.]+) s user, ([\d.]+) s system")
_DURATION = re.compile(r"\[(\d+)\].*duration: [\d.]+ ms\s+(?:statement|execute [^:]*|parse [^:]*"
                       r"|bind [^:]*):\s*(.*)")
_PID = re.compile(r"^\S+ \S+ \S+ \[(\d+)\]")


def _admin() -> psycopg.Connection:
    return psycopg.connect(load.ADMIN_URL.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True)


def _pids(name: str) -> list[int]:
    with _admin() as c:
        return [r[0] for r in c.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))]


def _set_stats(name: str, on: bool) -> None:
    with _admin() as c:
        if on:
            c.execute(f'ALTER DATABASE "{name}" SET log_statement_stats = on')
            c.execute(f'ALTER DATABASE "{name}" SET log_min_duration_statement = 0')
        else:
            c.execute(f'ALTER DATABASE "{name}" RESET ALL')


def per_statement(log_text: str) -> dict[str, float]:
    """Server CPU seconds by statement (its first 90 characters, numbers as ?), from a server
    log written with log_statement_stats: each message's statistics follow its duration line."""
    last: dict[str, str] = {}
    out: dict[str, float] = {}
    pid = None
    for line in log_text.splitlines():
        if m := _PID.match(line):
            pid = m.group(1)
        if m := _DURATION.search(line):
            last[m.group(1)] = re.sub(r"\$\d+|\d+", "?", m.group(2))[:90]
        elif (m := _STATS.search(line)) and pid in last:
            out[last[pid]] = out.get(last[pid], 0.0) + float(m.group(1)) + float(m.group(2))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.checkin_costs", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--volunteers", type=int, default=300)
    ap.add_argument("--pg-log", default=None, help="the server's log file, to print per statement")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--stay-minutes", type=int, default=90,
                    help="how long before its check-out each check-in is dated")
    ap.add_argument("--tpcb-seconds", type=float, default=10)
    ap.add_argument("--profile", type=int, default=0, metavar="TOP",
                    help="profile the measured scans (cProfile on CPU time) and print the TOP "
                         "functions of each, by own and by inclusive time")
    args = ap.parse_args(argv)
    tps = tpcb_rate(load.ADMIN_URL, args.tpcb_seconds, load.TPCB_CLIENTS)
    stay = timedelta(minutes=args.stay_minutes)
    name, url = load.scratch_db()
    settings = Settings(database_url=url, redis_url=None, secret_key=uuid.uuid4().hex * 2,
                        data_dir=Path(tempfile.mkdtemp(prefix="jifen-costs-")), budget_shards=8)
    db = Database(url)
    try:
        act_id, ids, _ = load.seed(db, settings, WARMUP + args.volunteers,
                                   started_ago=stay + timedelta(minutes=5))
        with db.sessions() as s:
            rotate_s = s.get(Activity, act_id).rotate_s
        db.dispose()
        if args.pg_log:
            _set_stats(name, True)  # new connections only: the pool starts afresh below
        db = Database(url)
        sent = [0]
        event.listen(db.engine, "before_cursor_execute",
                     lambda *a, **k: sent.__setitem__(0, sent[0] + 1))

        def scans(people: list[int], action: str) -> tuple[float, float | None, float]:
            before = sent[0]
            server0 = backend_cpu_s(_pids(name))
            t0 = time.process_time()
            prof = cProfile.Profile(time.process_time) if args.profile and people is not warm \
                else None
            if prof:
                prof.enable()
            for p in people:
                at = utcnow() - (stay if action == "in" else timedelta(0))
                token = tokens.rotating_token(settings.secret_key, act_id, rotate_s, at)[0]
                checkin.scan(db, settings, checkin.Scan(
                    token=token, person_id=p, user_id=10_000 + p, ip="10.0.0.9", action=action),
                    now=at)
            if prof:
                prof.disable()
                for order in ("tottime", "cumulative"):
                    print(f"profile of {len(people)} {action} scans, by {order}:")
                    pstats.Stats(prof).sort_stats(order).print_stats(args.profile)
            client = time.process_time() - t0
            server1 = backend_cpu_s(_pids(name))
            n = len(people)
            server = None if server0 is None or server1 is None else (server1 - server0) / n
            return client / n, server, (sent[0] - before) / n

        warm, group = ids[:WARMUP], ids[WARMUP:]
        scans(warm, "in")
        time.sleep(1.1)
        scans(warm, "out")
        at = os.path.getsize(args.pg_log) if args.pg_log else 0
        rows = [("check-in", *scans(group, "in"))]
        middle = os.path.getsize(args.pg_log) if args.pg_log else 0
        time.sleep(1.1)
        rows.append(("check-out, points paid in process", *scans(group, "out")))
        end = os.path.getsize(args.pg_log) if args.pg_log else 0
        print(f"{args.volunteers} volunteers, one activity, PostgreSQL; per scan:")
        for label, client, server, statements in rows:
            shown = f"{server * 1000:.2f} ms" if server is not None else "n/a (not local)"
            print(f"  {label:<36} client CPU {client * 1000:6.2f} ms   server CPU {shown}   "
                  f"statements through SQLAlchemy {statements:.1f}")
            if tps and server is not None:
                print(f"  {'':<36} = {(client + server) * tps / (os.cpu_count() or 1):.1f} "
                      f"TPC-B transactions' worth of CPU (TPC-B {tps:,.0f} tps, same server)")
        if args.pg_log:
            with open(args.pg_log, "rb") as f:
                f.seek(at)
                logs = [f.read(middle - at), f.read(end - middle)]
            for (label, *_), raw in zip(rows, logs):
                costs = per_statement(raw.decode("utf-8", "replace"))
                print(f"server CPU by statement, {label} (ms a scan):")
                for stmt, cpu in sorted(costs.items(), key=lambda kv: -kv[1])[:args.top]:
                    print(f"  {cpu * 1000 / args.volunteers:7.3f}  {stmt}")
        with db.sessions() as s:
            paid = s.execute(text("SELECT count(*) FROM attendance WHERE points_state = "
                                  "'awarded'")).scalar()
            minutes = s.execute(text("SELECT count(*), COALESCE(SUM(counted_minutes), 0) "
                                     "FROM attendance WHERE counted_minutes > 0")).one()
        print(f"attendances paid: {paid} of {len(ids)}; with service minutes booked: "
              f"{minutes[0]} ({minutes[1]:,} minutes)")
        return 0 if paid == len(ids) else 1
    finally:
        db.dispose()
        if args.pg_log:
            _set_stats(name, False)
        load.drop_db(name)


if __name__ == "__main__":
    raise SystemExit(main())
