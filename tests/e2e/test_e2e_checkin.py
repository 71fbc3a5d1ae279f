"""Check-in in real browsers: the organizer creates an activity and shows its rotating code
full screen; a volunteer opens the code's URL to check in, the organizer's screen counts the
arrival by itself, and a minute later the volunteer opens the (new) code's URL again to check
out and sees the minutes and points, each explained on 'my points'."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from api.auth import Principal
from ledger.identity import service as identity
from tests.e2e.conftest import axe_violations, shot, sign_in_as
from tests.builders.redemption import make_person, make_town

ORGANIZER = 91_001
MIN_STAY_S = 61  # service minutes are whole minutes, floored: stay just over one


def _code_path(screen) -> str:
    url = screen.get_by_test_id("checkin-url").text_content()
    return re.sub(r"^https?://[^/]+", "", url)


def test_volunteer_checks_in_and_out_by_opening_the_code_url(browser, live_app, page):
    db = live_app.db
    town = make_town(db, villages=1)
    village = town["villages"][0]
    person = make_person(db, village)
    with db.transaction() as s:
        identity.add_user(s, login="linabo", name="林阿伯", password="Baogai-2026!",
                          person_id=person, roles=(("volunteer", village),))

    org_ctx = browser.new_context(viewport={"width": 1024, "height": 900},
                                  base_url=live_app.url, locale="zh-CN")
    screen = org_ctx.new_page()
    sign_in_as(screen, live_app, Principal(user_id=ORGANIZER, name="组织者",
                                           roles=(("organizer", village),)))
    screen.goto("/org/new")
    screen.get_by_label("活动名称").fill("理论政策宣讲进村")
    screen.get_by_label("所属村（社区）").select_option(str(village))
    screen.get_by_label("积分项目").select_option("A07")
    screen.get_by_label("地点").fill("村文化礼堂")
    screen.get_by_label("二维码刷新间隔（秒）").fill("10")
    screen.get_by_role("button", name="创建活动").click()
    screen.get_by_role("button", name="发布活动，开始签到").click()
    assert screen.get_by_test_id("activity-status").inner_text() == "进行中"
    screen.get_by_role("link", name="全屏显示签到码").click()
    expect(screen.locator("svg.qr")).to_be_visible()  # waits: the click only starts the page's load
    assert screen.get_by_test_id("arrived").inner_text() == "已签到 0 人"
    first = _code_path(screen)

    page.goto(first)  # what the phone's camera app opens from the QR code: sign in first
    page.get_by_label("账号或手机号").fill("linabo")
    page.get_by_label("密码").fill("Baogai-2026!")
    page.locator("form[action='/signin']").get_by_role("button", name="登录").click()
    page.get_by_test_id("checkin-result").wait_for()  # back on the code's page, sent by itself
    assert page.get_by_test_id("checkin-result").inner_text() == "签到成功"
    checked_in = time.monotonic()
    shot(page, "checkin")
    assert axe_violations(page) == []

    # the organizer's screen counts the arrival and turns its code over by itself
    screen.get_by_text("已签到 1 人").wait_for(timeout=15_000)
    screen.wait_for_function(
        f"document.querySelector('[data-testid=checkin-url]').textContent.indexOf('{first}') < 0",
        timeout=15_000)
    shot(screen, "organizer-qr")

    time.sleep(max(0.0, MIN_STAY_S - (time.monotonic() - checked_in)))
    page.goto(_code_path(screen))  # scanning the code on the screen again, a minute later
    page.get_by_role("button", name="确认签退").click()
    assert page.get_by_test_id("checkin-result").inner_text() == "签退成功"
    assert page.get_by_test_id("minutes").inner_text() == "服务 1 分钟"
    assert page.get_by_test_id("points").inner_text() == "获得 3 积分"
    screen.get_by_text("已签退 1 人").wait_for(timeout=15_000)
    org_ctx.close()

    page.goto("/me")
    assert page.get_by_test_id("balance").inner_text() == "3"
    history = page.get_by_test_id("history")
    assert "理论政策宣讲" in history.inner_text()
    history.locator("summary").first.click()
    why = history.locator("details").first.inner_text()
    assert "A07" in why and "理论政策宣讲进村" in why and "第 1 版" in why
    shot(page, "me")
    assert axe_violations(page) == []
