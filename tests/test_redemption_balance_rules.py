"""Balance rules read what is available (DESIGN guarantee 8): a minimum to redeem and a floor
that may not be spent both count points already held for open orders, under the lock of the
hold they guard. Races run on SQLite here and on PostgreSQL with JIFEN_TEST_DB=postgres."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from ledger.db import Database
from ledger.errors import DomainError
from ledger.redemption.schemas import OrderView
from ledger.redemption.service import cancel, redeem
from ledger.rules import store
from tests.conftest import audit_clean
from tests.builders.redemption import (
    give_points,
    make_person,
    make_reward,
    make_shop,
    make_town,
    points,
)

CATALOG = """
catalog:
  code: bal
  name: 余额规则
  effective_from: 2024-01-01
  approval: {{approved_by: 村民代表会议, decision: 测试, approved_on: 2024-01-01}}
  thresholds: {{{rules}}}
categories:
  - code: A
    name: 甲
    items:
      - {{code: A1, name: 好事, points: 1}}
"""


def setup(db, rules: str, balance: int):
    t = make_town(db)
    store.import_catalog(db, CATALOG.format(rules=rules), actor_id=1)
    shop = make_shop(db, t["town"])
    me = make_person(db, t["villages"][0])
    give_points(db, "person", me, t["villages"][0], balance)
    return me, shop


def order(db, reward, me, qty=1):
    try:
        return redeem(db, reward_id=reward, holder_type="person", holder_id=me, quantity=qty,
                      actor_id=me, key=None)
    except DomainError as exc:
        return exc.code


def test_minimum_to_redeem_counts_points_held_for_open_orders(db):
    me, shop = setup(db, "redeem_min: 100", 110)
    fifty = make_reward(db, shop, cost_points=50).id
    ten = make_reward(db, shop, cost_points=10, name="纸巾").id
    first = order(db, fifty, me)
    assert isinstance(first, OrderView)
    assert order(db, ten, me) == "below_redeem_threshold"  # 60 available, not 110
    assert order(db, fifty, me) == "below_redeem_threshold"
    cancel(db, order_id=first.order_id, actor_id=me, key=None, holder=("person", me))
    assert isinstance(order(db, ten, me), OrderView)
    audit_clean(db)


def test_a_floor_keeps_a_base_that_cannot_be_spent(db):
    me, shop = setup(db, "floor: 100", 110)
    fifty = make_reward(db, shop, cost_points=50).id
    one = make_reward(db, shop, cost_points=1, name="纸巾").id
    assert order(db, fifty, me) == "below_floor"
    assert isinstance(order(db, one, me, qty=10), OrderView)  # exactly down to the floor
    assert order(db, one, me) == "below_floor"
    assert points(db, "person", me)["available"] == 100
    audit_clean(db)


def test_floor_and_minimum_are_distinct(db):
    """Eligible from 120, and 100 always kept: at 130 only 30 may go, one order at a time."""
    me, shop = setup(db, "redeem_min: 120, floor: 100", 130)
    ten = make_reward(db, shop, cost_points=10).id
    assert isinstance(order(db, ten, me), OrderView)  # 130 ≥ 120, 120 left ≥ 100
    assert isinstance(order(db, ten, me), OrderView)  # 120 ≥ 120, 110 left ≥ 100
    assert order(db, ten, me) == "below_redeem_threshold"  # 110 available: not eligible
    one = make_reward(db, shop, cost_points=1, name="纸巾").id
    assert order(db, one, me) == "below_redeem_threshold"
    audit_clean(db)


@pytest.mark.parametrize("rounds", [3])
def test_parallel_orders_never_break_the_floor(db, rounds):
    """Twenty orders of 10 at once against 150 with a floor of 100: five pass, every round.
    On PostgreSQL each thread has its own connection (opened before the race)."""
    n = 20
    racer = Database(db.url, pool_size=n, max_overflow=0, pool_timeout=600) \
        if db.engine.dialect.name == "postgresql" else db
    for _ in range(rounds):
        _race_round(db, racer, n)
    if racer is not db:
        racer.dispose()
    audit_clean(db)


def _race_round(db, racer, n):
    me, shop = setup(db, "floor: 100", 150)
    # a reward each: one reward's limit counter would serialize the orders before the rule
    tens = [make_reward(db, shop, cost_points=10, name=f"礼品{i}").id for i in range(n)]
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        results[i] = order(racer, tens[i], me)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    got = Counter("ok" if isinstance(r, OrderView) else r for r in results)
    assert got == Counter({"ok": 5, "below_floor": n - 5}), got
    assert points(db, "person", me)["available"] == 100
