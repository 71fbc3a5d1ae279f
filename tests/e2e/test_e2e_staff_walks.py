"""The staff's whole jobs in a phone-sized Chromium (390×844), through the pages only, each
from signing in on the sign-in page: the organizer, the shop clerk, the village admin and the
town admin. What the job starts from (a volunteer on the register, a resident's order) is made
with the service functions; no API call and no cookie set by hand for the steps under test.
Every step is screenshotted (conftest.shot: docs/screenshots on `make screenshots`) and passes
axe."""

from __future__ import annotations

import csv
import io
import re
import uuid

from sqlalchemy import select

from ledger.identity import service as identity
from ledger.identity.models import AppUser
from ledger.redemption import service as redemption
from ledger.registry.models import Village
from tests.e2e.conftest import PHONE, axe_violations, shot
from tests.e2e.support_people import (
    decode_qr,
    make_volunteer,
    path_of,
    sign_in_by_phone,
    sign_in_with_password,
)
from tests.test_redemption_support import give_points, make_person, make_reward, make_shop

PASSWORD = "Baogai-2026!"


def step(page, name: str) -> None:
    shot(page, name)
    assert axe_violations(page) == [], name


def _phone(browser, live_app):
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=1, locale="zh-CN",
                              base_url=live_app.url, is_mobile=True, has_touch=True)
    ctx.set_default_timeout(10_000)
    return ctx.new_page()


def _village(db, name: str) -> tuple[int, int]:
    with db.sessions() as s:
        v = s.scalars(select(Village).where(Village.name == name)).one()
        return v.id, v.town_id


def _staff(db, name: str, roles) -> str:
    login = f"walk{uuid.uuid4().hex[:8]}"
    with db.transaction() as s:
        identity.add_user(s, login=login, name=name, password=PASSWORD, roles=roles)
    return login


def _user_id(db, login: str) -> int:
    with db.sessions() as s:
        return s.scalar(select(AppUser.id).where(AppUser.login == login))


def test_organizer_walk(browser, live_app, page):
    """Create an activity with an earning item, open it, show the rotating code; a volunteer
    checks in and out on their phone; confirm the attendance, close the activity, see who got
    what."""
    db = live_app.db
    village, _ = _village(db, "坑东村")  # no public notice: points are paid at once
    login = _staff(db, "王组织", (("organizer", village),))
    _, phone = make_volunteer(live_app, village, name="陈小梅")
    title = f"村道清扫{uuid.uuid4().hex[:4]}"

    sign_in_with_password(page, login, PASSWORD)
    page.wait_for_url("**/org")  # an organizer's home
    page.get_by_role("link", name="新建活动").click()
    page.get_by_label("活动名称").fill(title)
    page.get_by_label("所属村（社区）").select_option(label="坑东村")
    offered = page.get_by_label("积分项目").locator("option").all_inner_texts()
    assert any(o.startswith("A07 ") for o in offered)
    assert not any(o.startswith("C0") for o in offered)  # no deduction items for an activity
    page.get_by_label("积分项目").select_option("A07")
    page.get_by_label("地点").fill("坑东村村道")
    page.get_by_label(re.compile("签退后需要我确认")).check()
    step(page, "walk-organizer-1-new")
    page.get_by_role("button", name="创建活动").click()
    page.wait_for_url(re.compile(r"/org/activities/\d+$"))
    activity_url = page.url
    page.get_by_role("button", name="发布活动，开始签到").click()
    page.get_by_role("link", name="全屏显示签到码").click()
    page.wait_for_url("**/qr")
    step(page, "walk-organizer-2-qr")

    volunteer = _phone(browser, live_app)
    volunteer.goto(path_of(decode_qr(page.locator("svg.qr"))))  # the volunteer's camera
    volunteer.wait_for_url(re.compile(r"/signin\?next=/c/"))
    sign_in_by_phone(volunteer, live_app, phone)
    volunteer.get_by_test_id("checkin-result").wait_for()
    assert volunteer.get_by_test_id("checkin-result").inner_text() == "签到成功"
    volunteer.goto(path_of(decode_qr(page.locator("svg.qr"))))  # leaving: the code again
    volunteer.get_by_role("button", name="确认签退").click()
    assert volunteer.get_by_test_id("checkin-result").inner_text() == "签退成功"
    volunteer.context.close()

    page.goto(activity_url)
    row = page.locator("tr", has_text="陈小梅")
    assert "待确认" in row.inner_text()
    row.get_by_role("button", name="确认").click()
    page.wait_for_url("**?saved=1")
    row = page.locator("tr", has_text="陈小梅")
    assert "已确认" in row.inner_text()
    points = row.locator("[data-testid^=att-points-]")
    for _ in range(20):  # the points follow the confirmation's commit (the outbox)
        if points.inner_text().strip() == "3":
            break
        page.wait_for_timeout(250)
        page.reload()
        row = page.locator("tr", has_text="陈小梅")
        points = row.locator("[data-testid^=att-points-]")
    assert points.inner_text().strip() == "3"  # A07: 3 points
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="结束活动").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("activity-status").inner_text() == "已结束"
    step(page, "walk-organizer-3-who-got-what")


def test_clerk_walk(browser, live_app, page):
    """A resident shows a voucher; the clerk finds it by its code, hands the reward over,
    sees it is no longer waiting; then the shop's settlement and its download."""
    db = live_app.db
    village, town = _village(db, "坑东村")
    login = _staff(db, "李店员", (("clerk", village),))
    shop_name = f"坑东村积分超市{uuid.uuid4().hex[:3]}"
    shop = make_shop(db, town, name=shop_name, clerks=(_user_id(db, login),))
    oil = make_reward(db, shop, name="花生油一桶", kind="goods", cost_points=20, stock=5)
    resident = make_person(db, village)
    give_points(db, "person", resident, village, 40)
    order = redemption.redeem(db, reward_id=oil["id"], holder_type="person",
                              holder_id=resident, quantity=1, actor_id=1, key=None)
    code = order["voucher"]["code"]
    shown = "-".join(code[i:i + 4] for i in range(0, len(code), 4))  # as the voucher reads

    sign_in_with_password(page, login, PASSWORD)
    page.wait_for_url("**/clerk")  # a clerk's home: the voucher scanner
    step(page, "walk-clerk-1-home")
    page.get_by_label("或输入二维码上的链接/编号").fill(shown)
    page.get_by_role("button", name="打开", exact=True).click()
    page.wait_for_url(re.compile(r"/v/"))
    assert page.get_by_test_id("hand-over").inner_text() == "花生油一桶 ×1"
    assert page.get_by_test_id("voucher-status").inner_text() == "待领取"
    step(page, "walk-clerk-2-voucher")
    page.get_by_role("button", name="确认已交付").click()
    page.get_by_test_id("fulfilled").wait_for()
    assert page.get_by_test_id("voucher-status").inner_text() == "已领取"
    step(page, "walk-clerk-3-handed-over")
    page.get_by_role("link", name="扫兑换券").click()
    page.get_by_label("或输入二维码上的链接/编号").fill(shown)  # shown again: nothing to do
    page.get_by_role("button", name="打开", exact=True).click()
    page.wait_for_url(re.compile(r"/v/"))
    assert page.get_by_test_id("voucher-status").inner_text() == "已领取"
    assert page.get_by_role("button", name="确认已交付").count() == 0

    page.goto("/clerk")
    page.get_by_role("link", name="兑换结算").click()
    table = page.get_by_test_id("settlement")
    assert "花生油" not in table.inner_text()  # figures per shop, not per reward
    assert table.locator("tbody tr").count() == 2  # their shop and the total, no other shop
    cells = table.locator("tr", has_text=shop_name).locator("td").all_inner_texts()
    assert cells[:2] == [shop_name, "10"]  # 20 steps: 10 points
    step(page, "walk-clerk-4-settlement")
    with page.expect_download() as got:
        page.get_by_test_id("settlement-csv").click()
    rows = list(csv.DictReader(io.StringIO(
        open(got.value.path(), encoding="utf-8-sig").read())))
    assert [(r["类别"], r["礼品"], r["积分"]) for r in rows] \
        == [("兑换", "花生油一桶", "10"), ("合计", "", "10")]
