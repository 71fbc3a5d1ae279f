"""Each role's whole job in a phone-sized Chromium (390×844), from the first scan, through the
pages only: no API calls and no cookies set by hand for the steps under test. The organizer's
screen and the plate sheet are only where the QR codes come from. Screenshots of every step go
to artifacts/screenshots, and to docs/screenshots/ with `make screenshots` (docs/pages.md shows
them); every page passes axe."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from playwright.sync_api import expect

from api.auth import Principal
from ledger.activities import planning
from ledger.identity import service as identity
from ledger.registry.models import Household
from ledger.registry.plates import Plate, plates_pdf
from ledger.timeutil import utcnow
from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    axe_violations,
    shot,
    sign_in_as,
)
from tests.e2e.support_people import (
    decode_qr,
    make_volunteer,
    path_of,
    sign_in_by_phone,
    sign_in_with_password,
)
from tests.e2e.test_e2e_camera import write_y4m
from tests.builders.redemption import (
    give_points,
    make_household,
    make_reward,
    make_shop,
    make_town,
)

ORGANIZER = 93_001


def step(page, name: str) -> None:
    """A screenshot of this step for the docs, and the axe check of the page."""
    shot(page, name)
    assert axe_violations(page) == [], name


def _open_activity(live_app, village: int) -> dict:
    organizer = planning.Actor(user_id=ORGANIZER, roles=(("organizer", village),))
    now = utcnow()
    act = planning.create_activity(live_app.db, organizer, planning.ActivityDraft(
        village_id=village, title="理论政策宣讲进村", rule_item_code="A07", starts_at=now,
        ends_at=now + timedelta(hours=2), place="村文化礼堂", rotate_s=10))
    planning.set_status(live_app.db, organizer, act.id, "open")
    return act


def _code_on_screen(browser, live_app, village: int, activity_id: int) -> str:
    """What the volunteer's camera reads off the organizer's full-screen code."""
    ctx = browser.new_context(viewport={"width": 1024, "height": 900}, base_url=live_app.url,
                              locale="zh-CN")
    screen = ctx.new_page()
    sign_in_as(screen, live_app, Principal(user_id=ORGANIZER, name="组织者",
                                           roles=(("organizer", village),)))
    screen.goto(f"/org/activities/{activity_id}/qr")
    try:
        return path_of(decode_qr(screen.locator("svg.qr")))
    finally:
        ctx.close()


def test_volunteer_walk(browser, live_app, page):
    town = make_town(live_app.db, villages=1)
    village = town["villages"][0]
    person, phone = make_volunteer(live_app, village, name="林阿伯")
    # 8 points from earlier service booked by the village (no account yet): with today's 3 he
    # passes the catalog's 10-point threshold for redeeming
    give_points(live_app.db, "person", person, village, 16)
    shop = make_shop(live_app.db, town["town"], name="塘边村积分超市")
    make_reward(live_app.db, shop, name="洗衣粉一袋", kind="goods", cost_points=2, stock=20)
    act = _open_activity(live_app, village)

    page.goto(_code_on_screen(browser, live_app, village, act.id))  # the first scan
    page.wait_for_url(re.compile(r"/signin\?next=/c/"))
    step(page, "walk-volunteer-1-signin")
    sign_in_by_phone(page, live_app, phone)
    page.get_by_test_id("checkin-result").wait_for()
    assert page.get_by_test_id("checkin-result").inner_text() == "签到成功"
    step(page, "walk-volunteer-2-checked-in")

    page.goto(_code_on_screen(browser, live_app, village, act.id))  # leaving: scan again
    page.get_by_role("button", name="确认签退").click()
    assert page.get_by_test_id("checkin-result").inner_text() == "签退成功"
    assert page.get_by_test_id("points").inner_text() == "获得 3 积分"
    step(page, "walk-volunteer-3-checked-out")

    page.get_by_role("link", name="我的积分").click()
    assert page.get_by_test_id("balance").inner_text() == "11"
    assert "理论政策宣讲" in page.locator("main").inner_text()
    step(page, "walk-volunteer-4-me")

    page.get_by_role("link", name="兑换", exact=True).click()
    card = page.locator("section.card", has_text="洗衣粉一袋")
    card.get_by_label("数量").fill("2")
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    step(page, "walk-volunteer-5-rewards")
    card.get_by_role("button", name="兑换").click()
    page.wait_for_url(re.compile(r"/me/vouchers/"))
    assert asked == ["确认用 2 积分兑换？"]  # the price of two, not of one
    assert page.get_by_test_id("voucher-status").inner_text() == "待领取"
    assert page.locator("svg.qr").is_visible()
    step(page, "walk-volunteer-6-voucher")
    page.goto("/me")
    assert page.get_by_test_id("balance").inner_text() == "9"
    assert "洗衣粉一袋 ×2" in page.locator("main").inner_text()


def test_household_walk(live_app, page):
    """A household scans the QR on its door plate: its score, stars and what earned it."""
    town = make_town(live_app.db, villages=1)
    village = town["villages"][0]
    hh = make_household(live_app.db, village)
    give_points(live_app.db, "household", hh, village, 10)  # 5 points (half-point catalog)
    with live_app.db.sessions() as s:
        plate = s.get(Household, hh).plate_code
    sheet = plates_pdf(town="宝盖镇", village="塘边村", plates=[Plate(plate, "塘边村 1 号")],
                       public_base_url=live_app.url)
    from tests.qr_support import pdf_qr_texts
    scanned = pdf_qr_texts(sheet, dpi=216)
    assert scanned, "the plate's QR code cannot be read"
    page.goto(path_of(scanned[0]))
    assert page.get_by_test_id("house-score").inner_text() == "5"
    assert "测试奖励" in page.get_by_test_id("house-entries").inner_text()
    step(page, "walk-household-1-plate")
    page.get_by_role("link", name="各村积分排行").click()
    expect(page.locator("svg.chart")).to_be_visible()  # waits: the click only starts the page's load
    step(page, "walk-household-2-rank")


def test_inspector_walk(playwright, live_app, tmp_path):
    """Sign in on the sign-in page, land on the inspection page, scan a door plate with the
    phone's camera, record a finding; the plate shows it."""
    town = make_town(live_app.db, villages=1)
    village = town["villages"][0]
    hh = make_household(live_app.db, village)
    with live_app.db.sessions() as s:
        plate = s.get(Household, hh).plate_code
    login = f"pingyi{uuid.uuid4().hex[:6]}"
    with live_app.db.transaction() as s:
        identity.add_user(s, login=login, name="评议员", password="Baogai-2026!",
                          roles=(("inspector", village),))
    from ledger.registry.plates import plate_url
    video = tmp_path / "plate.y4m"
    write_y4m(video, plate_url(live_app.url, plate))  # the QR printed on the plate
    b = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}"])
    try:
        ctx = b.new_context(viewport=PHONE, base_url=live_app.url, locale="zh-CN",
                            permissions=["camera"], is_mobile=True, has_touch=True)
        page = ctx.new_page()
        sign_in_with_password(page, login, "Baogai-2026!")
        page.wait_for_url("**/inspect")  # an inspector's home, not "my points"
        step(page, "walk-inspector-1-home")
        page.get_by_role("button", name="打开相机").click()
        page.wait_for_url(f"**/h/{plate}", timeout=15_000)
        page.get_by_label("评议项目").select_option("C01")
        page.get_by_label("情况说明").fill("庭院干净整洁，杂物归置有序")
        from PIL import Image
        Image.new("RGB", (64, 48), (90, 140, 60)).save(tmp_path / "yard.jpg")
        page.get_by_label("照片（可选）").set_input_files(str(tmp_path / "yard.jpg"))
        page.get_by_text("yard.jpg").wait_for()  # named under the photo button
        step(page, "walk-inspector-2-form")
        page.get_by_role("button", name="提交评议").click()
        expect(page.get_by_test_id("inspection-done")).to_be_visible()  # waits: the click only starts the page's load
        step(page, "walk-inspector-3-recorded")
    finally:
        b.close()


def test_every_tab_of_a_town_admin_is_on_screen_at_phone_width(live_app, page):
    sign_in_as(page, live_app, Principal(user_id=93_900, name="镇管理员",
                                         roles=(("town_admin", None),)))
    page.goto("/admin")
    tabs = page.locator("nav.tabs a")
    assert tabs.count() == 11  # with 实践站, 服务单 and the town's 看板
    for i in range(tabs.count()):
        box = tabs.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], \
            tabs.nth(i).inner_text()
    step(page, "walk-admin-tabs")
    page.goto("/inspect")
    assert page.get_by_role("button", name="打开相机").is_visible()
    assert not page.get_by_role("button", name="关闭相机").is_visible()  # until it is open
