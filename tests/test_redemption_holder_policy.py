"""Holder-level redemption policy from the rule catalog: K orders per holder per period across
rewards, a per-reward limit for any period, set redemption days, a minimum of activities
attended. Each refusal has its own code and says when the holder may next redeem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger.errors import DomainError
from ledger.redemption.schemas import OrderView
from ledger.redemption.service import cancel, redeem
from ledger.rules import store
from tests.conftest import audit_clean
from tests.builders.redemption import give_points, make_person, make_reward, make_shop, \
    make_town

CATALOG = """
catalog:
  code: pol{n}
  name: 兑换规则
  effective_from: 2024-01-01
  approval: {{approved_by: 村民代表会议, decision: 测试, approved_on: 2024-01-01}}
  redemption: {{{policy}}}
categories:
  - code: A
    name: 甲
    items:
      - {{code: A1, name: 好事, points: 1}}
"""
MAR10 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 local, a Tuesday
_n = iter(range(1000))


def setup(db, policy: str, balance: int = 1000):
    t = make_town(db)
    store.import_catalog(db, CATALOG.format(n=next(_n), policy=policy), actor_id=1)
    shop = make_shop(db, t["town"])
    me = make_person(db, t["villages"][0])
    give_points(db, "person", me, t["villages"][0], balance)
    return me, shop


def order(db, reward, me, at):
    try:
        return redeem(db, reward_id=reward, holder_type="person", holder_id=me, quantity=1,
                      actor_id=me, key=None, now=at)
    except DomainError as exc:
        return exc


def test_at_most_k_redemptions_per_holder_per_month_across_rewards(db):
    me, shop = setup(db, "per_holder: {month: 2}")
    a, b = (make_reward(db, shop, cost_points=1, name=n).id for n in ("纸巾", "肥皂"))
    first = order(db, a, me, MAR10)
    assert isinstance(order(db, b, me, MAR10), OrderView)
    e = order(db, a, me, MAR10)
    assert e.code == "holder_redemption_limit" and e.extra["next_on"] == "2026-04-01"
    cancel(db, order_id=first.order_id, actor_id=me, key=None, holder=("person", me))
    assert isinstance(order(db, a, me, MAR10), OrderView)  # a cancelled order gives its slot back
    assert isinstance(order(db, a, me, datetime(2026, 3, 31, 16, 0, tzinfo=UTC)), OrderView)
    audit_clean(db)


def test_per_reward_limit_for_a_quarter(db):
    me, shop = setup(db, "per_reward: {quarter: 1}")
    a, b = (make_reward(db, shop, cost_points=1, name=n).id for n in ("纸巾", "肥皂"))
    assert isinstance(order(db, a, me, MAR10), OrderView)
    e = order(db, a, me, MAR10 + timedelta(days=20))
    assert e.code == "reward_period_limit" and e.extra["next_on"] == "2026-04-01"
    assert isinstance(order(db, b, me, MAR10), OrderView)


def test_redemption_only_on_the_first_and_at_the_half_years_end(db):
    me, shop = setup(db, "days_of_month: [1], period_ends: [half_year]")
    a = make_reward(db, shop, cost_points=1).id
    e = order(db, a, me, MAR10)
    assert e.code == "not_a_redemption_day" and e.extra["next_on"] == "2026-04-01"
    assert isinstance(order(db, a, me, datetime(2026, 4, 1, 1, 0, tzinfo=UTC)), OrderView)
    june = datetime(2026, 6, 29, 17, 0, tzinfo=UTC)  # 30 June, 01:00 local
    assert isinstance(order(db, a, me, june), OrderView)
    e = order(db, a, me, datetime(2026, 6, 2, 1, 0, tzinfo=UTC))
    assert e.code == "not_a_redemption_day" and e.extra["next_on"] == "2026-06-30"


def test_redemption_only_after_n_activities_attended(db, settings):
    from tests.builders.activities import T0, make_activity, scan
    from tests.builders.activities import make_world as activity_world
    w = activity_world(db)
    store.import_catalog(db, CATALOG.format(n=next(_n), policy="min_activities: 2"),
                         actor_id=1)
    shop = make_shop(db, w.town_id)
    me = w.people[1]
    give_points(db, "person", me, w.village_id, 100)
    a = make_reward(db, shop, cost_points=1).id
    e = order(db, a, me, T0)
    assert e.code == "too_few_activities" and e.extra["needed"] == 2
    for day in range(2):
        start = T0 + timedelta(days=day)
        act = make_activity(db, w, start=start, title=f"活动{day}")
        scan(db, settings, w, act, 1, start + timedelta(minutes=1))
        scan(db, settings, w, act, 1, start + timedelta(minutes=100))
    assert isinstance(order(db, a, me, T0 + timedelta(days=2)), OrderView)
