"""The workflow pages: public notice (plate page, /me, the village board, objections decided on
the reviewer's desk), appeals from /me decided by someone else, a large deduction waiting for
a second person, claims with a photo verified and approved, and what a finding says it did."""

from __future__ import annotations

import io
import re

from PIL import Image

from ledger.rules import service as rules
from ledger.rules.models import AwardRecord
from ledger.identity.actor import Actor
from tests.builders.workflow import world
from tests.builders.pages import form_fields, sign_in

NO_FILE = {"photo": ("", b"", "application/octet-stream")}


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _as(client, settings, *roles, village=None, user_id, person_id=None):
    client.cookies.clear()
    return sign_in(client, settings, *roles, village_id=village, user_id=user_id,
                   person_id=person_id)


def _status(db, award_id: int) -> str:
    with db.sessions() as s:
        return s.get(AwardRecord, award_id).status


def _inspect(client, plate, item, note="", photo=None):
    page = client.get(f"/h/{plate}")
    files = {"photo": ("p.png", photo, "image/png")} if photo else NO_FILE
    return client.post(f"/h/{plate}/inspect", files=files, data={
        **form_fields(page.text, f"/h/{plate}/inspect"), "item_code": item, "note": note})


def _balance(client) -> str:
    return re.search(r'data-testid="balance">([^<]*)<', client.get("/me").text).group(1)


def test_a_finding_on_notice_shows_as_pending_everywhere_and_an_objection_is_decided(
        client, db, settings):
    w = world(db)  # 塘边村: everything goes on notice for 3 days
    _as(client, settings, "inspector", village=w.village, user_id=11)
    r = _inspect(client, w.plate, "C06", note="门口堆放杂物")
    assert r.status_code == 200
    assert "已记录，公示中：房前屋后乱堆乱放 -2 分，公示至 " in r.text
    award_id = int(re.search(r'data-testid="notice-(\d+)"', client.get(
        f"/notices/{w.village}").text).group(1))
    assert _status(db, award_id) == "on_notice"

    client.cookies.clear()  # anyone: the plate page and the board
    plate = client.get(f"/h/{w.plate}").text
    pending = plate.split('data-testid="pending-notices"')[1].split("</section>")[0]
    assert "房前屋后乱堆乱放" in pending and "公示中" in pending and "公示至 " in pending
    assert 'data-testid="house-score">0<' in plate  # not counted yet
    board = client.get(f"/notices/{w.village}").text
    assert "陈*" in board and "陈家" not in board and "登录后可提出异议" in board
    assert client.get("/notices").status_code == 200
    assert f'href="/signin?next=/notices/{w.village}"' in board

    _as(client, settings, "volunteer", village=w.village, user_id=12, person_id=w.resident)
    me = client.get("/me").text
    assert "房前屋后乱堆乱放" in me.split('data-testid="pending-notices"')[1]
    board = client.get(f"/notices/{w.village}").text
    action = f"/notices/{w.village}/awards/{award_id}/object"
    r = client.post(action, data={**form_fields(board, action), "reason": ""})
    assert r.status_code == 422 and "请写明理由" in r.text
    r = client.post(action, data={**form_fields(board, action), "reason": "杂物是邻居的"})
    assert r.status_code == 200 and 'data-testid="objected"' in r.text
    assert _status(db, award_id) == "in_review" and "异议复核中" in r.text

    _as(client, settings, "village_admin", village=w.village, user_id=13)
    desk = client.get("/review").text
    section = desk.split('data-testid="desk-objections"')[1]
    assert "杂物是邻居的" in section and "陈家户" in section
    action = f"/review/awards/{award_id}/objection"
    r = client.post(action, data={**form_fields(desk, action), "uphold": "1",
                                  "note": "核实属实"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/review?saved=1"
    assert _status(db, award_id) == "rejected"
    client.cookies.clear()
    assert 'data-testid="pending-notices"' not in client.get(f"/h/{w.plate}").text


def test_the_recorder_cannot_decide_the_objection_to_their_own_finding(client, db, settings):
    w = world(db)
    _as(client, settings, "village_admin", village=w.village, user_id=13)
    _inspect(client, w.plate, "C06", note="门口堆放杂物")
    award_id = int(re.search(r'data-testid="notice-(\d+)"', client.get(
        f"/notices/{w.village}").text).group(1))
    _as(client, settings, "volunteer", village=w.village, user_id=12, person_id=w.resident)
    board = client.get(f"/notices/{w.village}").text
    action = f"/notices/{w.village}/awards/{award_id}/object"
    client.post(action, data={**form_fields(board, action), "reason": "不属实"})
    _as(client, settings, "village_admin", village=w.village, user_id=13)
    desk = client.get("/review")
    assert 'data-testid="desk-objections"' not in desk.text  # left to someone else
    action = f"/review/awards/{award_id}/objection"
    r = client.post(action, data={**form_fields(desk.text, "/signout"), "form_key": "k" * 16,
                                  "uphold": "0"})
    assert r.status_code == 422 and "记录人不能自己处理这一步" in r.text
    assert _status(db, award_id) == "in_review"


def test_a_deduction_is_appealed_from_me_and_decided_by_another_admin(client, db, settings):
    w = world(db, village_name="坑东村")  # no notice: posted at once
    done = rules.record_award(db, settings, item_code="C06", holder=("household", w.household),
                              recorder=Actor(21, roles=(("village_admin", w.village),)),
                              context={"note": "门口堆放杂物"})
    award_id = done.award_id
    assert done.status == "posted"
    _as(client, settings, "volunteer", village=w.village, user_id=12, person_id=w.resident)
    me = client.get("/me").text
    assert f'href="/appeal/{award_id}"' in me.split('data-testid="deductions"')[1]
    assert f'href="/appeal/{award_id}"' in client.get(f"/h/{w.plate}").text
    page = client.get(f"/appeal/{award_id}")
    assert page.status_code == 200 and "房前屋后乱堆乱放" in page.text
    r = client.post(f"/appeal/{award_id}", data={**form_fields(page.text, f"/appeal/{award_id}"),
                                                "reason": "已经清理干净"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/me?appealed=1"
    me = client.get("/me?appealed=1").text
    assert 'data-testid="appealed"' in me and "申诉处理中" in me
    assert client.get(f"/appeal/{award_id}").status_code == 404  # once only

    _as(client, settings, "village_admin", village=w.village, user_id=21)  # the recorder
    assert 'data-testid="desk-appeals"' not in client.get("/review").text
    _as(client, settings, "town_admin", user_id=22)
    desk = client.get("/review").text
    assert "已经清理干净" in desk.split('data-testid="desk-appeals"')[1]
    appeal_id = re.search(r'action="/review/appeals/(\d+)"', desk).group(1)
    action = f"/review/appeals/{appeal_id}"
    r = client.post(action, data={**form_fields(desk, action), "upheld": "1", "note": "属实"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert _status(db, award_id) == "reversed"
    _as(client, settings, "volunteer", village=w.village, user_id=12, person_id=w.resident)
    assert "申诉成立，已撤销扣分" in client.get("/me").text


def test_a_large_deduction_waits_for_a_second_person_and_a_missing_photo_is_named(
        client, db, settings):
    w = world(db, village_name="坑东村")
    _as(client, settings, "inspector", village=w.village, user_id=31)
    r = _inspect(client, w.plate, "C13", note="多次通知未整改")
    assert r.status_code == 422
    assert re.search(r'id="e-photo">该项目须附照片<', r.text)
    assert 'id="e-note"' not in r.text
    r = _inspect(client, w.plate, "C13", note="多次通知未整改", photo=_png())
    assert r.status_code == 200 and "评议已记录" not in r.text
    assert "已记录，等待第二人确认：拒不整改环境问题 -15 分" in r.text
    desk = client.get("/review").text
    assert 'data-testid="desk-confirmations"' not in desk  # not by the recorder
    _as(client, settings, "inspector", village=w.village, user_id=32)
    desk = client.get("/review").text
    section = desk.split('data-testid="desk-confirmations"')[1]
    assert "拒不整改环境问题" in section and "/review/photos/" in section
    photo = re.search(r'src="(/review/photos/[0-9a-f]{64})"', section).group(1)
    got = client.get(photo)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    award_id = int(re.search(r'action="/review/awards/(\d+)/confirm"', desk).group(1))
    action = f"/review/awards/{award_id}/confirm"
    assert client.post(action, data=form_fields(desk, action),
                       follow_redirects=False).status_code == 303
    assert _status(db, award_id) == "pending_review"  # C13 also needs an admin's approval
    _as(client, settings, "village_admin", village=w.village, user_id=33)
    desk = client.get("/review").text
    action = f"/review/awards/{award_id}/approve"
    client.post(action, data=form_fields(desk, action))
    assert _status(db, award_id) == "posted"
    client.cookies.clear()
    assert client.get(photo, follow_redirects=False).status_code == 303  # staff only


def test_a_resident_claims_with_a_photo_and_staff_verify_and_approve(client, db, settings):
    w = world(db, village_name="坑东村")
    _as(client, settings, "volunteer", village=w.village, user_id=12, person_id=w.resident)
    page = client.get("/me/claims")
    assert 'capture="environment"' in page.text and 'accept="image/*"' in page.text
    assert "A14 无偿献血" in page.text
    fields = form_fields(page.text, "/me/claims")
    r = client.post("/me/claims", files=NO_FILE, data={**fields, "item_code": "A14",
                                                       "holder": "person", "note": "献血"})
    assert r.status_code == 422 and re.search(r'id="e-photo">该项目须附照片<', r.text)
    r = client.post("/me/claims", files={"photo": ("blood.png", _png(), "image/png")},
                    data={**fields, "item_code": "A14", "holder": "person", "note": "献血"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/me/claims?saved=1"
    page = client.get("/me/claims?saved=1").text
    award_id = int(re.search(r'data-testid="claim-status-(\d+)">待核实<', page).group(1))

    _as(client, settings, "inspector", village=w.village, user_id=41)
    desk = client.get("/review").text
    assert "无偿献血" in desk.split('data-testid="desk-claims"')[1]
    action = f"/review/awards/{award_id}/verify"
    client.post(action, data=form_fields(desk, action))
    assert _status(db, award_id) == "verified"
    _as(client, settings, "village_admin", village=w.village, user_id=42)
    desk = client.get("/review").text
    action = f"/review/awards/{award_id}/approve"
    client.post(action, data=form_fields(desk, action))
    assert _status(db, award_id) == "posted"
    _as(client, settings, "volunteer", village=w.village, user_id=12, person_id=w.resident)
    assert _balance(client) == "10"
    assert "已计入" in client.get("/me/claims").text


def test_a_claim_turned_down_shows_why(client, db, settings):
    w = world(db, village_name="坑东村")
    award = rules.record_award(db, settings, item_code="D09", holder=("person", w.resident),
                               recorder=Actor(12, roles=(("volunteer", w.village),), person_id=w.resident),
                               context={"channel": "claim", "note": "路灯坏了"})
    _as(client, settings, "village_admin", village=w.village, user_id=42)
    desk = client.get("/review").text
    action = f"/review/awards/{award.award_id}/reject"
    r = client.post(action, data={**form_fields(desk, action), "reason": ""})
    assert r.status_code == 422 and "请写明理由" in r.text
    client.post(action, data={**form_fields(desk, action), "reason": "未能核实"})
    assert _status(db, award.award_id) == "rejected"
    _as(client, settings, "volunteer", village=w.village, user_id=12, person_id=w.resident)
    page = client.get("/me/claims").text
    assert "未通过" in page and "未能核实" in page


def test_points_on_pages_are_in_points_for_half_point_catalogs(client, db, settings):
    w = world(db)  # Baogai's catalog keeps 2 steps per point
    rules.record_award(db, settings, item_code="C03", holder=("household", w.household),
                       recorder=Actor(11, roles=(("inspector", w.village),)), context={})
    client.cookies.clear()
    plate = client.get(f"/h/{w.plate}").text
    assert "+0.5" in plate.split('data-testid="pending-notices"')[1]
    board = client.get(f"/notices/{w.village}").text
    assert "+0.5" in board


def test_a_per_hour_item_under_its_smallest_step_says_why_it_gave_nothing(client, db,
                                                                            settings):
    from datetime import timedelta

    from ledger.activities import planning
    from ledger.timeutil import utcnow
    from tests.builders.redemption import make_person
    w = world(db, village_name="坑东村")
    org = planning.Actor(user_id=51, roles=(("organizer", w.village),))
    now = utcnow()
    act = planning.create_activity(db, org, planning.ActivityDraft(
        village_id=w.village, title="河道清理", rule_item_code="A01",
        starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(hours=2)))
    planning.set_status(db, org, act.id, "open")
    _as(client, settings, "organizer", village=w.village, user_id=51)
    qr = client.get(f"/org/activities/{act.id}/qr").text
    path = re.search(r'data-testid="checkin-url">([^<]+)<', qr).group(1).replace(
        settings.public_base_url, "")
    _as(client, settings, "volunteer", village=w.village, user_id=52,
        person_id=make_person(db, w.village))
    page = client.get(path)
    client.post(path, data=form_fields(page.text, path))
    again = client.get(path)
    r = client.post(path, data=form_fields(again.text, path))
    assert "签退成功" in r.text
    assert "获得  积分" not in r.text
    assert re.search(r'data-testid="hour-hint">本次未计积分：服务时长不足 1 分钟<', r.text)


def test_twenty_minutes_of_a_per_hour_item_explain_the_zero(db, settings):
    from api.i18n import translator
    from api.pages.workflow_views import per_hour_hint
    from ledger.activities.awards import _outcome
    w = world(db, village_name="坑东村")
    award = rules.record_award(db, settings, item_code="A01", holder=("person", w.resident),
                               recorder=Actor(51, roles=(("organizer", w.village),)),
                               context={"minutes": 20})
    assert award.steps == 0 and award.status == "posted"
    hint = per_hour_hint(db, _outcome(award), 20, translator("zh"), 2)
    assert hint == ("按小时计分：每满 30 分钟计 0.5 分，本次 20 分钟不足，不计分"
                    "（服务时长照常记录）。")
    assert per_hour_hint(db, {**_outcome(award), "steps": 1}, 45, translator("zh"), 2) is None
