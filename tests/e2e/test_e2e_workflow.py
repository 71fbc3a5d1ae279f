"""The workflow pages in real Chromium at 390×844, signed in through the sign-in page (staff:
login and password; volunteers: phone, 获取验证码, the code the embedded sender writes to the
server log, 登录): a finding on public notice seen on the plate page and the village board,
objected to by a resident and decided by an admin; a deduction appealed from /me and decided
by another admin; a claim with a photo verified and approved; sign-up, waiting list and
withdrawal; a certificate issued and checked on its public page. axe on every page."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from ledger.activities import planning
from ledger.identity.models import AppUser
from ledger.registry.models import Household, Person, Village
from ledger.rules import service as rules
from ledger.identity.actor import Actor
from ledger.timeutil import utcnow
from tests.e2e.conftest import PHONE, axe_violations, shot
from tests.e2e.support_people import sign_in_with_password

CODE_WAIT_S = 10


def _axe(page) -> None:
    assert axe_violations(page) == [], page.url


def _new_page(browser, live_app):
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=1, locale="zh-CN",
                              base_url=live_app.url, is_mobile=True, has_touch=True)
    ctx.set_default_timeout(10_000)
    return ctx.new_page()


def _logged_code(live_app, phone: str, after: int) -> str:
    """The newest code the embedded sender logged for this phone (it logs a masked phone)."""
    log = Path(live_app.settings.data_dir) / "server.log"
    deadline = time.monotonic() + CODE_WAIT_S
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")[after:]
        codes = []
        for line in text.splitlines():
            if '"otp_code"' not in line:
                continue
            rec = json.loads(line[line.index("{"):])
            if rec.get("phone", "")[-4:] == phone[-4:]:
                codes.append(rec["code"])
        if codes:
            return codes[-1]
        time.sleep(0.2)
    raise AssertionError(f"no code logged for {phone}")


def _phone_sign_in(page, live_app, phone: str, next_path: str) -> None:
    log = Path(live_app.settings.data_dir) / "server.log"
    page.goto(f"/signin?next={next_path}")
    form = page.locator('form[action="/signin/code"]')
    form.get_by_label("手机号").fill(phone)
    mark = len(log.read_text(encoding="utf-8", errors="replace"))
    form.get_by_role("button", name="获取验证码").click()
    page.wait_for_load_state()
    assert "验证码已发送" in page.content() or "已发送" in page.content()
    code = _logged_code(live_app, phone, mark)
    form = page.locator('form[action="/signin/code"]')
    form.get_by_label("验证码").fill(code)
    form.get_by_role("button", name="登录").click()
    page.wait_for_url(f"**{next_path}")


def _resident(db, village_name: str, skip: int = 0) -> dict:
    """A demo household of the village whose first member is a volunteer with a phone."""
    with db.sessions() as s:
        vid = s.scalar(select(Village.id).where(Village.name == village_name))
        found = []
        for hh in s.scalars(select(Household).where(Household.village_id == vid)
                            .order_by(Household.id)):
            p = s.scalar(select(Person).where(Person.household_id == hh.id,
                                              Person.is_volunteer.is_(True),
                                              Person.phone.is_not(None)).order_by(Person.id))
            if p is not None:
                found.append({"village": vid, "household": hh.id, "plate": hh.plate_code,
                              "person": p.id, "phone": p.phone, "name": p.name})
        return found[skip]


def _user_id(db, login: str) -> int:
    with db.sessions() as s:
        return s.scalar(select(AppUser.id).where(AppUser.login == login))


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


def test_finding_on_notice_objection_and_decision(browser, live_app, page):
    r = _resident(live_app.db, "塘边村", skip=0)  # 塘边村: 3 days of public notice
    insp = _new_page(browser, live_app)
    sign_in_with_password(insp, "tangbian.inspector", next_path=f"/h/{r['plate']}")
    insp.get_by_label("评议项目").select_option("C06")
    insp.get_by_label("情况说明").fill("门口堆放杂物")
    insp.get_by_role("button", name="提交评议").click()
    done = insp.get_by_test_id("inspection-done").inner_text()
    assert "已记录，公示中：房前屋后乱堆乱放 -2 分，公示至" in done
    pending = insp.get_by_test_id("pending-notices").inner_text()
    assert "公示中" in pending and "公示至" in pending
    shot(insp, "notice-plate")
    _axe(insp)
    insp.context.close()

    page.goto(f"/h/{r['plate']}")  # anyone
    assert "公示中" in page.get_by_test_id("pending-notices").inner_text()
    page.get_by_role("link", name="本村公示栏").click()
    page.wait_for_url(f"**/notices/{r['village']}")
    assert "房前屋后乱堆乱放" in page.get_by_test_id("notice-rows").inner_text()
    shot(page, "notice-board")
    _axe(page)

    _phone_sign_in(page, live_app, r["phone"], f"/notices/{r['village']}")
    row = page.locator("li[data-testid^=notice-]").filter(has_text="房前屋后乱堆乱放").first
    row.locator("summary").click()
    row.get_by_label("异议理由").fill("杂物是邻居家的，已告知")
    row.get_by_role("button", name="提出异议").click()
    page.get_by_test_id("objected").wait_for(state="visible")
    assert "异议复核中" in page.get_by_test_id("notice-rows").inner_text()
    page.goto("/me")
    assert "异议复核中" in page.get_by_test_id("pending-notices").inner_text()
    shot(page, "me-pending")
    _axe(page)

    admin = _new_page(browser, live_app)
    sign_in_with_password(admin, "tangbian.admin", next_path="/review")
    section = admin.get_by_test_id("desk-objections")
    assert "杂物是邻居家的" in section.inner_text()
    shot(admin, "review-desk")
    _axe(admin)
    item = section.locator("li").filter(has_text="杂物是邻居家的").first
    item.get_by_label("处理意见").fill("经核实属实")
    item.get_by_role("button", name="异议成立，撤销").click()
    admin.get_by_test_id("desk-saved").wait_for(state="visible")
    admin.context.close()
    page.goto(f"/h/{r['plate']}")
    assert page.get_by_test_id("pending-notices").count() == 0


def test_deduction_appealed_from_me_and_decided_by_another_admin(browser, live_app, page):
    db = live_app.db
    r = _resident(db, "坑东村", skip=0)  # no notice in 坑东村: posted at once
    recorder = _user_id(db, "kengdong.admin")
    rules.record_award(db, live_app.settings, item_code="C09",
                       holder=("household", r["household"]),
                       recorder=Actor(recorder, roles=(("village_admin", r["village"]),)),
                       context={"note": "散养鸡鸭"})
    _phone_sign_in(page, live_app, r["phone"], "/me")
    section = page.get_by_test_id("deductions")
    assert "违规散养家禽" in section.inner_text()
    section.get_by_role("link", name="申诉").first.click()
    page.get_by_label("申诉理由").fill("家禽已圈养")
    shot(page, "appeal")
    _axe(page)
    page.get_by_role("button", name="申诉").click()
    page.wait_for_url("**/me?appealed=1")
    page.get_by_test_id("appealed").wait_for(state="visible")
    assert "申诉处理中" in page.get_by_test_id("deductions").inner_text()

    town = _new_page(browser, live_app)
    sign_in_with_password(town, "admin", next_path="/review")
    appeals = town.get_by_test_id("desk-appeals")
    item = appeals.locator("li").filter(has_text="家禽已圈养").first
    item.get_by_role("button", name="申诉成立，撤销扣分").click()
    town.get_by_test_id("desk-saved").wait_for(state="visible")
    town.context.close()
    page.goto("/me")
    assert "申诉成立，已撤销扣分" in page.get_by_test_id("deductions").inner_text()


def test_claim_with_a_photo_is_verified_and_approved(browser, live_app, page):
    r = _resident(live_app.db, "塘边村", skip=1)
    _phone_sign_in(page, live_app, r["phone"], "/me")
    page.get_by_role("link", name="我要申报").click()
    page.wait_for_url("**/me/claims")
    assert page.locator("input[type=file][capture=environment][accept='image/*']").count() == 1
    page.get_by_label("申报项目").select_option("A14")
    page.get_by_label("情况说明").fill("在镇卫生院无偿献血 200 毫升")
    page.get_by_label("拍照或上传照片").set_input_files(
        files=[{"name": "blood.png", "mimeType": "image/png", "buffer": _png()}])
    shot(page, "claim")
    _axe(page)
    page.get_by_role("button", name="提交申报").click()
    page.get_by_test_id("claim-sent").wait_for(state="visible")
    assert "待核实" in page.get_by_test_id("claims").inner_text()

    insp = _new_page(browser, live_app)
    sign_in_with_password(insp, "tangbian.inspector", next_path="/review")
    claims = insp.get_by_test_id("desk-claims")
    item = claims.locator("li").filter(has_text="无偿献血").first
    assert item.locator("img").count() == 1
    item.get_by_role("button", name="核实无误").click()
    insp.get_by_test_id("desk-saved").wait_for(state="visible")
    insp.context.close()
    admin = _new_page(browser, live_app)
    sign_in_with_password(admin, "tangbian.admin", next_path="/review")
    item = admin.get_by_test_id("desk-approvals").locator("li").filter(has_text="无偿献血").first
    item.get_by_role("button", name="批准").click()
    admin.get_by_test_id("desk-saved").wait_for(state="visible")
    admin.context.close()
    page.goto("/me/claims")
    assert "公示中" in page.get_by_test_id("claims").inner_text()  # 塘边村's notice


def test_volunteers_sign_up_wait_and_withdraw(browser, live_app, page):
    db = live_app.db
    a, b = _resident(db, "坑东村", skip=1), _resident(db, "坑东村", skip=2)
    org_user = _user_id(db, "tangbian.organizer")
    with db.sessions() as s:
        vid = s.scalar(select(Village.id).where(Village.name == "塘边村"))
    org = planning.Actor(user_id=org_user, roles=(("organizer", vid),))
    now = utcnow()
    act = planning.create_activity(db, org, planning.ActivityDraft(
        village_id=vid, title="周末河道清理", rule_item_code="C11",
        starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=3),
        place="塘边溪", capacity=1))
    planning.set_status(db, org, act.id, "open")

    _phone_sign_in(page, live_app, a["phone"], "/me")
    page.get_by_role("link", name="活动报名").click()
    card = page.get_by_test_id(f"activity-{act.id}")
    card.get_by_role("button", name="我要报名").click()
    card = page.get_by_test_id(f"activity-{act.id}")
    assert card.get_by_test_id("signup-state").inner_text() == "已报名"

    other = _new_page(browser, live_app)
    _phone_sign_in(other, live_app, b["phone"], "/activities")
    card = other.get_by_test_id(f"activity-{act.id}")
    assert "名额已满" in card.inner_text()
    card.get_by_role("button", name="我要报名").click()
    card = other.get_by_test_id(f"activity-{act.id}")
    assert card.get_by_test_id("signup-state").inner_text() == "候补第 1 位"
    shot(other, "signup-waiting")
    _axe(other)

    page.get_by_test_id(f"activity-{act.id}").get_by_role("button", name="取消报名").click()
    page.wait_for_url("**/activities?promoted=1")
    assert "候补第一位已递补" in page.content()
    other.reload()
    card = other.get_by_test_id(f"activity-{act.id}")
    assert card.get_by_test_id("signup-state").inner_text() == "已报名"
    other.context.close()

    orgp = _new_page(browser, live_app)
    sign_in_with_password(orgp, "tangbian.organizer",
                          next_path=f"/org/activities/{act.id}")
    orgp.get_by_role("link", name="报名名单").click()
    assert b["name"] in orgp.get_by_test_id("seated").inner_text()
    shot(orgp, "org-signups")
    _axe(orgp)
    orgp.context.close()


def test_certificate_issued_and_checked_on_its_public_page(browser, live_app, page):
    r = _resident(live_app.db, "坑东村", skip=3)
    _phone_sign_in(page, live_app, r["phone"], "/me")
    page.get_by_role("link", name="开具证明").click()
    page.wait_for_url("**/me/certificates")
    _axe(page)
    page.get_by_role("button", name="开具").click()
    page.wait_for_url(re.compile(r".*/me/certificates/[A-Za-z0-9_-]+$"))
    page.locator("svg.qr").wait_for(state="visible")
    shot(page, "certificate")
    _axe(page)
    code = page.get_by_test_id("cert-code").inner_text()

    anyone = _new_page(browser, live_app)  # what the certificate's QR code opens
    anyone.goto(f"/cert/{code}")
    anyone.get_by_test_id("cert-valid").wait_for(state="visible")
    assert r["name"] not in anyone.content()  # masked
    shot(anyone, "certificate-verify")
    _axe(anyone)
    anyone.context.close()


def test_admin_pages_at_phone_size_pass_axe(browser, live_app, page):
    """The town admin's and village admin's pages, reached from the admin home."""
    db = live_app.db
    with db.sessions() as s:
        vid = s.scalar(select(Village.id).where(Village.name == "坑东村"))
        hh = s.scalar(select(Household.id).where(Household.village_id == vid)
                      .order_by(Household.id))
    sign_in_with_password(page, "admin", next_path="/admin")
    for name, link in (("town-home", "今日待办"), ("shops", "兑换点设置"),
                       ("settlement", "兑换结算"), ("draws", "幸运抽奖"),
                       ("households", "户籍与门牌"), ("users", "账号与角色"),
                       ("review-empty", "待我处理"), ("notice-villages", "公示栏")):
        page.goto("/admin")
        page.get_by_role("link", name=link, exact=True).click()
        page.wait_for_load_state()
        assert page.locator("h1").count() == 1
        shot(page, f"admin-{name}")
        _axe(page)
    page.goto(f"/admin/households/{hh}")
    shot(page, "admin-household")
    _axe(page)
    for path in ("/honors", "/activities", "/me/claims"):
        page.goto(path)
        _axe(page)

    org = _new_page(browser, live_app)
    with db.sessions() as s:
        tb = s.scalar(select(Village.id).where(Village.name == "塘边村"))
    organizer = planning.Actor(user_id=_user_id(db, "tangbian.organizer"),
                               roles=(("organizer", tb),))
    now = utcnow()
    act = planning.create_activity(db, organizer, planning.ActivityDraft(
        village_id=tb, title="敬老院探访", rule_item_code="A01",
        starts_at=now + timedelta(hours=2), ends_at=now + timedelta(hours=4), place="敬老院"))
    sign_in_with_password(org, "tangbian.organizer",
                          next_path=f"/org/activities/{act.id}")
    org.get_by_role("link", name="打印签到码").click()
    org.wait_for_url(f"**/org/activities/{act.id}/print")
    org.get_by_test_id("static-qr").locator("svg").wait_for(state="visible")
    shot(org, "print-code")
    _axe(org)
    org.context.close()


def test_honor_list_on_notice_takes_an_objection(browser, live_app, page):
    """An admin puts a reviewed honor list on notice; a resident objects on its public page."""
    from ledger.timeutil import LOCAL_TZ
    from tests.builders.redemption import give_points, make_people, make_town
    db = live_app.db
    village = make_town(db, villages=1)["villages"][0]
    for person, pts in zip(make_people(db, village, 2), (60, 40), strict=True):
        give_points(db, "person", person, village, pts)
    admin = _new_page(browser, live_app)
    sign_in_with_password(admin, "admin", next_path="/admin")
    admin.goto("/admin/honors")
    admin.get_by_label("名称").fill("年度好人榜（公示）")
    admin.get_by_label("范围").select_option(f"village:{village}")
    admin.get_by_label("评比依据").select_option("points")
    admin.locator("select[name=period]").select_option("year")  # the new list's own select
    admin.get_by_label("上榜人数").fill("2")
    admin.get_by_role("button", name="保存").click()
    card = admin.locator("section.card", has_text="年度好人榜（公示）")
    card.get_by_label("年度").fill(str(utcnow().astimezone(LOCAL_TZ).year))
    card.get_by_role("button", name="生成草稿").click()
    admin.get_by_text("草稿", exact=True).wait_for()
    admin.get_by_role("button", name="提交审核").click()
    admin.get_by_label("公示天数").fill("3")
    admin.get_by_role("button", name="公示", exact=True).click()
    assert admin.get_by_test_id("honor-status").inner_text() == "公示中"
    _axe(admin)
    list_url = admin.url.split("?")[0]
    list_id = list_url.rstrip("/").split("/")[-1]
    admin.context.close()

    r = _resident(db, "塘边村", skip=2)
    _phone_sign_in(page, live_app, r["phone"], f"/honors/{list_id}")
    page.get_by_test_id("honor-notice").wait_for(state="visible")
    page.get_by_label("异议理由").fill("名单漏掉了张某，请核实")
    shot(page, "honor-notice")
    _axe(page)
    page.get_by_role("button", name="提出异议").click()
    page.get_by_test_id("honor-objected").wait_for(state="visible")
