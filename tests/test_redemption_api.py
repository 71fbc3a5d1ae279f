"""The redemption API: who may do what, problem codes over HTTP, QR images, CSV export."""

from __future__ import annotations

import csv
import io

import pytest

from ledger.timeutil import LOCAL_TZ, utcnow
from tests.conftest import audit_clean
from tests.qr_support import qr_texts
from tests.builders.redemption import give_points, make_household, make_person, make_town

API = "/api/v1/redemption"
CLERK, OTHER_CLERK = 901, 902


@pytest.fixture
def shop(db, client, auth):
    """A town, a shop with a clerk and a ticket reward, all set up over the API."""
    t = make_town(db)
    v = t["villages"][0]
    admin = lambda: auth("town_admin", user_id=1)
    p = client.post(f"{API}/providers", headers=admin(), json={
        "name": "塘边村积分超市", "kind": "shop", "town_id": t["town"], "village_id": v})
    assert p.status_code == 201, p.text
    other = client.post(f"{API}/providers", headers=admin(), json={
        "name": "石狮影城", "kind": "cinema", "town_id": t["town"]}).json()
    for provider, clerk in ((p.json()["id"], CLERK), (other["id"], OTHER_CLERK)):
        assert client.post(f"{API}/providers/{provider}/clerks", headers=admin(),
                           json={"user_id": clerk}).status_code == 201
    r = client.post(f"{API}/rewards", headers=admin(), json={
        "provider_id": p.json()["id"], "name": "电影票", "kind": "film_ticket",
        "cost_points": 20, "stock": 3, "limit_per_month": 2})
    assert r.status_code == 201, r.text
    hh = make_household(db, v)
    me = make_person(db, v, household_id=hh)
    give_points(db, "person", me, v, 100)
    give_points(db, "household", hh, v, 40)
    return {**t, "village": v, "provider": p.json()["id"], "reward": r.json()["id"],
            "person": me, "household": hh, "admin": admin}


def _volunteer(auth, shop, **kw):
    return auth("volunteer", user_id=shop["person"] + 10_000, person_id=shop["person"], **kw)


def test_volunteer_redeems_and_gets_a_voucher_whose_qr_opens_the_voucher_page(client, auth,
                                                                              shop, db):
    h = _volunteer(auth, shop, key="order-1")
    r = client.post(f"{API}/orders", headers=h, json={"reward_id": shop["reward"]})
    assert r.status_code == 201, r.text
    assert client.post(f"{API}/orders", headers=h,
                       json={"reward_id": shop["reward"]}).json() == r.json()  # retry
    voucher = r.json()["voucher"]
    assert voucher["url"] == f"http://testserver.local/v/{voucher['code']}"
    png = client.get(voucher["qr_png"], headers=_volunteer(auth, shop))
    assert png.headers["content-type"] == "image/png"
    assert qr_texts(png.content) == [voucher["url"]]
    svg = client.get(voucher["qr_svg"], headers=_volunteer(auth, shop))
    assert svg.headers["content-type"].startswith("image/svg+xml")
    mine = client.get(f"{API}/orders", headers=_volunteer(auth, shop)).json()["items"]
    assert [o["order_id"] for o in mine] == [r.json()["order_id"]]
    audit_clean(db)


def test_others_cannot_see_or_cancel_my_order_or_its_qr(client, auth, shop, db):
    order = client.post(f"{API}/orders", headers=_volunteer(auth, shop),
                        json={"reward_id": shop["reward"]}).json()
    stranger = make_person(db, shop["village"])
    h = auth("volunteer", user_id=5555, person_id=stranger)
    assert client.get(f"{API}/orders/{order['order_id']}", headers=h).json()["code"] \
        == "order_not_found"
    assert client.get(order["voucher"]["qr_png"], headers=h).json()["code"] \
        == "voucher_not_found"
    r = client.post(f"{API}/orders/{order['order_id']}/cancel", headers=h)
    assert (r.status_code, r.json()["code"]) == (404, "order_not_found")
    r = client.post(f"{API}/orders/{order['order_id']}/cancel", headers=_volunteer(auth, shop))
    assert r.json()["voucher"]["status"] == "cancelled"
    audit_clean(db)


def test_household_member_redeems_from_the_household_account(client, auth, shop, db):
    r = client.post(f"{API}/orders", headers=_volunteer(auth, shop),
                    json={"reward_id": shop["reward"], "household": True})
    assert (r.json()["holder_type"], r.json()["holder_id"]) == ("household", shop["household"])
    loner = make_person(db, shop["village"])
    r = client.post(f"{API}/orders", headers=auth("volunteer", user_id=4444, person_id=loner),
                    json={"reward_id": shop["reward"], "household": True})
    assert (r.status_code, r.json()["code"]) == (403, "no_holder_account")
    audit_clean(db)


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"reward_id": 424242}, 404, "unknown_reward"),
    ({"quantity": -1}, 422, "invalid_quantity"),
    ({"quantity": 0}, 422, "invalid_quantity"),
    ({"quantity": 4}, 409, "out_of_stock"),
    ({"quantity": 3}, 409, "limit_reached"),
])
def test_bad_orders_are_problems_with_distinct_codes(client, auth, shop, db, body, status,
                                                     code):
    r = client.post(f"{API}/orders", headers=_volunteer(auth, shop),
                    json={"reward_id": shop["reward"], **body})
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (r.status_code, r.json()["code"]) == (status, code)
    audit_clean(db)


def test_clerk_scans_and_fulfils_once_and_only_at_their_own_shop(client, auth, shop, db):
    code = client.post(f"{API}/orders", headers=_volunteer(auth, shop),
                       json={"reward_id": shop["reward"]}).json()["voucher"]["code"]
    clerk = lambda: auth("clerk", user_id=CLERK)
    other = auth("clerk", user_id=OTHER_CLERK)
    seen = client.get(f"{API}/vouchers/{code}", headers=clerk()).json()
    assert seen["usable"] and seen["reward"]["name"] == "电影票"
    r = client.post(f"{API}/vouchers/{code}/fulfil", headers=other)
    assert (r.status_code, r.json()["code"]) == (403, "voucher_wrong_provider")
    assert client.post(f"{API}/vouchers/{code}/fulfil", headers=clerk()).status_code == 200
    r = client.post(f"{API}/vouchers/{code}/fulfil", headers=clerk())
    assert (r.status_code, r.json()["code"]) == (409, "voucher_already_used")
    r = client.post(f"{API}/vouchers/NOPE/fulfil", headers=clerk())
    assert (r.status_code, r.json()["code"]) == (404, "voucher_not_found")
    audit_clean(db)


def test_roles_are_kept_apart(client, auth, shop):
    code = client.post(f"{API}/orders", headers=_volunteer(auth, shop),
                       json={"reward_id": shop["reward"]}).json()["voucher"]["code"]
    assert client.post(f"{API}/vouchers/{code}/fulfil",
                       headers=_volunteer(auth, shop)).status_code == 403
    clerk = auth("clerk", user_id=CLERK)
    assert client.post(f"{API}/rewards/{shop['reward']}/stock", headers=clerk,
                       json={"add": 5}).status_code == 403
    assert client.get(f"{API}/settlement?start=2026-01-01&end=2026-01-31",
                      headers=clerk).status_code == 403
    assert client.post(f"{API}/draws", headers=clerk, json={
        "name": "x", "reward_id": 1, "winners_count": 1, "population": {}}).status_code == 403
    elsewhere = auth("village_admin", village_id=shop["villages"][1])
    r = client.post(f"{API}/rewards/{shop['reward']}/stock", headers=elsewhere,
                    json={"add": 5})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden_village")
    mine = auth("village_admin", village_id=shop["village"])
    assert client.post(f"{API}/rewards/{shop['reward']}/stock", headers=mine,
                       json={"add": 5}).json()["available"] == 7


def test_admin_edits_the_catalog_and_withdrawn_rewards_leave_the_public_list(client, auth,
                                                                             shop):
    r = client.patch(f"{API}/rewards/{shop['reward']}", headers=shop["admin"](),
                     json={"active": False, "cost_points": 25})
    assert (r.json()["active"], r.json()["cost_points"]) == (False, 25)
    public = client.get(f"{API}/rewards", headers=_volunteer(auth, shop)).json()["items"]
    assert public == []
    everything = client.get(f"{API}/rewards?include_unavailable=true",
                            headers=shop["admin"]()).json()["items"]
    assert [x["id"] for x in everything] == [shop["reward"]]
    r = client.post(f"{API}/orders", headers=_volunteer(auth, shop),
                    json={"reward_id": shop["reward"]})
    assert r.json()["code"] == "reward_unavailable"


def test_draw_and_settlement_over_the_api(client, auth, shop, db):
    d = client.post(f"{API}/draws", headers=shop["admin"](), json={
        "name": "幸运志愿者", "reward_id": shop["reward"], "winners_count": 1,
        "town_id": shop["town"], "population": {"min_points": 50}})
    assert d.status_code == 201, d.text
    ran = client.post(f"{API}/draws/{d.json()['id']}/run", headers=shop["admin"](),
                      json={"seed": "public-seed-1"}).json()
    assert (ran["winners"], ran["population_size"]) == (1, 1)
    assert client.get(f"{API}/draws/{d.json()['id']}/verify",
                      headers=shop["admin"]()).json()["ok"]
    [won] = client.get(f"{API}/orders", headers=_volunteer(auth, shop)).json()["items"]
    assert won["funded_by"] == "draw"
    client.post(f"{API}/vouchers/{won['voucher']['code']}/fulfil",
                headers=auth("clerk", user_id=CLERK))
    today = utcnow().astimezone(LOCAL_TZ).date().isoformat()
    q = f"start={today}&end={today}&provider_id={shop['provider']}"
    report = client.get(f"{API}/settlement?{q}", headers=shop["admin"]()).json()
    assert report["total_points"] == 20
    r = client.get(f"{API}/settlement.csv?{q}", headers=shop["admin"]())
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [(x["类别"], x["资金来源"], x["积分"]) for x in rows] \
        == [("兑换", "抽奖（镇出资）", "20"), ("合计", "", "20")]
    audit_clean(db)


def test_a_closed_provider_leaves_the_catalog_but_honours_issued_vouchers(client, auth, shop):
    code = client.post(f"{API}/orders", headers=_volunteer(auth, shop),
                       json={"reward_id": shop["reward"]}).json()["voucher"]["code"]
    r = client.patch(f"{API}/providers/{shop['provider']}", headers=shop["admin"](),
                     json={"active": False})
    assert r.json()["active"] is False
    assert client.get(f"{API}/rewards", headers=_volunteer(auth, shop)).json()["items"] == []
    r = client.post(f"{API}/orders", headers=_volunteer(auth, shop),
                    json={"reward_id": shop["reward"]})
    assert r.json()["code"] == "reward_unavailable"
    assert client.post(f"{API}/vouchers/{code}/fulfil",
                       headers=auth("clerk", user_id=CLERK)).status_code == 200
