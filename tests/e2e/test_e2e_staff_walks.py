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
from ledger.identity.actor import Actor
from ledger.identity.models import AppUser
from ledger.redemption import service as redemption
from ledger.registry.models import Village
from ledger.rules import service as rules
from ledger.rules import workflow
from tests.e2e.conftest import PHONE, axe_violations, shot
from tests.e2e.support_people import (
    decode_qr,
    make_volunteer,
    path_of,
    sign_in_by_phone,
    sign_in_with_password,
)
from tests.builders.redemption import (
    give_points,
    make_household,
    make_people,
    make_person,
    make_reward,
    make_shop,
    make_town,
)

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
    order = redemption.redeem(db, reward_id=oil.id, holder_type="person",
                              holder_id=resident, quantity=1, actor_id=1, key=None)
    code = order.voucher.code
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


def _pdf_pages(page, href: str) -> int:
    """Follow a page's link to a PDF in the signed-in browser: its page count."""
    import pypdfium2 as pdfium
    got = page.context.request.get(href)
    assert got.status == 200 and got.headers["content-type"].startswith("application/pdf")
    return len(pdfium.PdfDocument(got.body()))


def test_village_admin_walk(live_app, page):
    """The village's budget; a new household and its member; a staff account with its role;
    the door plates to print; a large deduction confirmed as the second person; a household's
    appeal decided."""
    db = live_app.db
    village, _ = _village(db, "坑东村")
    login = _staff(db, "赵村官", (("village_admin", village),))
    inspector = _user_id(db, _staff(db, "孙评议", (("inspector", village),)))
    gambler = make_person(db, village)
    rules.record_award(db, live_app.settings, item_code="B11", holder=("person", gambler),
                       recorder=Actor(user_id=inspector, roles=(("inspector", village),)),
                       context={"note": "派出所通报，参与赌博"})  # −20: over 10, a second person
    home = make_household(db, village)
    appellant = make_person(db, village, household_id=home)
    posted = rules.record_award(db, live_app.settings, item_code="C09",
                                holder=("household", home),
                                recorder=Actor(user_id=inspector, roles=(("inspector", village),)),
                                context={"note": "散养鸡鸭"})
    reason = f"鸡鸭已圈养{uuid.uuid4().hex[:4]}"
    workflow.appeal(db, award_id=posted.award_id, reason=reason, key=None,
                    appellant=Actor(user_id=93_777, person_id=appellant))  # the household appeals
    head, member = f"吴大山{uuid.uuid4().hex[:3]}", f"吴小溪{uuid.uuid4().hex[:3]}"
    new_login = f"zhou{uuid.uuid4().hex[:6]}"

    sign_in_with_password(page, login, PASSWORD)
    page.wait_for_url("**/admin")
    step(page, "walk-village-admin-1-home")
    page.get_by_role("link", name="积分预算").first.click()
    assert "坑东村" in page.locator("table").first.inner_text()
    step(page, "walk-village-admin-2-budgets")

    page.goto("/admin")
    page.get_by_role("link", name="户籍与门牌").first.click()
    page.get_by_label("户主").fill(head)
    page.get_by_label("地址").fill("坑东村新村路8号")
    page.get_by_role("button", name="新增").click()
    page.wait_for_url(re.compile(r"/admin/households/\d+\?saved=1"))
    add = page.locator("form[action$='/members']")
    add.get_by_label("名称").fill(member)
    add.get_by_label("手机号").fill("139" + f"{uuid.uuid4().int % 10 ** 8:08d}")
    add.get_by_role("button", name="添加成员").click()
    page.wait_for_load_state()
    assert page.locator(f"input[value='{member}']").count() == 1
    step(page, "walk-village-admin-3-household")
    plates = page.get_by_role("link", name="打印本村门牌（PDF）").get_attribute("href")
    assert _pdf_pages(page, plates) >= 1

    page.goto("/admin")
    page.get_by_role("link", name="账号与角色").first.click()
    form = page.locator("form[action='/admin/users']")
    form.get_by_label("账号").fill(new_login)
    form.get_by_label("名称").fill("周评议")
    form.get_by_label("密码").fill("Kengdong-2026!")
    form.get_by_label("角色").select_option(label="评议员")
    form.get_by_role("button", name="新增账号").click()
    page.get_by_test_id("va-saved").wait_for()
    entry = page.get_by_test_id("users").locator("li", has_text=new_login).first
    assert "评议员" in entry.inner_text()
    step(page, "walk-village-admin-4-users")

    page.goto("/admin")
    page.get_by_role("link", name="待我处理").first.click()
    confirmations = page.get_by_test_id("desk-confirmations")
    item = confirmations.locator("li").filter(has_text="参与赌博").first
    step(page, "walk-village-admin-5-desk")
    item.get_by_role("button", name="确认扣分").click()
    page.get_by_test_id("desk-saved").wait_for(state="visible")
    assert page.get_by_test_id("desk-confirmations").count() == 0 \
        or "派出所通报" not in page.get_by_test_id("desk-confirmations").inner_text()
    item = page.get_by_test_id("desk-appeals").locator("li").filter(has_text=reason).first
    item.get_by_label("处理意见").fill("现场查看仍有散养")
    item.get_by_role("button", name="申诉不成立，维持扣分").click()
    page.get_by_test_id("desk-saved").wait_for(state="visible")
    assert page.get_by_test_id("desk-appeals").count() == 0 \
        or reason not in page.get_by_test_id("desk-appeals").inner_text()
    step(page, "walk-village-admin-6-decided")


def test_town_admin_walk(live_app, page):
    """The town home; an honor list computed, reviewed and published through the pages, its
    poster; the ranking of the town's villages."""
    from ledger.timeutil import LOCAL_TZ, utcnow
    db = live_app.db
    town = make_town(db, villages=2)
    with db.transaction() as s:
        names = {v: f"{n}{uuid.uuid4().hex[:3]}" for v, n in zip(town["villages"],
                                                                 ("东埔村", "西埔村"))}
        for v, n in names.items():
            s.get(Village, v).name = n
    east, west = town["villages"]
    for person, pts in zip(make_people(db, east, 2), (60, 40), strict=True):
        give_points(db, "person", person, east, pts)
    give_points(db, "household", make_household(db, east), east, 20)  # 10 points
    make_household(db, west)  # none yet
    login = _staff(db, "镇管理员", (("town_admin", None),))
    title = f"年度积分榜{uuid.uuid4().hex[:3]}"

    sign_in_with_password(page, login, PASSWORD)
    page.wait_for_url("**/admin")
    page.get_by_role("link", name="今日待办").first.click()
    page.wait_for_url("**/town")
    for section in ("town-desk", "town-ending", "town-budgets", "town-quiet"):
        assert page.get_by_test_id(section).is_visible(), section
    step(page, "walk-town-admin-1-today")

    page.goto("/admin")
    page.get_by_role("link", name="光荣榜").first.click()
    page.get_by_label("名称").fill(title)
    page.get_by_label("范围").select_option(f"village:{east}")
    page.get_by_label("评比依据").select_option("points")
    page.locator("select[name=period]").select_option("year")
    page.get_by_label("上榜人数").fill("2")
    page.get_by_role("button", name="保存").click()
    card = page.locator("section.card", has_text=title)
    card.get_by_label("年度").fill(str(utcnow().astimezone(LOCAL_TZ).year))
    card.get_by_role("button", name="生成草稿").click()
    page.get_by_text("草稿", exact=True).wait_for()
    page.get_by_role("button", name="提交审核").click()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="审核通过，发布").click()
    page.get_by_test_id("honor-status").filter(has_text="已发布").wait_for()
    assert page.get_by_test_id("honor-entries").locator("tbody tr").count() == 2
    step(page, "walk-town-admin-2-honor-published")
    assert _pdf_pages(page, page.get_by_test_id("poster-pdf").get_attribute("href")) >= 1

    page.get_by_role("link", name="排行").first.click()
    page.get_by_label("镇（街道）").select_option(str(town["town"]))
    page.get_by_role("button", name="查看").click()
    rows = page.get_by_test_id("rank-table").inner_text()
    assert names[east] in rows and names[west] in rows and "坑东村" not in rows
    assert rows.index(names[east]) < rows.index(names[west])  # 10 points a household vs 0
    step(page, "walk-town-admin-3-rank")
