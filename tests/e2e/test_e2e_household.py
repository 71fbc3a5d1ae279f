"""Door plates in real browsers: an inspector opens a household's plate URL, records a finding,
and anyone opening the same plate sees the new score (masked name, no personal data); the
village ranking draws its chart. Both public pages pass the axe check."""

from __future__ import annotations

from playwright.sync_api import expect

from api.auth import Principal
from ledger.registry.models import Household
from tests.e2e.conftest import axe_violations, shot, sign_in_as
from tests.builders.redemption import make_household, make_town


def test_inspection_shows_on_the_public_household_page(browser, live_app, page):
    db = live_app.db
    town = make_town(db, villages=1)
    village = town["villages"][0]
    hh = make_household(db, village)
    with db.sessions() as s:
        plate = s.get(Household, hh).plate_code

    page.goto(f"/h/{plate}")  # anyone, not signed in: what the door plate's QR opens
    assert page.get_by_test_id("house-score").inner_text() == "0"
    assert "陈*" in page.locator("h1").inner_text()

    insp_ctx = browser.new_context(viewport={"width": 390, "height": 844},
                                   base_url=live_app.url, locale="zh-CN")
    insp = insp_ctx.new_page()
    sign_in_as(insp, live_app, Principal(user_id=92_001, name="评议员",
                                         roles=(("inspector", village),)))
    insp.goto(f"/h/{plate}")
    insp.get_by_label("评议项目").select_option("C01")
    insp.get_by_label("情况说明").fill("庭院干净整洁，杂物归置有序")
    shot(insp, "inspector")
    insp.get_by_role("button", name="提交评议").click()
    expect(insp.get_by_test_id("inspection-done")).to_be_visible()  # waits: the click only starts the page's load
    insp_ctx.close()

    page.reload()
    assert page.get_by_test_id("house-score").inner_text() == "5"
    entries = page.get_by_test_id("house-entries").inner_text()
    assert "庭院整洁" in entries and "+5" in entries
    assert "杂物归置" not in page.content()  # the inspector's note stays private
    shot(page, "household")
    assert axe_violations(page) == []

    page.goto("/rank")
    assert page.locator("svg.chart").is_visible()
    shot(page, "ranking")
    assert axe_violations(page) == []
