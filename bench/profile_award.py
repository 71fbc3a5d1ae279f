"""Profile one writer's awards on client CPU time: where an award's Python goes.

  .venv/bin/python -m bench.profile_award                      # record_award on PostgreSQL
  .venv/bin/python -m bench.profile_award --path write_award --backend sqlite --sort tottime
  .venv/bin/python -m bench.profile_award --no-profile --awards 1000   # CPU an award, plain

A scratch database (dropped at the end) seeded as `make bench` seeds it for one writer; the
writer awards each of its holders twice (as a running process has: account ids remembered,
statements prepared), then `--awards` more under cProfile with `time.process_time` as the clock
(waiting for the server is not counted), and the top `--top` functions are printed. On a local
PostgreSQL it also prints the server's CPU an award (its backend's, from /proc) and the WAL an
award wrote. `--seed-writers 8` seeds as `make bench` does for 8 writers (more rows in every
table when the statements are first planned).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import tempfile
import time
import uuid

from sqlalchemy import create_engine, event, text

from bench import awards
from bench.posting import DEFAULT_PG_URL
from ledger.db import Database


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.profile_award", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--path", choices=awards.PATHS, default="record_award")
    ap.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    ap.add_argument("--pg-url", default=os.environ.get("JIFEN_BENCH_PG_URL", DEFAULT_PG_URL))
    ap.add_argument("--awards", type=int, default=2000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--seed-writers", type=int, default=1,
                    help="seed as make bench does for this many writers (one writer runs)")
    ap.add_argument("--sort", default="cumulative")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--no-profile", action="store_true",
                    help="only the client CPU per award, without the profiler (which doubles it)")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="jifen_profile_")
    admin = name = None
    if args.backend == "postgres":
        name = f"jifen_profile_{uuid.uuid4().hex[:6]}"
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = args.pg_url.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite:///{os.path.join(tmp, 'profile.sqlite3')}"
    try:
        db = Database(url)
        awards.build_schema(db)
        awards.seed(db, args.seed_writers, args.shards)
        db.dispose()
        db = awards.open_db(url)
        pids: list[int] = []
        if args.backend == "postgres":
            event.listen(db.engine, "connect",
                         lambda dbapi, _rec: pids.append(dbapi.info.backend_pid))
        one = awards.awarder(db, args.path, 0, False, args.shards, "profile")
        first = awards.warmup(args.path)
        for i in range(first):
            one(i)
        prof = cProfile.Profile(time.process_time)
        lsn = _wal_lsn(db) if pids else None
        server = awards.backend_cpu_s(pids)
        wall, cpu = time.perf_counter(), time.process_time()
        if not args.no_profile:
            prof.enable()
        for i in range(first, first + args.awards):
            one(i)
        prof.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        server_after = awards.backend_cpu_s(pids)
        print(f"{args.path} on {args.backend}: {args.awards} awards, client CPU "
              f"{cpu / args.awards * 1e3:.3f} ms per award"
              f"{'' if args.no_profile else ' under the profiler'}, wall "
              f"{wall / args.awards * 1e3:.2f} ms")
        if server is not None and server_after is not None:
            print(f"  server CPU {(server_after - server) / args.awards * 1e3:.3f} ms per award, "
                  f"WAL {(_wal_lsn(db) - lsn) / args.awards:,.0f} bytes per award")
        if not args.no_profile:
            pstats.Stats(prof).sort_stats(args.sort).print_stats(args.top)
        db.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if admin is not None:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _wal_lsn(db: Database) -> int:
    """The server's WAL position, in bytes."""
    with db.engine.connect() as c:
        return int(c.execute(text("SELECT pg_current_wal_lsn() - '0/0'")).scalar())


if __name__ == "__main__":
    main()
