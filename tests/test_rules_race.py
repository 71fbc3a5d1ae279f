"""Caps and once-per-period items under real parallel connections on PostgreSQL: two awards
racing for the last room under a cap cannot both pass."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select

from ledger.config import Settings
from ledger.errors import DomainError
from ledger.journal.models import Account
from ledger.rules import service as svc
from ledger.rules import store
from tests.conftest import audit_clean
from tests.builders.rules import T0, add_household, add_person, balance, make_world, staff

THREADS = 8
CATALOG = """
catalog:
  code: race
  name: 并发测试
  effective_from: 2024-01-01
  approval: {approved_by: 测试, decision: R-1}
categories:
  - code: R
    name: 并发
    items:
      - {code: CAP, name: 有上限, points: 3, caps: {points: {month: 10}}}
      - {code: ONCE, name: 每月一次, points: 5, once_per: month}
      - {code: ROLL, name: 计入家庭, points: 2, rollup: household, caps: {points: {day: 7}}}
"""


def _race(db, settings, item, holders, admin) -> Counter:
    barrier = threading.Barrier(len(holders))
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def one(holder):
        barrier.wait()
        try:
            r = svc.record_award(db, settings, item_code=item, holder=holder, recorder=admin,
                                 context={"occurred_at": T0.isoformat()}, key=None, now=T0)
            result = f"ok:{r.steps}"
        except DomainError as exc:
            result = exc.code
        except Exception as exc:  # noqa: BLE001 - counted, so the assertion names it
            result = f"error:{type(exc).__name__}:{exc}"[:200]
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=one, args=(h,)) for h in holders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


@pytest.mark.postgres
def test_parallel_awards_cannot_both_pass_a_cap_or_a_period(pg_db, tmp_path):
    settings = Settings(database_url=pg_db.url, redis_url=None, secret_key="t" * 43,
                        data_dir=tmp_path, budget_shards=4)
    w = make_world(pg_db, villages=("塘后村",))
    store.import_catalog(pg_db, CATALOG, actor_id=1)
    add_household(pg_db, w, "陈家")
    people = [add_person(pg_db, w, f"陈{i}", household="陈家") for i in range(THREADS)]
    admin = staff(50, "village_admin", village_id=w.villages["塘后村"])
    p = people[0]

    capped = _race(pg_db, settings, "CAP", [("person", p)] * THREADS, admin)
    assert capped == Counter({"ok:3": 3, "ok:1": 1, "cap_reached": THREADS - 4})
    assert balance(pg_db, "person", p) == 10

    once = _race(pg_db, settings, "ONCE", [("person", p)] * THREADS, admin)
    assert once == Counter({"ok:5": 1, "period_already_scored": THREADS - 1})

    # Different people of one household race for the household's daily roll-up cap.
    rolled = _race(pg_db, settings, "ROLL", [("person", q) for q in people], admin)
    assert rolled == Counter({"ok:2": THREADS})
    hh = w.households["陈家"]
    assert balance(pg_db, "household", hh) == 0  # counted for the household, not credited
    with pg_db.sessions() as s:
        assert s.scalar(select(Account.balance).where(
            Account.holder_type == "household", Account.holder_id == hh,
            Account.purpose == "score")) == 7  # within the household's daily cap
    audit_clean(pg_db)
