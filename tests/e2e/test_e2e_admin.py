"""The admin console in a real browser: a town admin edits a rule item (a new catalog version)
and takes an honor list from definition to draft, review and publication with its poster."""

from __future__ import annotations

from api.auth import Principal
from ledger.timeutil import LOCAL_TZ, utcnow
from tests.e2e.conftest import shot, sign_in_as
from tests.builders.redemption import give_points, make_people, make_town


def test_admin_edits_a_rule_and_publishes_an_honor_list(browser, live_app):
    db = live_app.db
    town = make_town(db, villages=1)
    village = town["villages"][0]
    for person, pts in zip(make_people(db, village, 3), (60, 40, 20)):
        give_points(db, "person", person, village, pts)

    ctx = browser.new_context(viewport={"width": 1024, "height": 900}, base_url=live_app.url,
                              locale="zh-CN")
    page = ctx.new_page()
    sign_in_as(page, live_app, Principal(user_id=93_001, name="镇管理员",
                                         roles=(("town_admin", None),)))
    page.goto("/admin")
    page.get_by_role("link", name="积分规则").click()
    page.get_by_role("link", name="宝盖镇乡风文明积分（演示）").click()
    before = page.get_by_test_id("catalog-version").inner_text()
    page.get_by_role("link", name="修改 A09").click()
    page.get_by_label("分值").fill("3")
    page.get_by_label("决议文号").fill("宝文〔2026〕12号")
    page.get_by_role("button", name="保存为新版本").click()
    after = page.get_by_test_id("catalog-version").inner_text()
    assert before != after and page.locator("#item-A09").inner_text().split("\t")[2] == "3"
    shot(page, "admin-catalog")

    page.goto("/admin/honors")
    page.get_by_label("名称").fill("年度志愿积分榜")
    page.get_by_label("范围").select_option(f"village:{village}")
    page.get_by_label("评比依据").select_option("points")
    page.get_by_label("周期").select_option("year")
    page.get_by_label("上榜人数").fill("2")
    page.get_by_role("button", name="保存").click()
    card = page.locator("section.card", has_text="年度志愿积分榜")
    card.get_by_label("年度").fill(str(utcnow().astimezone(LOCAL_TZ).year))
    card.get_by_role("button", name="生成草稿").click()
    page.get_by_text("草稿", exact=True).wait_for()
    assert "志愿者0" in page.get_by_test_id("honor-entries").inner_text()
    page.get_by_role("button", name="提交审核").click()
    assert page.get_by_test_id("honor-status").inner_text() == "审核中"
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="审核通过，发布").click()
    assert page.get_by_test_id("honor-status").inner_text() == "已发布"
    shot(page, "admin-honor-published")
    pdf = page.request.get(page.get_by_test_id("poster-pdf").get_attribute("href"))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    ctx.close()
