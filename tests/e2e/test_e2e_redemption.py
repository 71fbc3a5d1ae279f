"""A redemption in a real browser: the volunteer orders a reward and shows the voucher's QR
code; the clerk opens the voucher's URL, sees what to hand over, and fulfils it once."""

from __future__ import annotations

import re

from api.auth import Principal
from tests.e2e.conftest import axe_violations, shot, sign_in_as
from tests.builders.redemption import (
    give_points,
    make_person,
    make_reward,
    make_shop,
    make_town,
)

CLERK_USER = 90_001


def test_order_voucher_and_clerk_fulfilment(browser, live_app, page):
    db = live_app.db
    town = make_town(db, villages=1)
    village = town["villages"][0]
    person = make_person(db, village)
    give_points(db, "person", person, village, 240)  # steps: 120 points
    shop = make_shop(db, town["town"], name="e2e积分超市", clerks=(CLERK_USER,))
    reward = make_reward(db, shop, stock=3, cost_points=100, name="食用油一桶")  # 50 points

    sign_in_as(page, live_app, Principal(user_id=90_000, name="陈阿姨",
                                         roles=(("volunteer", village),), person_id=person))
    page.goto("/rewards")
    card = page.locator(f"#reward-{reward.id}")
    assert "需 50 积分" in card.inner_text()
    shot(page, "rewards")
    assert axe_violations(page) == []
    page.once("dialog", lambda d: d.accept())  # "确认用 50 积分兑换？"
    card.get_by_role("button", name="兑换").click()
    page.wait_for_url(re.compile(r"/me/vouchers/"))
    assert page.get_by_test_id("voucher-status").inner_text() == "待领取"
    assert page.locator("svg.qr").is_visible()
    shot(page, "voucher")
    assert axe_violations(page) == []
    code = page.url.rsplit("/", 1)[1]
    page.goto("/me")
    assert page.get_by_test_id("balance").inner_text() == "70"

    clerk_ctx = browser.new_context(viewport={"width": 390, "height": 844},
                                    base_url=live_app.url, locale="zh-CN")
    counter = clerk_ctx.new_page()
    sign_in_as(counter, live_app, Principal(user_id=CLERK_USER, name="店员",
                                            roles=(("clerk", None),)))
    counter.goto(f"/v/{code}")  # what the phone opens when the clerk scans the voucher
    assert counter.get_by_test_id("hand-over").inner_text() == "食用油一桶 ×1"
    counter.get_by_role("button", name="确认已交付").click()
    counter.wait_for_url(re.compile(r"/fulfil$"))  # the answer's page loaded, not only begun
    assert counter.get_by_test_id("fulfilled").is_visible()
    assert counter.get_by_test_id("voucher-status").inner_text() == "已领取"
    shot(counter, "clerk-fulfilled")
    counter.goto(f"/v/{code}")
    assert "这张券已经领取过了" in counter.content()
    clerk_ctx.close()

    page.goto(f"/me/vouchers/{code}")
    assert page.get_by_test_id("voucher-status").inner_text() == "已领取"
