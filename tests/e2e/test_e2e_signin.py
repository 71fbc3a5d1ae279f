"""Signing in as a new volunteer does: phone, 获取验证码, the code the SMS sender delivered,
登录 — with the page's scripts on, which disable the buttons while a form is in flight."""

from __future__ import annotations

from tests.e2e.conftest import axe_violations
from tests.e2e.support_people import make_volunteer, sign_in_by_phone
from tests.builders.redemption import make_town


def test_new_volunteer_signs_in_with_a_phone_code(live_app, page):
    village = make_town(live_app.db, villages=1)["villages"][0]
    _, phone = make_volunteer(live_app, village, name="陈阿姨")
    page.goto("/signin")
    assert axe_violations(page) == []
    sign_in_by_phone(page, live_app, phone)
    page.wait_for_url("**/me")
    assert page.get_by_test_id("balance").is_visible()
