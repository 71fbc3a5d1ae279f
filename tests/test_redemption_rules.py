"""Redemption asks the rule engine and recognition by default: a catalog's redemption threshold
refuses an order with the rule engine's own code, and nothing is held; a reward asking for stars
reads the volunteer's stars from certified service hours. Ledger amounts are steps: Baogai's demo
catalog counts half points (scale 2), so its 10-point threshold is 20 steps."""

from __future__ import annotations

from ledger.errors import DomainError
from ledger.redemption.service import redeem
from ledger.rules import store
from ledger.timeutil import utcnow
from tests.conftest import audit_clean
from tests.builders.redemption import (
    give_points,
    make_person,
    make_reward,
    make_shop,
    make_town,
    points,
    serve,
)
from tests.builders.rules import family, make_world


def test_balance_below_the_catalogs_redeem_minimum_refuses_the_order(db):
    w = make_world(db)
    store.load_shipped(db, "baogai")  # 余额满 10 分方可兑换
    _, me = family(db, w)
    village = w.villages["塘后村"]
    give_points(db, "person", me, village, 12)  # 6 points
    shop = make_shop(db, w.town)
    soap = make_reward(db, shop, name="肥皂", kind="goods", cost_points=5)
    try:
        redeem(db, reward_id=soap.id, holder_type="person", holder_id=me, quantity=1,
               actor_id=me, key=None)
        raise AssertionError("the threshold did not refuse")
    except DomainError as exc:
        assert exc.code == "below_redeem_threshold"
    assert points(db, "person", me)["pending_out"] == 0
    give_points(db, "person", me, village, 8)  # 10 points
    redeem(db, reward_id=soap.id, holder_type="person", holder_id=me, quantity=1,
           actor_id=me, key=None)
    assert points(db, "person", me)["pending_out"] == 5
    audit_clean(db)


def test_stars_come_from_certified_service_hours(db):
    t = make_town(db)
    village = t["villages"][0]
    me = make_person(db, village)
    give_points(db, "person", me, village, 100)
    serve(db, t["town"], me, 300 * 60, utcnow())  # 300 hours: two stars by default
    shop = make_shop(db, t["town"])
    two, three = (make_reward(db, shop, name=f"{n}星礼包", kind="gift", min_star_level=n)
                  for n in (2, 3))
    redeem(db, reward_id=two.id, holder_type="person", holder_id=me, quantity=1,
           actor_id=me, key=None)
    try:
        redeem(db, reward_id=three.id, holder_type="person", holder_id=me, quantity=1,
               actor_id=me, key=None)
        raise AssertionError("three stars were not asked for")
    except DomainError as exc:
        assert (exc.code, exc.extra["stars"]) == ("not_eligible", 2)
    audit_clean(db)
