"""A first-time volunteer scans the organizer's rotating code before having signed in. Signing
in by SMS takes longer than the code lives; the scan still counts, because the service noted
when it first saw the code good (a pending scan, bounded by tokens.PENDING_SCAN_GRACE_S)."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from api.auth import Principal
from ledger.activities import planning, tokens
from ledger.timeutil import utcnow
from tests.e2e.conftest import sign_in_as
from tests.e2e.support_people import decode_qr, make_volunteer, path_of, sign_in_by_phone
from tests.builders.redemption import make_town

ORGANIZER = 91_101
ROTATE_S = 5


def test_scan_before_sign_in_counts_after_the_code_turned_over(browser, live_app, page):
    village = make_town(live_app.db, villages=1)["villages"][0]
    _, phone = make_volunteer(live_app, village)
    organizer = planning.Actor(user_id=ORGANIZER, roles=(("organizer", village),))
    now = utcnow()
    act = planning.create_activity(live_app.db, organizer, planning.ActivityDraft(
        village_id=village, title="河道清理", rule_item_code="A07", starts_at=now,
        ends_at=now + timedelta(hours=2), rotate_s=ROTATE_S))
    planning.set_status(live_app.db, organizer, act.id, "open")

    screen_ctx = browser.new_context(viewport={"width": 1024, "height": 900},
                                     base_url=live_app.url, locale="zh-CN")
    screen = screen_ctx.new_page()
    sign_in_as(screen, live_app, Principal(user_id=ORGANIZER, name="组织者",
                                           roles=(("organizer", village),)))
    screen.goto(f"/org/activities/{act.id}/qr")
    scanned = path_of(decode_qr(screen.locator("svg.qr")))
    screen_ctx.close()
    assert scanned.startswith("/c/")

    page.goto(scanned)  # the camera app opens the code: not signed in yet
    page.wait_for_url(re.compile(r"/signin\?next=/c/"))
    # phone sign-in comes first for a volunteer on the way to a check-in
    assert page.locator("h2").first.inner_text() == "手机验证码登录"
    time.sleep(ROTATE_S * (tokens.ACCEPTED_PERIODS + 1))  # waiting for the SMS: the code expires
    sign_in_by_phone(page, live_app, phone)
    page.get_by_test_id("checkin-result").wait_for()
    assert page.get_by_test_id("checkin-result").inner_text() == "签到成功"


def test_the_same_code_opened_late_is_refused(live_app, page):
    """Without the pending scan (another browser, or after the grace) the code is as old as
    it is: a screenshot of it is no use later."""
    village = make_town(live_app.db, villages=1)["villages"][0]
    _, phone = make_volunteer(live_app, village)
    organizer = planning.Actor(user_id=ORGANIZER, roles=(("organizer", village),))
    now = utcnow()
    act = planning.create_activity(live_app.db, organizer, planning.ActivityDraft(
        village_id=village, title="河道清理", rule_item_code="A07", starts_at=now,
        ends_at=now + timedelta(hours=2), rotate_s=ROTATE_S))
    planning.set_status(live_app.db, organizer, act.id, "open")
    old, _ = tokens.rotating_token(live_app.settings.secret_key, act.id, ROTATE_S,
                                   now - timedelta(seconds=ROTATE_S * 4))
    page.goto(f"/c/{old}")
    sign_in_by_phone(page, live_app, phone)
    page.get_by_test_id("checkin-error").wait_for()
    assert "过期" in page.get_by_test_id("checkin-error").inner_text()
