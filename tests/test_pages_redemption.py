"""Redemption through the pages: the rewards list, an order with its voucher QR, the clerk's
scan and fulfilment, and refusals shown next to the field in Chinese."""

from __future__ import annotations

from ledger.redemption.vouchers import voucher_url
from tests.builders.pages import form_fields, sign_in
from tests.builders.redemption import (
    give_points,
    make_person,
    make_reward,
    make_shop,
    make_town,
    points,
)

CLERK_USER = 501


def _setup(db, stock=5, cost=30, balance=100):
    town = make_town(db, villages=1)
    village = town["villages"][0]
    person = make_person(db, village)
    give_points(db, "person", person, village, balance)
    shop = make_shop(db, town["town"], clerks=(CLERK_USER,))
    reward = make_reward(db, shop, stock=stock, cost_points=cost, name="大米一袋")
    return village, person, reward


def _redeem(client, reward_id, quantity=1):
    page = client.get("/rewards")
    fields = form_fields(page.text, f"/rewards/{reward_id}/redeem")
    return client.post(f"/rewards/{reward_id}/redeem", data={**fields, "quantity": quantity},
                       follow_redirects=False)


def test_volunteer_redeems_and_sees_voucher_qr(client, db, settings):
    _, person, reward = _setup(db)
    sign_in(client, settings, "volunteer", person_id=person)
    page = client.get("/rewards")
    assert "大米一袋" in page.text and "需 30 积分" in page.text and "我的积分：100" in page.text
    r = _redeem(client, reward.id)
    assert r.status_code == 303 and r.headers["location"].startswith("/me/vouchers/")
    code = r.headers["location"].rsplit("/", 1)[1]
    voucher = client.get(r.headers["location"])
    assert voucher.status_code == 200 and "待领取" in voucher.text
    assert '<svg class="qr"' in voucher.text
    assert points(db, "person", person)["available"] == 70
    assert voucher_url(settings.public_base_url, code).endswith(f"/v/{code}")


def test_resubmitting_the_same_redeem_form_orders_once(client, db, settings):
    _, person, reward = _setup(db)
    sign_in(client, settings, "volunteer", person_id=person)
    fields = form_fields(client.get("/rewards").text, f"/rewards/{reward.id}/redeem")
    url = f"/rewards/{reward.id}/redeem"
    a = client.post(url, data={**fields, "quantity": 1}, follow_redirects=False)
    b = client.post(url, data={**fields, "quantity": 1}, follow_redirects=False)
    assert a.headers["location"] == b.headers["location"]
    assert points(db, "person", person)["available"] == 70


def test_redeem_refusals_are_shown_next_to_the_quantity_in_chinese(client, db, settings):
    _, person, reward = _setup(db, cost=60)
    sign_in(client, settings, "volunteer", person_id=person)
    r = _redeem(client, reward.id, quantity=2)
    assert r.status_code == 422
    assert 'id="e-quantity">积分不足' in r.text
    r = _redeem(client, reward.id, quantity=99)
    assert r.status_code == 422 and 'id="e-quantity">应在 1 到 10 之间' in r.text


def test_clerk_scans_voucher_and_fulfils_once(client, db, settings):
    _, person, reward = _setup(db)
    sign_in(client, settings, "volunteer", person_id=person)
    code = _redeem(client, reward.id).headers["location"].rsplit("/", 1)[1]
    client.cookies.clear()
    sign_in(client, settings, "clerk", user_id=CLERK_USER)
    page = client.get(f"/v/{code}")
    assert page.status_code == 200 and "请交付" in page.text and "大米一袋 ×1" in page.text
    fields = form_fields(page.text, f"/v/{code}/fulfil")
    done = client.post(f"/v/{code}/fulfil", data=fields)
    assert done.status_code == 200 and "已核销" in done.text
    assert points(db, "person", person)["balance"] == 70
    again = client.get(f"/v/{code}")
    assert "这张券已经领取过了" in again.text and f'action="/v/{code}/fulfil"' not in again.text


def test_clerk_of_another_shop_is_told_in_chinese(client, db, settings):
    _, person, reward = _setup(db)
    sign_in(client, settings, "volunteer", person_id=person)
    code = _redeem(client, reward.id).headers["location"].rsplit("/", 1)[1]
    client.cookies.clear()
    sign_in(client, settings, "clerk", user_id=999)
    r = client.get(f"/v/{code}")
    assert r.status_code == 403 and "您还没有被分配到积分超市" in r.text


def test_pages_that_need_sign_in_redirect_to_it(client):
    for path in ("/me", "/clerk", "/v/ABCD"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")


def test_my_page_shows_balance_and_each_entry_explained(client, db, settings):
    _, person, reward = _setup(db)
    sign_in(client, settings, "volunteer", person_id=person)
    _redeem(client, reward.id)
    page = client.get("/me")
    assert page.status_code == 200
    assert 'data-testid="balance">70<' in page.text
    assert "测试奖励" in page.text and "管理员调整" in page.text  # the admin award, explained
    assert "大米一袋 ×1" in page.text and "待领取" in page.text
