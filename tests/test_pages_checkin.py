"""Activities through the pages: the organizer creates and opens an activity and shows its
rotating code; a volunteer opens the code's URL to check in and again to check out; the
organizer confirms; forged and expired codes are answered in Chinese."""

from __future__ import annotations

import re
from datetime import timedelta

from ledger.activities import tokens
from ledger.rules import store
from ledger.timeutil import LOCAL_TZ, utcnow
from tests.builders.pages import form_fields, sign_in
from tests.builders.redemption import make_person, make_town

ORGANIZER_USER = 301


def _activity(client, db, settings, *, confirm=False):
    store.load_shipped(db)
    town = make_town(db, villages=1)
    village = town["villages"][0]
    sign_in(client, settings, "organizer", village_id=village, user_id=ORGANIZER_USER, db=db)
    page = client.get("/org/new")
    assert page.status_code == 200 and "A07 理论政策宣讲" in page.text
    start = (utcnow() - timedelta(minutes=10)).astimezone(LOCAL_TZ)
    data = {**form_fields(page.text, "/org/new"), "title": "政策宣讲进村", "village_id": village,
            "rule_item_code": "A07", "place": "塘边村文化礼堂",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"), "rotate_s": "15"}
    if confirm:
        data["needs_confirmation"] = "1"
    r = client.post("/org/new", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    path = r.headers["location"]
    page = client.get(path)
    client.post(f"{path}/status", data={**form_fields(page.text, f"{path}/status"),
                                        "status": "open"})
    return village, int(path.rsplit("/", 1)[1])


def _code_url(client, activity_id):
    qr = client.get(f"/org/activities/{activity_id}/qr")
    assert qr.status_code == 200 and '<svg class="qr"' in qr.text
    return re.search(r'data-testid="checkin-url">([^<]+)<', qr.text).group(1)


def test_volunteer_checks_in_and_out_by_opening_the_code_url(client, db, settings):
    village, activity_id = _activity(client, db, settings)
    url = _code_url(client, activity_id)
    path = url.replace(settings.public_base_url, "")
    person = make_person(db, village)
    client.cookies.clear()
    sign_in(client, settings, "volunteer", person_id=person, user_id=302)
    page = client.get(path)
    assert "政策宣讲进村" in page.text and "data-autosubmit" in page.text
    r = client.post(path, data=form_fields(page.text, path))
    assert r.status_code == 200 and "签到成功" in r.text
    again = client.get(path)
    assert "确认签退" in again.text and "data-autosubmit" not in again.text
    r = client.post(path, data=form_fields(again.text, path))
    assert "签退成功" in r.text and 'data-testid="minutes"' in r.text
    assert "您已签到并签退过这个活动" in client.get(path).text


def test_in_production_the_check_out_page_says_the_points_are_on_their_way(client, db,
                                                                          settings):
    """With the workers paying (committed outbox rows handed on, as production's API process
    does), the page answers before the points are paid and says so."""
    from ledger import outbox
    village, activity_id = _activity(client, db, settings)
    path = _code_url(client, activity_id).replace(settings.public_base_url, "")
    person = make_person(db, village)
    client.cookies.clear()
    sign_in(client, settings, "volunteer", person_id=person, user_id=302)
    client.post(path, data=form_fields(client.get(path).text, path))
    handed: list[int] = []
    outbox.attach(db, lambda _engine, ids: handed.extend(ids))
    try:
        again = client.get(path)
        r = client.post(path, data=form_fields(again.text, path))
    finally:
        outbox.attach(db, outbox.inline)
    assert "签退成功" in r.text and 'data-testid="points-due"' in r.text
    assert "积分发放中" in r.text and len(handed) == 1
    assert 'data-testid="points"' not in r.text


def test_organizer_confirms_a_pending_attendance(client, db, settings):
    village, activity_id = _activity(client, db, settings, confirm=True)
    path = _code_url(client, activity_id).replace(settings.public_base_url, "")
    person = make_person(db, village)
    client.cookies.clear()
    sign_in(client, settings, "volunteer", person_id=person, user_id=303)
    page = client.get(path)
    client.post(path, data=form_fields(page.text, path))
    page = client.get(path)
    r = client.post(path, data=form_fields(page.text, path))
    assert "签退成功" in r.text
    client.cookies.clear()
    sign_in(client, settings, "organizer", village_id=village, user_id=ORGANIZER_USER)
    page = client.get(f"/org/activities/{activity_id}")
    assert "志愿者0" in page.text and "待确认" in page.text
    action = re.search(r'action="(/org/attendances/\d+/confirm)"', page.text).group(1)
    r = client.post(action, data=form_fields(page.text, action))
    assert r.status_code == 200 and "已确认" in r.text


def test_live_count_and_rotating_code_come_as_json(client, db, settings):
    _, activity_id = _activity(client, db, settings)
    data = client.get(f"/org/activities/{activity_id}/qr.json").json()
    assert data["arrived"] == "已签到 0 人" and data["qr"].startswith("<svg")
    assert "/c/" in data["url"] and 300 <= data["every_ms"] <= 15_300


def test_forged_and_expired_codes_are_refused_in_chinese(client, db, settings):
    village, activity_id = _activity(client, db, settings)
    person = make_person(db, village)
    client.cookies.clear()
    sign_in(client, settings, "volunteer", person_id=person, user_id=304)
    r = client.get("/c/rabc.def.ghi")
    assert r.status_code in (400, 403, 422) and "这个二维码不是本系统发出的" in r.text
    old, _ = tokens.rotating_token(settings.secret_key, activity_id, 15,
                                   utcnow() - timedelta(minutes=5))
    page = client.get(f"/c/{old}")
    r = client.post(f"/c/{old}", data=form_fields(page.text, f"/c/{old}"))
    assert "二维码已过期" in r.text


def test_activity_form_errors_are_next_to_the_field(client, db, settings):
    store.load_shipped(db)
    town = make_town(db, villages=1)
    sign_in(client, settings, "organizer", village_id=town["villages"][0])
    page = client.get("/org/new")
    data = {**form_fields(page.text, "/org/new"), "title": "", "village_id": town["villages"][0],
            "rule_item_code": "A07", "starts_at": "2026-11-23T10:00",
            "ends_at": "2026-11-23T09:00", "rotate_s": "15"}
    r = client.post("/org/new", data=data)
    assert r.status_code == 422 and 'id="e-title">必填' in r.text
    data["title"] = "清扫"
    r = client.post("/org/new", data=data)
    assert r.status_code == 422 and 'id="e-ends_at">' in r.text
    assert "结束时间须晚于开始时间" in r.text


def test_the_new_activity_form_proposes_a_window_that_is_accepted_late_at_night(
        client, db, settings, monkeypatch):
    """At 23:10 the proposed end was 23:10 too (the hour capped at 23), so the form refused its
    own default; it now ends two hours on, the next day."""
    from datetime import UTC, datetime

    import api.pages.organizer as organizer
    late = datetime(2026, 12, 6, 15, 10, tzinfo=UTC)  # 23:10 in Shishi
    monkeypatch.setattr(organizer, "utcnow", lambda: late)
    store.load_shipped(db)
    village = make_town(db, villages=1)["villages"][0]
    sign_in(client, settings, "organizer", village_id=village, user_id=ORGANIZER_USER, db=db)
    page = client.get("/org/new")
    proposed = {name: re.search(rf'<input[^>]*name="{name}"[^>]*>', page.text).group(0)
                for name in ("starts_at", "ends_at")}
    values = {k: re.search(r'value="([^"]*)"', tag).group(1) for k, tag in proposed.items()}
    assert values == {"starts_at": "2026-12-06T23:10", "ends_at": "2026-12-07T01:10"}
    r = client.post("/org/new", data={**form_fields(page.text, "/org/new"), **values,
                                      "title": "夜间巡逻", "village_id": village,
                                      "rule_item_code": "A07", "place": "坑东村村道",
                                      "rotate_s": "15"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
