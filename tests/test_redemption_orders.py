"""Orders and vouchers: redeem → fulfil, cancel, expiry, idempotency, and each refusal's code."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.errors import DomainError
from ledger.journal import queries
from ledger.journal.models import JournalEntry
from ledger.redemption import catalog, vouchers
from ledger.redemption.catalog import provider_account
from ledger.redemption.service import cancel, fulfil, redeem, sweep_expired_vouchers
from ledger.timeutil import utcnow
from tests.conftest import audit_clean
from tests.qr_support import qr_texts
from tests.builders.redemption import (
    TOWN_ADMIN,
    give_points,
    make_household,
    make_person,
    make_reward,
    make_shop,
    make_town,
    points,
    reward_row,
)

CLERK, OTHER_CLERK = 501, 502


@pytest.fixture
def world(db):
    t = make_town(db)
    v = t["villages"][0]
    shop = make_shop(db, t["town"], clerks=(CLERK,))
    other = make_shop(db, t["town"], name="坑东村积分超市", clerks=(OTHER_CLERK,))
    person = make_person(db, v)
    give_points(db, "person", person, v, 100)
    return {**t, "village": v, "shop": shop, "other_shop": other, "person": person}


def _redeem(db, w, reward_id, quantity=1, key=None, now=None, holder=None):
    ht, hid = holder or ("person", w["person"])
    return redeem(db, reward_id=reward_id, holder_type=ht, holder_id=hid, quantity=quantity,
                  actor_id=hid, key=key, now=now)


def _code(fn) -> str:
    with pytest.raises(DomainError) as e:
        fn()
    return e.value.code


def test_redeem_holds_points_reserves_stock_and_issues_voucher(db, world):
    r = make_reward(db, world["shop"], stock=5, cost_points=30)
    order = _redeem(db, world, r.id, quantity=2)
    acct = points(db, "person", world["person"])
    assert (acct["balance"], acct["pending_out"], acct["available"]) == (100, 60, 40)
    assert (reward_row(db, r.id)["reserved"], reward_row(db, r.id)["available"]) == (2, 3)
    assert order.amount_points == 60 and order.voucher.status == "issued"
    assert vouchers.normalize_code(order.voucher.code) == order.voucher.code
    audit_clean(db)


def test_fulfil_posts_the_hold_to_the_providers_redeemed_account(db, world):
    r = make_reward(db, world["shop"], stock=5, cost_points=30)
    order = _redeem(db, world, r.id)
    done = fulfil(db, code=order.voucher.display_code.lower(), clerk_user_id=CLERK,
                  key="scan-1")
    assert done.voucher.status == "used"
    assert points(db, "person", world["person"])["balance"] == 70
    with db.sessions() as s:
        shop = queries.get_account(s, provider_account(s, world["shop"]))
        entry = s.get(JournalEntry, done.voucher.entry_id)
        assert (shop.balance, shop.pending_in) == (30, 0)
        assert entry.kind == "redeem" and entry.source == "redemption"
        assert entry.details["order_id"] == order.order_id and entry.actor_id == CLERK
    assert (reward_row(db, r.id)["issued"], reward_row(db, r.id)["reserved"]) == (1, 0)
    audit_clean(db)


def test_same_key_replays_the_first_order_and_places_one_hold(db, world):
    r = make_reward(db, world["shop"], stock=5)
    first = _redeem(db, world, r.id, key="k1")
    again = _redeem(db, world, r.id, key="k1")
    assert again == first
    assert points(db, "person", world["person"])["pending_out"] == 10
    assert _code(lambda: _redeem(db, world, r.id, quantity=2, key="k1")) \
        == "idempotency_conflict"
    audit_clean(db)


def test_household_redeems_from_the_household_account(db, world):
    hh = make_household(db, world["village"])
    give_points(db, "household", hh, world["village"], 50)
    r = make_reward(db, world["shop"], holder_kinds="household", cost_points=20)
    order = _redeem(db, world, r.id, holder=("household", hh))
    fulfil(db, code=order.voucher.code, clerk_user_id=CLERK, key=None)
    assert points(db, "household", hh)["balance"] == 30
    assert points(db, "person", world["person"])["balance"] == 100
    assert _code(lambda: _redeem(db, world, r.id)) == "not_eligible"
    audit_clean(db)


def test_holder_cancel_releases_points_stock_and_limit(db, world):
    r = make_reward(db, world["shop"], stock=1, limit_per_month=1)
    order = _redeem(db, world, r.id)
    done = cancel(db, order_id=order.order_id, actor_id=world["person"], key="c1",
                  holders=[("person", world["person"])])
    assert done.voucher.status == "cancelled"
    assert cancel(db, order_id=order.order_id, actor_id=world["person"], key="c1",
                  holders=[("person", world["person"])]) == done  # replay
    assert points(db, "person", world["person"])["pending_out"] == 0
    assert reward_row(db, r.id)["available"] == 1
    _redeem(db, world, r.id)  # stock and the monthly limit came back
    audit_clean(db)


def test_cancel_refusals_name_the_voucher_state(db, world):
    r = make_reward(db, world["shop"])
    a, b = _redeem(db, world, r.id), _redeem(db, world, r.id)
    me = ("person", world["person"])
    assert _code(lambda: cancel(db, order_id=a.order_id, actor_id=9, key=None,
                                holders=[("person", 999)])) == "order_not_found"
    assert _code(lambda: cancel(db, order_id=a.order_id, actor_id=9, key=None)) \
        == "order_not_found"  # naming no holder is not being an admin
    cancel(db, order_id=a.order_id, actor_id=1, key=None, by_admin=True)
    assert _code(lambda: cancel(db, order_id=a.order_id, actor_id=1, key=None,
                                holder=me)) == "voucher_cancelled"
    fulfil(db, code=b.voucher.code, clerk_user_id=CLERK, key=None)
    assert _code(lambda: cancel(db, order_id=b.order_id, actor_id=1, key=None,
                                holders=[me])) == "voucher_already_used"
    audit_clean(db)


def test_expiry_sweep_releases_points_stock_and_limit_once(db, world):
    r = make_reward(db, world["shop"], stock=2, limit_per_year=1, voucher_ttl_s=3600)
    t0 = utcnow()
    order = _redeem(db, world, r.id, now=t0)
    assert sweep_expired_vouchers(db, t0 + timedelta(minutes=59)) == 0
    assert sweep_expired_vouchers(db, t0 + timedelta(hours=1)) == 1
    assert sweep_expired_vouchers(db, t0 + timedelta(hours=2)) == 0
    assert points(db, "person", world["person"])["pending_out"] == 0
    assert reward_row(db, r.id)["reserved"] == 0
    assert _code(lambda: fulfil(db, code=order.voucher.code, clerk_user_id=CLERK,
                                key=None)) == "voucher_expired"
    _redeem(db, world, r.id)  # the yearly limit was given back
    audit_clean(db)


def test_expired_voucher_cannot_be_fulfilled_even_before_the_sweep(db, world):
    r = make_reward(db, world["shop"], voucher_ttl_s=3600)
    t0 = utcnow()
    order = _redeem(db, world, r.id, now=t0)
    assert _code(lambda: fulfil(db, code=order.voucher.code, clerk_user_id=CLERK,
                                key=None, now=t0 + timedelta(hours=1))) == "voucher_expired"
    assert points(db, "person", world["person"])["pending_out"] == 10
    audit_clean(db)


def test_second_scan_is_already_used_and_first_scan_replays(db, world):
    r = make_reward(db, world["shop"])
    code = _redeem(db, world, r.id).voucher.code
    first = fulfil(db, code=code, clerk_user_id=CLERK, key="scan")
    assert fulfil(db, code=code, clerk_user_id=CLERK, key="scan") == first
    assert _code(lambda: fulfil(db, code=code, clerk_user_id=CLERK, key="scan-again")) \
        == "voucher_already_used"
    assert points(db, "person", world["person"])["balance"] == 90
    audit_clean(db)


def test_voucher_refusals_at_the_counter_have_distinct_codes(db, world):
    r = make_reward(db, world["shop"])
    a, b = _redeem(db, world, r.id), _redeem(db, world, r.id)
    cancel(db, order_id=b.order_id, actor_id=1, key=None, by_admin=True)
    code = a.voucher.code
    assert _code(lambda: fulfil(db, code=code, clerk_user_id=OTHER_CLERK, key=None)) \
        == "voucher_wrong_provider"
    assert _code(lambda: fulfil(db, code=code, clerk_user_id=777, key=None)) \
        == "clerk_not_assigned"
    assert _code(lambda: fulfil(db, code="not a code", clerk_user_id=CLERK, key=None)) \
        == "voucher_not_found"
    assert _code(lambda: fulfil(db, code=vouchers.new_code(), clerk_user_id=CLERK,
                                key=None)) == "voucher_not_found"
    assert _code(lambda: fulfil(db, code=b.voucher.code, clerk_user_id=CLERK,
                                key=None)) == "voucher_cancelled"
    assert points(db, "person", world["person"])["pending_out"] == 10
    audit_clean(db)


def test_unknown_reward_and_bad_quantities_are_refused(db, world):
    r = make_reward(db, world["shop"])
    assert _code(lambda: _redeem(db, world, 99999)) == "unknown_reward"
    for q in (-1, 0, 11, True, 1.5, "2"):
        assert _code(lambda q=q: _redeem(db, world, r.id, quantity=q)) == "invalid_quantity"
    assert _code(lambda: redeem(db, reward_id=r.id, holder_type="person", holder_id=424242,
                                quantity=1, actor_id=1, key=None)) == "holder_not_found"
    assert _code(lambda: redeem(db, reward_id=r.id, holder_type="village", holder_id=1,
                                quantity=1, actor_id=1, key=None)) == "invalid_holder"
    audit_clean(db)


def test_out_of_stock_and_insufficient_points(db, world):
    r = make_reward(db, world["shop"], stock=1)
    _redeem(db, world, r.id)
    assert _code(lambda: _redeem(db, world, r.id)) == "out_of_stock"
    dear = make_reward(db, world["shop"], name="自行车", kind="goods", cost_points=91)
    assert _code(lambda: _redeem(db, world, dear.id)) == "insufficient_points"
    assert reward_row(db, dear.id)["reserved"] == 0
    audit_clean(db)


def test_monthly_and_yearly_limits(db, world):
    give_points(db, "person", world["person"], world["village"], 1000)
    r = make_reward(db, world["shop"], limit_per_month=2, limit_per_year=3)
    may, june, next_year = (utcnow().replace(year=2030, month=m, day=10) for m in (5, 6, 1))
    next_year = next_year.replace(year=2031)
    _redeem(db, world, r.id, quantity=2, now=may)
    assert _code(lambda: _redeem(db, world, r.id, now=may)) == "limit_reached"
    _redeem(db, world, r.id, now=june)
    assert _code(lambda: _redeem(db, world, r.id, now=june)) == "limit_reached"  # year: 3
    _redeem(db, world, r.id, quantity=2, now=next_year)
    audit_clean(db)


def test_eligibility_by_village_stars_and_rules_hook(db, world):
    from ledger.errors import Forbidden
    from ledger.redemption.eligibility import Policy

    elsewhere = make_person(db, world["villages"][1])
    give_points(db, "person", elsewhere, world["villages"][1], 100)
    local = make_reward(db, world["shop"], village_id=world["village"])
    assert _code(lambda: _redeem(db, world, local.id, holder=("person", elsewhere))) \
        == "not_eligible"
    starred = make_reward(db, world["shop"], min_star_level=3)
    assert _code(lambda: _redeem(db, world, starred.id)) == "not_eligible"  # 0 stars default
    three = Policy(star_level=lambda s, t, i: 3)
    redeem(db, reward_id=starred.id, holder_type="person", holder_id=world["person"],
           quantity=1, actor_id=1, key=None, policy=three)
    barred = Policy(refusal=lambda s, h: Forbidden("禁止兑换", code="redemption_barred"))
    assert _code(lambda: redeem(db, reward_id=local.id, holder_type="person",
                                holder_id=world["person"], quantity=1, actor_id=1, key=None,
                                policy=barred)) == "redemption_barred"
    audit_clean(db)


def test_reward_outside_its_window_or_withdrawn_is_unavailable(db, world):
    now = utcnow()
    later = make_reward(db, world["shop"], available_from=now + timedelta(days=1))
    past = make_reward(db, world["shop"], available_until=now - timedelta(seconds=1))
    off = make_reward(db, world["shop"], active=False)
    for r in (later, past, off):
        assert _code(lambda r=r: _redeem(db, world, r.id, now=now)) == "reward_unavailable"
    _redeem(db, world, later.id, now=now + timedelta(days=2))
    audit_clean(db)


def test_stock_never_drops_below_what_is_held_or_handed_over(db, world):
    r = make_reward(db, world["shop"], stock=2)
    _redeem(db, world, r.id, quantity=2)
    assert _code(lambda: catalog.change_stock(db, TOWN_ADMIN, r.id, add=-1, key=None)) \
        == "stock_below_committed"
    assert catalog.change_stock(db, TOWN_ADMIN, r.id, add=3, key=None).available == 3
    assert catalog.change_stock(db, TOWN_ADMIN, r.id, unlimited=True,
                                key=None).available is None
    assert _code(lambda: catalog.change_stock(db, TOWN_ADMIN, r.id, set_to=1, key=None)) \
        == "stock_below_committed"
    audit_clean(db)


def test_voucher_qr_png_and_svg_point_at_the_voucher_page(world):
    code = vouchers.new_code()
    png = vouchers.qr_png("https://jifen.example", code)
    assert qr_texts(png) == [f"https://jifen.example/v/{code}"]
    assert vouchers.qr_svg("https://jifen.example", code).startswith(b"<?xml")


def test_a_hold_posted_outside_redemption_is_refused_not_crashed_and_the_sweep_goes_on(db,
                                                                                      world):
    from ledger.journal import holds
    from ledger.journal import service as journal

    r = make_reward(db, world["shop"], voucher_ttl_s=3600)
    t0 = utcnow()
    stray, fine = _redeem(db, world, r.id, now=t0), _redeem(db, world, r.id, now=t0)
    assert _code(lambda: journal.post_hold(db, hold_id=stray.hold_id, actor_id=1, key=None)) \
        == "hold_owned_by_flow"  # the ledger's generic hold API leaves our holds alone
    with db.transaction() as s:  # code that goes around it anyway
        holds.post_hold(s, stray.hold_id, actor_id=1, now=t0)
    assert _code(lambda: cancel(db, order_id=stray.order_id, actor_id=1, key=None,
                                by_admin=True)) == "hold_posted"
    assert sweep_expired_vouchers(db, t0 + timedelta(hours=2)) == 1  # `fine` expired anyway
    assert reward_row(db, r.id)["reserved"] == 1  # the stray order's unit, until resolved
    assert fine.voucher.status == "issued"
    audit_clean(db)
