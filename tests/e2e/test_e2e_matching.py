"""四单 in real browsers, each role signing in through the sign-in page: a resident of 塘边村
orders 家电维修 from the station's public page (点单); the station's admin dispatches it to the
town's 卫生环保 team (派单); the team's leader accepts it and sees the address (接单); at the
door the leader opens the household's service code to check in and again to check out; the
resident rates it (评单) and sees the whole history. Then the town admin's dashboard."""

from __future__ import annotations

import re

from sqlalchemy import select

from ledger.demo import DEMO_PASSWORD
from ledger.registry.models import Village
from ledger.stations.demo import LEADER_LOGIN, RESIDENT_LOGIN
from ledger.timeutil import LOCAL_TZ, utcnow
from tests.e2e.conftest import PHONE, axe_violations, shot


def _sign_in(page, login: str) -> None:
    """The sign-in page the app sent us to; afterwards it sends us back."""
    page.get_by_label("账号或手机号").fill(login)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").first.click()


def _phone(browser, live_app):
    ctx = browser.new_context(viewport=PHONE, base_url=live_app.url, locale="zh-CN",
                              is_mobile=True, has_touch=True)
    ctx.set_default_timeout(10_000)
    return ctx, ctx.new_page()


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url.strip())


def test_whole_order_from_placing_to_rating_through_the_pages(browser, live_app, page):
    with live_app.db.sessions() as s:
        station = s.scalar(select(Village.id).where(Village.name == "塘边村"))

    # 点单: the resident, from the station's public page
    page.goto(f"/stations/{station}")
    assert page.get_by_test_id("plan-theme").first.is_visible()
    shot(page, "station-page")
    assert axe_violations(page) == []
    page.get_by_role("link", name="我要点单").click()
    _sign_in(page, RESIDENT_LOGIN)
    assert axe_violations(page) == []
    page.get_by_label("服务项目").select_option(label="家电维修")
    page.get_by_label("需求说明").fill("电视机没有信号，老人不会调")
    now = utcnow().astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("期望服务时间").fill(now)
    page.get_by_role("button", name="提交点单").click()
    assert page.get_by_test_id("order-status").inner_text() == "待派单"
    order_path = _path(page.url)
    assert re.fullmatch(r"/orders/\d+", order_path)

    # 派单: the station's admin, from the station's queue
    staff_ctx, staff = _phone(browser, live_app)
    staff.goto(f"/station/{station}/orders")
    _sign_in(staff, "tangbian.admin")
    staff.locator(f'a[href="{order_path}"]').click()
    staff.get_by_label("派给队伍").select_option(label="宝盖镇卫生环保志愿服务队")
    staff.get_by_role("button", name="派单", exact=True).click()
    assert staff.get_by_test_id("order-status").inner_text() == "待接单"
    staff_ctx.close()

    # 接单: the team's leader, from 'my tasks'
    lead_ctx, lead = _phone(browser, live_app)
    lead.goto("/orders")
    _sign_in(lead, LEADER_LOGIN)
    lead.locator(f'a[href="{order_path}"]').click()
    lead.get_by_role("button", name="接单", exact=True).click()
    assert lead.get_by_test_id("order-status").inner_text() == "已接单"
    assert "演示路" in lead.get_by_test_id("order-address").inner_text()
    shot(lead, "order-accepted")

    # at the door: the household shows its service code, the leader opens it to check in/out
    page.reload()
    assert page.get_by_test_id("order-status").inner_text() == "已接单"
    code = _path(page.get_by_test_id("service-code-url").inner_text())
    shot(page, "order-code")
    lead.goto(code)
    lead.get_by_test_id("checkin-result").wait_for()  # the page sends the check-in itself
    assert lead.get_by_test_id("checkin-result").inner_text() == "签到成功"
    lead.goto(code)
    lead.get_by_role("button", name="确认签退").click()
    assert lead.get_by_test_id("checkin-result").inner_text() == "签退成功"
    lead.goto(order_path)
    assert lead.get_by_test_id("order-status").inner_text() == "待评价"
    assert lead.get_by_role("button", name="提交评价").count() == 0  # nobody rates own work
    lead_ctx.close()

    # 评单: the resident
    page.reload()
    assert page.get_by_test_id("order-status").inner_text() == "待评价"
    page.get_by_label("评分").select_option(label="5 星")
    page.get_by_label("评价内容").fill("师傅很耐心，电视修好了")
    page.get_by_role("button", name="提交评价").click()
    assert page.get_by_test_id("order-status").inner_text() == "已评价"
    history = page.get_by_test_id("order-history").inner_text()
    for step in ("点单", "派单", "接单", "上门签到", "服务完成", "评价"):
        assert step in history, history
    shot(page, "order-rated")
    assert axe_violations(page) == []


def test_town_dashboard_shows_the_generated_quarter(browser, live_app):
    ctx, admin = _phone(browser, live_app)
    admin.goto("/town/dashboard")
    _sign_in(admin, "admin")
    assert admin.get_by_test_id("dash-period").inner_text().endswith("季度")
    assert int(admin.get_by_test_id("dash-activities").inner_text()) > 0
    assert admin.locator("svg.chart").count() == 6
    assert admin.get_by_test_id("sign-only").inner_text().strip()  # some stations only a sign
    shot(admin, "town-dashboard")
    assert axe_violations(admin) == []
    ctx.close()
