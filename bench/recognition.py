"""Recognition at Quanzhou's scale: 1,500,000 volunteers and 20,000,000 award postings on
PostgreSQL, then a town-wide yearly honor list and a full star recomputation, timed.

    .venv/bin/python -m bench.recognition                    # the full size (about an hour)
    .venv/bin/python -m bench.recognition --people 20000 --entries 200000   # a smoke run
    .venv/bin/python -m bench.recognition --people 150000 --entries 1000000 --keep
    .venv/bin/python -m bench.recognition --database jifen_rbench_XXXXXX --repeat 3
    .venv/bin/python -m bench.recognition --towns 4 --people 150000 --entries 1000000

Targets (issue #23.4): rollups rebuilt from the journal under 120 s, honor list under 2 s, star
recomputation under 10 s, at the full size (docs/recognition.md). A scaled-down run prints the
rebuild's rate (postings/s), its median and min–max over `--repeat` runs, the wall time of each
of its phases, and pgbench's TPC-B at 8 clients measured before and after the rebuilds in the
same run (`--tpcb-seconds`). Seed once with `--keep`, then time on the kept database with
`--database` (never dropped). `--towns N` (issue #23.7, docs/scale.md): N towns as independent
books, one database each sharing `--people` and `--entries`, rebuilt one after another and all
at once. Figures: bench/README.md.

The bulk path: the journal has no bulk-load API yet, so the journal rows are generated on the
server with set-based SQL (INSERT … SELECT over generate_series, window functions for each
account's sequence and running balance): entries, postings (two per entry: the holder's and the
village budget's or the town's service account), account balances and posting counts that
agree with the postings. Hash chains are placeholders (the audit is not part of this
benchmark). Entries: 70% points awards to volunteers, 30% certified service minutes (a fifth of
the volunteers do most of the service, so stars spread over 0..5), spread over this year.
Then: ANALYZE; the rollups rebuilt from the journal (timed, reported); the honor list draft
(full catch-up + ranking; timed); the star recomputation (timed, twice: the second run must
record nothing); the database size. The scratch database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from bench.tpcb import tpcb_rate
from ledger.db import Database, drop_secondary
from ledger.recognition import honor, rollups
from ledger.recognition.tasks import recompute_stars
from ledger.timeutil import utcnow

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
VILLAGES = 20
TARGET_HONOR_S = 2.0
TARGET_STARS_S = 10.0
TARGET_REBUILD_S = 120.0
FULL_POSTINGS = 20_000_000


def _step(label: str, fn, *a, **kw):  # noqa: ANN001, ANN202
    t0 = time.monotonic()
    out = fn(*a, **kw)
    took = time.monotonic() - t0
    print(f"  {label}: {took:.1f} s", file=sys.stderr, flush=True)
    return out, took


def seed(db: Database, people: int, entries: int) -> None:
    """The registry, the accounts and the journal, generated on the server."""
    year0 = datetime(utcnow().year, 1, 1, tzinfo=UTC)
    span_s = max(3600, int((utcnow() - year0).total_seconds()) - 3600)
    p = {"people": people, "entries": entries, "v": VILLAGES, "y0": year0.replace(tzinfo=None),
         "span": span_s}
    sql = [
        "INSERT INTO town (id, name, city, prefecture, created_at) VALUES "
        "(1, '泉州基准镇', '石狮市', '泉州市', now())",
        "INSERT INTO village (id, town_id, name, kind, created_at) SELECT g, 1, '村' || g, "
        "'village', now() FROM generate_series(1, :v) g",
        "INSERT INTO person (id, village_id, name, is_volunteer, created_at) SELECT g, "
        "1 + g % :v, '志愿者' || g, true, now() FROM generate_series(1, :people) g",
        # accounts: 1..people points, people+1..2*people minutes, then budgets and service
        "INSERT INTO account (id, unit, holder_type, holder_id, purpose, shard, overdraft, "
        "balance, pending_out, pending_in, posting_count, head_hash, created_at) "
        "SELECT g, 'points', 'person', g, 'points', 0, 'deductions_only', 0, 0, 0, 0, "
        "repeat('0', 64), now() FROM generate_series(1, :people) g",
        "INSERT INTO account (id, unit, holder_type, holder_id, purpose, shard, overdraft, "
        "balance, pending_out, pending_in, posting_count, head_hash, created_at) "
        "SELECT :people + g, 'minutes', 'person', g, 'points', 0, 'deductions_only', 0, 0, 0, "
        "0, repeat('0', 64), now() FROM generate_series(1, :people) g",
        "INSERT INTO account (id, unit, holder_type, holder_id, purpose, shard, overdraft, "
        "balance, pending_out, pending_in, posting_count, head_hash, created_at) "
        "SELECT 2 * :people + g, 'points', 'village', g, 'budget', 0, 'forbidden', 0, 0, 0, 0, "
        "repeat('0', 64), now() FROM generate_series(1, :v) g",
        "INSERT INTO account (id, unit, holder_type, holder_id, purpose, shard, overdraft, "
        "balance, pending_out, pending_in, posting_count, head_hash, created_at) "
        "VALUES (2 * :people + :v + 1, 'minutes', 'town', 1, 'service', 0, 'allowed', 0, 0, 0, "
        "0, repeat('0', 64), now())",
        "SELECT setval(pg_get_serial_sequence('account', 'id'), 2 * :people + :v + 1)",
        # entries: 70% points awards, 30% minutes; the minutes mostly by a fifth of the people
        "CREATE UNLOGGED TABLE bench_gen AS SELECT g AS id, "
        "(g % 10 < 7) AS pts, "
        "CASE WHEN g % 10 < 7 OR g % 2 = 0 THEN 1 + (g::bigint * 7919) % :people "
        "     ELSE 1 + (g::bigint * 104729) % GREATEST(1, :people / 5) END AS holder, "
        ":y0 + make_interval(secs => (g::bigint * 7927) % :span) AS at "
        "FROM generate_series(1, :entries) g",
        "INSERT INTO journal_entry (id, unit, kind, created_at, memo, source, source_ref, details, "
        "digest) SELECT id, CASE WHEN pts THEN 'points' ELSE 'minutes' END, "
        "CASE WHEN pts THEN 'award' ELSE 'service' END, at, '', 'bench', '', "
        "CAST('{\"item\": \"BENCH\"}' AS json), md5(id::text) || md5(id::text) FROM bench_gen",
        "SELECT setval(pg_get_serial_sequence('journal_entry', 'id'), :entries)",
        "CREATE UNLOGGED TABLE bench_lines AS "
        "SELECT id AS entry_id, CASE WHEN pts THEN holder ELSE :people + holder END AS acct, "
        "CASE WHEN pts THEN 1 + id % 10 ELSE 30 + (holder % 8) * 30 END AS amount, at "
        "FROM bench_gen "
        "UNION ALL SELECT id, CASE WHEN pts THEN 2 * :people + 1 + holder % :v "
        "ELSE 2 * :people + :v + 1 END, "
        "-(CASE WHEN pts THEN 1 + id % 10 ELSE 30 + (holder % 8) * 30 END), at FROM bench_gen",
        "INSERT INTO posting (entry_id, account_id, amount, seq, balance_after, hash, created_at) "
        "SELECT entry_id, acct, amount, "
        "row_number() OVER (PARTITION BY acct ORDER BY entry_id), "
        "sum(amount) OVER (PARTITION BY acct ORDER BY entry_id), md5(entry_id::text || acct) "
        "|| md5(acct::text), at FROM bench_lines",
        "UPDATE account a SET balance = x.b, posting_count = x.n FROM (SELECT acct, sum(amount) b, "
        "count(*) n FROM bench_lines GROUP BY acct) x WHERE a.id = x.acct",
        "DROP TABLE bench_gen",
        "DROP TABLE bench_lines",
    ]
    with db.engine.begin() as c:
        c.execute(text("SET LOCAL work_mem = '256MB'"))
        c.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        c.execute(text("SET LOCAL synchronous_commit = off"))
        rebuild = drop_secondary(c, ("journal_entry", "posting"))
        for stmt in sql:
            t0 = time.monotonic()
            c.execute(text(stmt), {k: v for k, v in p.items() if f":{k}" in stmt})
            print(f"    {stmt[:60]}… {time.monotonic() - t0:.1f} s", file=sys.stderr,
                  flush=True)
        t0 = time.monotonic()
        for stmt in rebuild:  # indexes and foreign keys back, built once over all rows
            c.execute(text(stmt))
        print(f"    indexes and foreign keys rebuilt: {time.monotonic() - t0:.1f} s",
              file=sys.stderr, flush=True)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))  # autovacuum is off here: plans need statistics


def honor_list(db: Database) -> tuple[dict, int]:
    """The town-wide yearly top 20 by points: request, then compute (full catch-up, ranking)."""
    with db.transaction() as s:
        d = honor.create_definition(s, {
            "name": "年度志愿积分光荣榜", "scope": "town", "scope_id": 1, "period": "year",
            "metric": "points", "size": 20}, actor_id=1)
        hl = honor.request_draft(s, d.id, str(utcnow().year), None, actor_id=1)
        list_id = hl.id
    with db.transaction() as s:
        out = honor.compute_draft(s, list_id)
    return out, list_id


def stars(db: Database) -> dict:
    with db.transaction() as s:
        return recompute_stars(s, town_id=1)


def _open(admin_url: str, name: str) -> Database:
    db = Database(admin_url.rsplit("/", 1)[0] + "/" + name)
    from ledger import outbox
    outbox.attach(db, lambda engine, ids: None)  # the draft is computed below, timed
    return db


def _create(admin_url: str, people: int, entries: int, prefix: str = "jifen_rbench") -> str:
    """A scratch database with the schema and the seeded journal; returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    from bench.awards import build_schema
    db = _open(admin_url, name)
    try:
        build_schema(db)
        print(f"seeding {people:,} volunteers and {entries:,} entries "
              f"({2 * entries:,} postings) into {name}", file=sys.stderr, flush=True)
        _step("seed (bulk SQL)", seed, db, people, entries)
    finally:
        db.dispose()
    return name


def _drop(admin_url: str, names: list[str]) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for name in names:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def run(admin_url: str, people: int, entries: int, keep: bool, database: str | None = None,
        repeat: int = 1, tpcb_seconds: int = 10) -> dict:
    """Seed (or reuse `database`), TPC-B, the rebuild `repeat` times, TPC-B again, the honor
    list and the star recomputation."""
    name = database or _create(admin_url, people, entries)
    db = _open(admin_url, name)
    try:
        tps = [tpcb_rate(admin_url, tpcb_seconds)]
        rebuilds = []
        for i in range(repeat):
            rb, took = _step(f"rollups rebuilt from the journal ({i + 1}/{repeat})",
                             rollups.rebuild, db)
            print(f"    phases: {rb['phases']}", file=sys.stderr, flush=True)
            rebuilds.append((took, rb))
        tps.append(tpcb_rate(admin_url, tpcb_seconds))
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("ANALYZE"))
        (draft, list_id), honor_s = _step("honor list (town, year, top 20)", honor_list, db)
        first, stars_s = _step("star recomputation", stars, db)
        again, stars2_s = _step("star recomputation again (nothing to change)", stars, db)
        with db.engine.connect() as c:
            size = c.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))"
                                  )).scalar()
            n_post = c.execute(text("SELECT count(*) FROM posting")).scalar()
            n_people = c.execute(text("SELECT count(*) FROM person")).scalar()
            top = c.execute(text("SELECT candidates FROM honor_list WHERE id = :i"),
                            {"i": list_id}).scalar()
        times = [t for t, _ in rebuilds]
        mid = sorted(rebuilds, key=lambda r: r[0])[len(rebuilds) // 2][1]
        return {"database": name, "people": n_people, "postings": n_post, "db_size": size,
                "tpcb": tps, "rebuild_s": times, "rollup_rows": mid["rollup_rows"],
                "phases": mid["phases"], "honor_s": honor_s,
                "honor_candidates": draft["candidates"],
                "honor_top3": [(c["holder_id"], c["value"]) for c in top[:3]],
                "stars_s": stars_s, "star_changes": first, "stars_again_s": stars2_s,
                "star_changes_again": again}
    finally:
        db.dispose()
        if not keep and not database:
            _drop(admin_url, [name])


def _rebuild_in(admin_url: str, name: str) -> float:
    db = _open(admin_url, name)
    try:
        t0 = time.monotonic()
        rollups.rebuild(db)
        return time.monotonic() - t0
    finally:
        db.dispose()


def towns(admin_url: str, n: int, people: int, entries: int, keep: bool,
          databases: list[str] | None = None, repeat: int = 1, tpcb_seconds: int = 10) -> dict:
    """Issue #23.7's scaled-down province: `n` towns as independent books, one database each
    (people/n volunteers and entries/n entries apiece), their rebuilds timed one after another
    and all at once (one connection each, as n servers or n workers would run them)."""
    names = databases or [_create(admin_url, people // n, entries // n, "jifen_rtown")
                          for _ in range(n)]
    try:
        tps = [tpcb_rate(admin_url, tpcb_seconds)]
        one_by_one, at_once = [], []
        for i in range(repeat):
            t0 = time.monotonic()
            each = [_rebuild_in(admin_url, nm) for nm in names]
            one_by_one.append(time.monotonic() - t0)
            print(f"  {len(names)} rebuilds one after another: {one_by_one[-1]:.1f} s "
                  f"({', '.join(f'{t:.1f}' for t in each)})", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            with ThreadPoolExecutor(len(names)) as pool:
                each = list(pool.map(lambda nm: _rebuild_in(admin_url, nm), names))
            at_once.append(time.monotonic() - t0)
            print(f"  {len(names)} rebuilds at once: {at_once[-1]:.1f} s "
                  f"({', '.join(f'{t:.1f}' for t in each)})", file=sys.stderr, flush=True)
        tps.append(tpcb_rate(admin_url, tpcb_seconds))
        admin = create_engine(admin_url.rsplit("/", 1)[0] + "/" + names[0])
        with admin.connect() as c:
            per_town = c.execute(text("SELECT count(*) FROM posting")).scalar()
        admin.dispose()
        return {"databases": names, "towns": len(names), "postings_each": per_town,
                "tpcb": tps, "one_by_one_s": one_by_one, "at_once_s": at_once}
    finally:
        if not keep and not databases:
            _drop(admin_url, names)


def _figure(xs: list[float]) -> str:
    return f"{_median(xs):.1f} s" + (f" ({min(xs):.1f}–{max(xs):.1f})" if len(xs) > 1 else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, default=1_500_000)
    ap.add_argument("--entries", type=int, default=10_000_000,
                    help="journal entries; each has two postings (default: 20,000,000 postings)")
    ap.add_argument("--pg-url", default=os.environ.get("JIFEN_BENCH_PG_URL", DEFAULT_PG_URL))
    ap.add_argument("--keep", action="store_true", help="keep the scratch database(s)")
    ap.add_argument("--database", action="append",
                    help="reuse a database kept by an earlier --keep run (no seeding; kept); "
                         "with --towns, once per town")
    ap.add_argument("--repeat", type=int, default=1, help="rebuilds to time (median printed)")
    ap.add_argument("--tpcb-seconds", type=int, default=10,
                    help="pgbench TPC-B before and after the rebuilds (0 skips it)")
    ap.add_argument("--towns", type=int, default=0,
                    help="the province's shape: this many towns, one database each, sharing "
                         "--people and --entries; rebuilds one by one and at once")
    a = ap.parse_args(argv)
    if a.towns:
        r = towns(a.pg_url, a.towns, a.people, a.entries, a.keep, a.database, a.repeat,
                  a.tpcb_seconds)
        tps = _median(r["tpcb"])
        print(f"\n== {r['towns']} towns as independent books ({os.cpu_count()} cores) ==")
        print(f"   {r['postings_each']:,} postings each; TPC-B {tps:,.0f} tps at 8 clients "
              f"({', '.join(f'{t:,.0f}' for t in r['tpcb'])})")
        print(f"   rebuilds one after another: {_figure(r['one_by_one_s'])}; all at once: "
              f"{_figure(r['at_once_s'])}; speed-up "
              f"{_median(r['one_by_one_s']) / _median(r['at_once_s']):.2f}")
        if a.keep:
            print(f"   kept: {' '.join('--database ' + n for n in r['databases'])}")
        return 0
    r = run(a.pg_url, a.people, a.entries, a.keep, (a.database or [None])[0], a.repeat,
            a.tpcb_seconds)
    print(f"\n== recognition at scale ({os.cpu_count()} cores) ==")
    print(f"   {r['people']:,} volunteers, {r['postings']:,} postings, database {r['db_size']}"
          f" ({r['database']})")
    mid = _median(r["rebuild_s"])
    rate = r["postings"] / max(mid, 1e-9)
    tps = _median(r["tpcb"])
    ratio = f"; {rate / tps:,.0f} postings per TPC-B transaction" if tps else ""
    print(f"   TPC-B at 8 clients: {tps:,.0f} tps (before {r['tpcb'][0]:,.0f}, after "
          f"{r['tpcb'][-1]:,.0f})")
    ok_r = "ok" if mid < TARGET_REBUILD_S else "TARGET MISSED"
    print(f"   rollups rebuilt: {_figure(r['rebuild_s'])}, {r['rollup_rows']:,} rows; "
          f"{rate:,.0f} postings/s{ratio} (target < {TARGET_REBUILD_S:.0f} s at "
          f"{FULL_POSTINGS:,} postings) {ok_r if r['postings'] >= FULL_POSTINGS else ''}")
    print("   phases (median run): "
          + ", ".join(f"{k} {v:.1f}" for k, v in r["phases"].items()))
    ok_h = "ok" if r["honor_s"] < TARGET_HONOR_S else "TARGET MISSED"
    ok_s = "ok" if r["stars_s"] < TARGET_STARS_S else "TARGET MISSED"
    print(f"   honor list, town, year, top 20: {r['honor_s']:.2f} s (target < "
          f"{TARGET_HONOR_S:.0f} s) {ok_h}; top 3 {r['honor_top3']}")
    print(f"   star recomputation: {r['stars_s']:.1f} s, {r['star_changes']} (target < "
          f"{TARGET_STARS_S:.0f} s) {ok_s}; again {r['stars_again_s']:.1f} s, "
          f"{r['star_changes_again']}")
    return 0 if ok_h == ok_s == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
