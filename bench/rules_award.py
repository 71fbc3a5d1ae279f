"""`rules.service.record_award` end to end under Baogai's catalog, one writer: the rule engine,
counters, holder checks and the posting together. Run it on two checkouts in the same session to
compare (before/after a change): `python -m bench.rules_award [--url URL] [--awards N]`.

Items alternate: D08 (fixed points, person), A01 (per hour, person, rolls up to the household),
B11 (a deduction rolling up). Reports awards/s, p50/p99 latency and this process's CPU time
per award (the steadier figure on a machine shared with other work)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from ledger.config import load_settings
from ledger.db import Database
from ledger.journal import service as journal
from ledger.registry.models import Household, Person, Town, Village
from ledger.rules import service as svc
from ledger.rules import store
from ledger.identity.actor import Actor
from ledger.timeutil import utcnow

PEOPLE = 200
START = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)


def setup(db: Database) -> tuple[int, list[int]]:
    from bench.awards import analyze, build_schema
    build_schema(db)
    with db.transaction() as s:
        town = Town(name="宝盖镇", city="石狮市", prefecture="泉州市", created_at=utcnow())
        s.add(town)
        s.flush()
        v = Village(town_id=town.id, name="塘后村", kind="village", created_at=utcnow())
        s.add(v)
        s.flush()
        people = []
        for i in range(PEOPLE):
            h = Household(village_id=v.id, plate_code=f"bench{i:06d}", head_name=f"户{i}",
                          created_at=utcnow())
            s.add(h)
            s.flush()
            p = Person(village_id=v.id, household_id=h.id, name=f"人{i}", created_at=utcnow())
            s.add(p)
            s.flush()
            people.append(p.id)
        town_id, village_id = town.id, v.id
    journal.allocate(db, shards=4, town_id=town_id, village_id=village_id, amount=10**10,
                     actor_id=1, key=None)
    store.load_shipped(db, "baogai")
    if not db.is_sqlite:
        analyze(db)
    return village_id, people


def run(db: Database, settings, n: int) -> dict:
    village_id, people = setup(db)
    who = Actor(user_id=50, roles=(("village_admin", village_id), ("inspector", village_id),
                                 ("organizer", village_id)))
    lat = []
    began, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        item = ("D08", "A01", "B11")[i % 3]
        at = START + timedelta(minutes=i)
        ctx = {"occurred_at": at.isoformat(), "channel": "admin", "note": "bench"}
        if item == "A01":
            ctx["minutes"] = 60
            ctx["activity_ref"] = f"bench:{i}"
        t0 = time.perf_counter()
        svc.record_award(db, settings, item_code=item, holder=("person", people[i % PEOPLE]),
                         recorder=who, context=ctx, key=f"bench:{i}", now=at)
        lat.append(time.perf_counter() - t0)
    took, cpu = time.perf_counter() - began, time.process_time() - cpu
    q = statistics.quantiles(lat, n=100)
    # CPU time of this process per award: less disturbed than wall time on a shared machine
    return {"awards": n, "per_s": round(n / took, 1), "p50_ms": round(q[49] * 1000, 2),
            "p99_ms": round(q[98] * 1000, 2), "cpu_ms_per_award": round(cpu / n * 1000, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=None, help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--awards", type=int, default=900)
    a = ap.parse_args()
    url = a.url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    settings = load_settings()
    db = Database(url)
    print(run(db, settings, a.awards))


if __name__ == "__main__":
    main()
