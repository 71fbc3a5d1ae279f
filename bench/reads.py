"""Read paths under load (issue #23.6): the public door-plate page (`/h/{plate}`) and the
village ranking (`/rank`) at a fixed open-loop rate for a minute, on production settings
(PostgreSQL, 2 uvicorn workers, Redis, a Celery worker and beat), with pgbench's TPC-B
measured in the same run on the same server so figures from different machines compare.

    .venv/bin/python -m bench.reads                     # 200 requests/s for 60 s
    .venv/bin/python -m bench.reads --rate 200 --seconds 60 --households 2000 --entries 200000
    .venv/bin/python -m bench.reads --page-costs 200 --profile 40   # CPU a request, in process

Seed: a town of 20 villages, Baogai's demo rule catalog, and `--households` households with a
year of civility entries (90 % awards, 10 % deductions) generated on the server with set-based
SQL, the rollups rebuilt
from that journal (`rollups.rebuild`, timed), ANALYZE. Both pages read the rollups
(ledger/recognition/scores.py); the door plate also lists the household's latest entries.
Latency is measured from each request's scheduled instant (queueing included); an error is
any answer but 200 or a failed request. Targets: p99 < 50 ms, 0 errors.
Environment: JIFEN_BENCH_PG_URL (admin URL), JIFEN_BENCH_REDIS_URL (default Redis db 3).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from bench import loadgen
from bench.awards import build_schema
from bench.checkin_load import (
    ADMIN_URL,
    drop_db,
    free_port,
    pct,
    scratch_db,
    server_env,
    start_server,
    start_workers,
)
from bench.tpcb import PgBench
from ledger.db import Database
from ledger.recognition import rollups
from ledger.rules import store
from ledger.timeutil import utcnow

VILLAGES = 20
CATALOG = Path(store.__file__).resolve().parent / "catalogs" / "baogai.yaml"
P99_TARGET_MS = 50.0
TPCB_CLIENTS = 8
TPCB_SECONDS = 10
CLIENTS, CONNECTIONS_PER_CLIENT = 50, 4
WARMUP_S, WARMUP_PLATES = 15.0, 20


def seed(db: Database, households: int, entries: int) -> None:
    """Registry, accounts and a year of household entries, generated on the server."""
    year0 = datetime(utcnow().year, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    span = max(3600, int((utcnow().replace(tzinfo=None) - year0).total_seconds()) - 3600)
    p = {"h": households, "e": entries, "v": VILLAGES, "y0": year0, "span": span}
    acct = ("INSERT INTO account (id, unit, holder_type, holder_id, purpose, shard, overdraft, "
            "balance, pending_out, pending_in, posting_count, head_hash, created_at) ")
    sql = [
        "INSERT INTO town (id, name, city, prefecture, created_at) VALUES "
        "(1, '宝盖镇', '石狮市', '泉州市', now())",
        "INSERT INTO village (id, town_id, name, kind, created_at) SELECT g, 1, '村' || g, "
        "'village', now() FROM generate_series(1, :v) g",
        "INSERT INTO household (id, village_id, plate_code, head_name, address, created_at) "
        "SELECT g, 1 + g % :v, 'plate' || g, '陈' || g, '', now() "
        "FROM generate_series(1, :h) g",
        "SELECT setval(pg_get_serial_sequence('household', 'id'), :h)",
        acct + "SELECT g, 'points', 'household', g, 'points', 0, 'deductions_only', 0, 0, 0, 0, "
        "repeat('0', 64), now() FROM generate_series(1, :h) g",
        acct + "SELECT :h + g, 'points', 'village', g, 'budget', 0, 'forbidden', 0, 0, 0, 0, "
        "repeat('0', 64), now() FROM generate_series(1, :v) g",
        "SELECT setval(pg_get_serial_sequence('account', 'id'), :h + :v)",
        "CREATE UNLOGGED TABLE bench_gen AS SELECT g AS id, (g % 10 <> 0) AS award, "
        "1 + (g::bigint * 7919) % :h AS hh, "
        "CAST(:y0 AS timestamp) + make_interval(secs => (g::bigint * 7927) % :span) AS at "
        "FROM generate_series(1, :e) g",
        "INSERT INTO journal_entry (id, unit, kind, created_at, memo, source, source_ref, "
        "details, digest) SELECT id, 'points', CASE WHEN award THEN 'award' ELSE 'deduct' END, "
        "at, '', 'rule', '', CASE WHEN award THEN "
        "CAST('{\"item\": \"A01\", \"item_name\": \"门前三包\"}' AS json) ELSE "
        "CAST('{\"item\": \"C06\", \"item_name\": \"乱堆乱放\"}' AS json) END, "
        "md5(id::text) || md5(id::text) FROM bench_gen",
        "SELECT setval(pg_get_serial_sequence('journal_entry', 'id'), :e)",
        "CREATE UNLOGGED TABLE bench_lines AS SELECT id AS entry_id, hh AS acct, "
        "CASE WHEN award THEN 1 + id % 10 ELSE -(1 + id % 5) END AS amount, at FROM bench_gen "
        "UNION ALL SELECT id, :h + 1 + hh % :v, "
        "CASE WHEN award THEN -(1 + id % 10) ELSE 1 + id % 5 END, at FROM bench_gen",
        "INSERT INTO posting (entry_id, account_id, amount, seq, balance_after, hash, created_at) "
        "SELECT entry_id, acct, amount, row_number() OVER (PARTITION BY acct ORDER BY entry_id), "
        "sum(amount) OVER (PARTITION BY acct ORDER BY entry_id), "
        "md5(entry_id::text || acct) || md5(acct::text), at FROM bench_lines",
        "UPDATE account a SET balance = x.b, posting_count = x.n FROM (SELECT acct, sum(amount) b, "
        "count(*) n FROM bench_lines GROUP BY acct) x WHERE a.id = x.acct",
        "DROP TABLE bench_gen",
        "DROP TABLE bench_lines",
    ]
    with db.engine.begin() as c:
        c.execute(text("SET LOCAL synchronous_commit = off"))
        for stmt in sql:
            c.execute(text(stmt), {k: v for k, v in p.items() if f":{k}" in stmt})
    # the town's rules, as in production: pages read the scale, the standing states and the
    # star thresholds from the catalog in force (Baogai's demo catalog: half points)
    store.import_catalog(db, CATALOG.read_text(encoding="utf-8"), actor_id=None, town_id=1)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))  # autovacuum is off on these machines


async def load(base: str, plates: list[str], rate: float, seconds: float,
               rank_share: float, rnd: random.Random) -> dict[str, dict]:
    """Open loop: request i at start + i / rate; the kind drawn with `rank_share` for /rank."""
    out: dict[str, dict] = {k: {"lat": [], "at": [], "errors": 0, "codes": {}}
                            for k in ("plate", "rank")}
    # Many small clients: one httpx client with hundreds of requests waiting on its pool spent
    # more CPU managing the pool than the server spent answering (measured: the generator at
    # 66 % CPU, the server idle); kept with aiohttp (bench/loadgen.py).
    clients = [loadgen.session(base, CONNECTIONS_PER_CLIENT) for _ in range(CLIENTS)]
    try:
        start = time.perf_counter() + 0.5

        async def one(i: int, at: float, kind: str, path: str) -> None:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            rec = out[kind]
            try:
                status, _ = await loadgen.get(clients[i % CLIENTS], path)
                ok = status == 200
                if not ok:
                    rec["codes"][status] = rec["codes"].get(status, 0) + 1
            except loadgen.ERRORS as exc:
                ok = False
                rec["codes"][type(exc).__name__] = rec["codes"].get(type(exc).__name__, 0) + 1
            rec["lat"].append((time.perf_counter() - at) * 1e3)
            rec["at"].append(at - start)
            rec["errors"] += 0 if ok else 1

        tasks = []
        for i in range(int(rate * seconds)):
            if rnd.random() < rank_share:
                tasks.append(one(i, start + i / rate, "rank", "/rank"))
            else:
                tasks.append(one(i, start + i / rate, "plate", f"/h/{rnd.choice(plates)}"))
        await asyncio.gather(*tasks)
    finally:
        for c in clients:
            await c.close()
    return out


TIMELINE_WINDOW_S = 5


def print_timeline(res: dict[str, dict], seconds: float) -> None:
    """p50, p99 and max of both pages together per TIMELINE_WINDOW_S of scheduled time: whether
    the slow answers are spread over the minute or piled in one stall (and when)."""
    rows: dict[int, list[float]] = {}
    for r in res.values():
        for at, lat in zip(r["at"], r["lat"], strict=True):
            rows.setdefault(int(at // TIMELINE_WINDOW_S), []).append(lat)
    print(f"   by {TIMELINE_WINDOW_S} s of the run (scheduled time): p50 / p99 / max, ms")
    for w in sorted(rows):
        lat = rows[w]
        print(f"     {w * TIMELINE_WINDOW_S:>4}-{(w + 1) * TIMELINE_WINDOW_S:<4} s  n={len(lat):>5}  "
              f"{pct(lat, 50):8.1f} {pct(lat, 99):9.1f} {max(lat):9.1f}")


def page_costs(env: dict, plates: list[str], n: int, profile: int = 0
               ) -> dict[str, tuple[float, float]]:
    """Each page `n` times in this process, on the server's settings (Litestar's test client,
    after a warm-up): page → (CPU ms a request, statements a request). `plate` asks `n`
    different plates once each (first visits: built), `plate again` the same ones again (kept
    in the read cache while nothing changed), `plate 304` the same with the ETag each got,
    `rank` the ranking `n` times. The CPU is the whole process's (the handler's thread and
    the client's), so it is an upper bound of the server's; compare it with the same figure of
    another commit, not with latencies. `profile`: print that many functions of each kind by
    inclusive CPU (yappi, which sees the handlers' worker threads; `pip install yappi`)."""
    from litestar.testing import TestClient
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from api.app import create_app
    os.environ.update(env)
    sent = [0]

    def count(*_a) -> None:
        sent[0] += 1

    event.listen(Engine, "before_cursor_execute", count)
    out = {}
    plate_paths = [f"/h/{plates[i * 37 % len(plates)]}" for i in range(5, n + 5)]
    etags: dict[str, str] = {}
    try:
        with TestClient(create_app()) as client:
            for path in [f"/h/{p}" for p in plates[-5:]] + ["/rank"] * 5:
                if client.get(path).status_code != 200:
                    raise RuntimeError(f"{path} did not answer 200")
            for kind, paths in (("plate", plate_paths), ("plate again", plate_paths),
                                ("plate 304", plate_paths), ("rank", ["/rank"] * n)):
                sent[0] = 0
                if profile:
                    import yappi
                    yappi.clear_stats()
                    yappi.set_clock_type("cpu")
                    yappi.start()
                t0 = time.process_time()
                for path in paths:
                    tag = {"If-None-Match": etags[path]} if kind == "plate 304" and \
                        path in etags else {}
                    r = client.get(path, headers=tag)
                    if r.headers.get("etag"):
                        etags[path] = r.headers["etag"]
                out[kind] = ((time.process_time() - t0) * 1e3 / n, sent[0] / n)
                if profile:
                    yappi.stop()
                    _print_profile(kind, yappi.get_func_stats(), n, profile)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    return out


def _print_profile(kind: str, stats, n: int, top: int) -> None:  # noqa: ANN001
    """Functions by inclusive CPU a request (ms), the request's own calls first."""
    print(f"\n-- {kind}: inclusive CPU ms a request (yappi; profiling inflates it) --")
    rows = sorted(stats, key=lambda f: -f.ttot)[:top]
    for f in rows:
        where = f"{Path(f.module).parent.name}/{Path(f.module).name}:{f.lineno}"
        print(f"   {f.ttot * 1e3 / n:8.2f} {f.tsub * 1e3 / n:8.2f}  {f.ncall / n:7.1f}  "
              f"{f.name[:48]:<48} {where[-50:]}")


def run(args) -> int:
    name, url = scratch_db()
    tmp = Path(tempfile.mkdtemp(prefix="jifen-reads-"))
    secret = uuid.uuid4().hex + uuid.uuid4().hex
    db = Database(url)
    bench_db = f"jifen_tpcb_{uuid.uuid4().hex[:6]}"
    proc, helpers, pgb = None, [], None
    try:
        build_schema(db)
        t0 = time.monotonic()
        seed(db, args.households, args.entries)
        seed_s = time.monotonic() - t0
        t0 = time.monotonic()
        rb = rollups.rebuild(db)
        rebuild_s = time.monotonic() - t0
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("ANALYZE"))
        print(f"seeded {args.households:,} households, {args.entries:,} entries in {seed_s:.0f} s;"
              f" rollups rebuilt in {rebuild_s:.1f} s ({rb['rollup_rows']:,} rows)", flush=True)
        pgb = PgBench(ADMIN_URL, bench_db)
        tpcb = pgb.run(TPCB_CLIENTS, TPCB_SECONDS).rate
        pgb.drop()
        pgb = None
        print(f"TPC-B (pgbench -s 8 -c {TPCB_CLIENTS}, {TPCB_SECONDS} s), same server: "
              f"{tpcb:.0f}/s", flush=True)
        port = free_port()
        env = server_env(url, secret, tmp, port, args.redis_url)
        if args.page_costs:
            costs = page_costs(env, [f"plate{i}" for i in range(1, args.households + 1)],
                               args.page_costs, args.profile)
            for kind, (cpu_ms, stmts) in costs.items():
                print(f"   {kind:<11} in process, {args.page_costs} requests: {cpu_ms:.1f} ms CPU "
                      f"and {stmts:.1f} statements a request", flush=True)
            return 0
        helpers = start_workers(env, tmp / "server.log")
        proc = start_server(env, port, args.workers, tmp / "server.log")
        base = f"http://127.0.0.1:{port}"
        plates = [f"plate{i}" for i in range(1, args.households + 1)]
        rnd = random.Random(7)
        # A running server is warm: its connection pools open, templates compiled, the
        # ranking kept. The warm-up opens them at the rate to measure, on WARMUP_PLATES plates
        # that the minute then never asks for (every plate it asks is still unvisited).
        warm_plates, plates = plates[-WARMUP_PLATES:], plates[:-WARMUP_PLATES]
        warm = asyncio.run(load(base, warm_plates, args.rate, WARMUP_S, args.rank_share, rnd))
        warm_lat = [x for r in warm.values() for x in r["lat"]]
        print(f"warm-up: {WARMUP_S:.0f} s at {args.rate:.0f}/s on /rank and {WARMUP_PLATES} "
              f"plates not measured: p50 {pct(warm_lat, 50):.1f} ms, p99 "
              f"{pct(warm_lat, 99):.1f} ms, errors {sum(r['errors'] for r in warm.values())}",
              flush=True)
        t0 = time.monotonic()
        res = asyncio.run(load(base, plates, args.rate, args.seconds, args.rank_share, rnd))
        took = time.monotonic() - t0
        print(f"\n== read paths: {args.rate:.0f} requests/s for {args.seconds:.0f} s, "
              f"{args.workers} uvicorn workers, Celery worker and beat, Redis, PostgreSQL "
              f"({os.cpu_count()} cores; load generator on the same machine) ==")
        total_err = 0
        for kind, label in (("plate", "door plate /h/{plate}"), ("rank", "village ranking /rank")):
            lat, err = res[kind]["lat"], res[kind]["errors"]
            total_err += err
            if not lat:
                continue
            print(f"   {label:<24} n={len(lat):>6}  p50 {pct(lat, 50):7.1f} ms  "
                  f"p99 {pct(lat, 99):7.1f} ms  max {max(lat):7.1f} ms  errors {err} "
                  f"{res[kind]['codes'] or ''}")
        print_timeline(res, args.seconds)
        n = sum(len(r["lat"]) for r in res.values())
        print(f"   served {n / took:.0f} requests/s over {took:.0f} s; TPC-B {tpcb:.0f}/s; "
              f"requests / TPC-B = {args.rate / tpcb:.2f}")
        worst = max(pct(r["lat"], 99) for r in res.values() if r["lat"])
        ok = worst < P99_TARGET_MS and total_err == 0
        print(f"   target p99 < {P99_TARGET_MS:.0f} ms and 0 errors: "
              f"{'met' if ok else 'MISSED'} (worst p99 {worst:.1f} ms, errors {total_err})")
        return 0 if ok else 1
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)
        for h in helpers:
            h.terminate()
            h.wait(timeout=30)
        if pgb:
            pgb.drop()
        db.dispose()
        if not args.keep:
            drop_db(name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--households", type=int, default=2000)
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--rank-share", type=float, default=0.5,
                    help="share of requests for /rank (the rest: door plates)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--redis-url", default=os.environ.get("JIFEN_BENCH_REDIS_URL",
                                                          "redis://127.0.0.1:6379/3"))
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    ap.add_argument("--page-costs", type=int, default=0, metavar="N",
                    help="instead of the load: each page N times in this process, CPU and "
                         "statements a request (after TPC-B, on the same seed)")
    ap.add_argument("--profile", type=int, default=0, metavar="TOP",
                    help="with --page-costs: the TOP functions of each page by inclusive CPU "
                         "(yappi)")
    ap.add_argument("--other-work", type=float, default=0.0, metavar="CORES",
                    help="CPU-bound processes worth CORES cores running beside the whole "
                         "bench, TPC-B included (the issue's loaded machine of TPC-B ~2,000)")
    args = ap.parse_args(argv)
    from bench.tpcb import other_work
    with other_work(args.other_work):
        return run(args)


if __name__ == "__main__":
    sys.exit(main())
