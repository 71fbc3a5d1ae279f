"""What one rollups catch-up costs (`rollups.catch_up`, what the worker runs after the
commits of production and what the embedded default runs once a second after an answer):
client CPU and statements, on PostgreSQL.

    .venv/bin/python -m bench.catchup                  # 70 volunteers and 5 households a round
    .venv/bin/python -m bench.catchup --volunteers 300 --rounds 20

A scratch database (dropped at the end) gets a town with two villages (built as the tests
build theirs, tests/builders/recognition.py). Each round, `--volunteers` people receive points
and certified service minutes (as a check-out books them) and `--households` households
receive points, none of it followed; then one catch-up applies the round. Printed: the
median (min–max) of the rounds after the first two, of the catch-up's client CPU (this
process) and of the statements it sends, beside pgbench's TPC-B on the same server in the same
run (`--tpcb-seconds`, 0 skips it), with the catch-up's CPU in TPC-B transactions' worth, so
that runs on machines of different speed compare (every one psycopg sends, as `bench.awards` counts
them: the ORM's and the prebuilt ones alike).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench import checkin_load as load
from bench.awards import count_statements
from bench.tpcb import tpcb_rate
from ledger import outbox
from ledger.db import Database
from ledger.journal import ddl
from ledger.models import metadata
from ledger.recognition import rollups
from tests.builders.recognition import award, make_world, serve

WARMUP_ROUNDS = 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.catchup", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--volunteers", type=int, default=70)
    ap.add_argument("--households", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--tpcb-seconds", type=float, default=10)
    args = ap.parse_args(argv)
    tps = tpcb_rate(load.ADMIN_URL, args.tpcb_seconds, load.TPCB_CLIENTS)
    name, url = load.scratch_db()
    db = Database(url)
    sent = count_statements(db)
    try:
        metadata.create_all(db.engine)
        with db.engine.begin() as c:
            for stmt in ddl.statements("postgresql"):
                c.exec_driver_sql(stmt)
        w = make_world(db, people=args.volunteers, households=args.households)
        outbox.attach(db, lambda engine, ids: None)  # nothing followed but by the catch-up
        cpu, statements, applied = [], [], []
        for r in range(WARMUP_ROUNDS + args.rounds):
            for i, person in enumerate(w.people):
                award(db, w.village_of_person(i), "person", person, 1 + r % 3, follow=False)
                serve(db, w, person, 90, follow=False)
            for j, home in enumerate(w.households):
                award(db, w.villages[j % len(w.villages)], "household", home, 2, follow=False)
            before = sent()
            t0 = time.process_time()
            got = rollups.catch_up(db)
            if r >= WARMUP_ROUNDS:
                cpu.append((time.process_time() - t0) * 1000)
                statements.append(sent() - before)
                applied.append(got["postings"])
        print(f"catch-up of {statistics.median(applied):.0f} postings ({args.volunteers} "
              f"volunteers' points and minutes, {args.households} households' points), "
              f"median of {args.rounds} rounds (min–max):")
        print(f"  client CPU {statistics.median(cpu):.1f} ms ({min(cpu):.1f}–{max(cpu):.1f}); "
              f"statements {statistics.median(statements):.0f} "
              f"({min(statements)}–{max(statements)})")
        if tps:
            cores = os.cpu_count() or 1
            print(f"  TPC-B on the same server, {load.TPCB_CLIENTS} clients: {tps:,.0f} tps: one "
                  f"catch-up's client CPU is {statistics.median(cpu) / 1000 * tps / cores:.0f} "
                  f"TPC-B transactions' worth of this host's {cores} cores")
        return 0
    finally:
        db.dispose()
        load.drop_db(name)


if __name__ == "__main__":
    raise SystemExit(main())
