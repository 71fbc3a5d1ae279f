"""Volunteer pages: sign-up with a waiting line and withdrawal, the organizer's sign-up list and
rejecting an attendance, certificates issued from /me and checked on their public page, the
public honor list the poster's QR code opens, and the services linked from /me."""

from __future__ import annotations

import re
from datetime import timedelta

from ledger.activities import planning, review
from ledger.activities.models import Attendance
from ledger.recognition import poster
from ledger.timeutil import LOCAL_TZ, utcnow
from tests.builders.workflow import world
from tests.builders.pages import form_fields, sign_in
from tests.builders.redemption import give_points, make_person


def _as(client, settings, *roles, village=None, user_id, person_id=None):
    client.cookies.clear()
    return sign_in(client, settings, *roles, village_id=village, user_id=user_id,
                   person_id=person_id)


def _activity(db, village, *, capacity=None, started_min=30):
    org = planning.Actor(user_id=51, roles=(("organizer", village),))
    now = utcnow()
    act = planning.create_activity(db, org, planning.ActivityDraft(
        village_id=village, title="河道清理", rule_item_code="A01",
        starts_at=now - timedelta(minutes=started_min), ends_at=now + timedelta(hours=3),
        place="村口", capacity=capacity))
    planning.set_status(db, org, act.id, "open")
    return act.id, org


def _post(client, page_html, action, **extra):
    return client.post(action, data={**form_fields(page_html, action), **extra},
                       follow_redirects=False)


def test_sign_up_wait_in_line_and_move_up_when_a_seat_frees(client, db, settings):
    w = world(db, village_name="坑东村")
    act, _ = _activity(db, w.village, capacity=1)
    other = make_person(db, w.village)
    _as(client, settings, "volunteer", village=w.village, user_id=61, person_id=w.resident)
    page = client.get("/activities").text
    assert "河道清理" in page and "名额 1，已报 0" in page
    assert _post(client, page, f"/activities/{act}/signup").status_code == 303
    page = client.get("/activities").text
    assert 'data-testid="signup-state">已报名<' in page

    _as(client, settings, "volunteer", village=w.village, user_id=62, person_id=other)
    page = client.get("/activities").text
    assert "名额已满，报名后进入候补" in page
    _post(client, page, f"/activities/{act}/signup")
    assert 'data-testid="signup-state">候补第 1 位<' in client.get("/activities").text

    _as(client, settings, "organizer", village=w.village, user_id=51)
    org = client.get(f"/org/activities/{act}").text
    assert f'href="/org/activities/{act}/signups"' in org
    listing = client.get(f"/org/activities/{act}/signups").text
    assert "志愿者0" in listing.split('data-testid="seated"')[1].split("</ol>")[0]
    assert 'data-testid="waiting"' in listing

    _as(client, settings, "volunteer", village=w.village, user_id=61, person_id=w.resident)
    page = client.get("/activities").text
    r = _post(client, page, f"/activities/{act}/withdraw")
    assert r.status_code == 303 and r.headers["location"] == "/activities?promoted=1"
    assert "候补第一位已递补" in client.get(r.headers["location"]).text
    _as(client, settings, "volunteer", village=w.village, user_id=62, person_id=other)
    assert 'data-testid="signup-state">已报名<' in client.get("/activities").text


def test_a_closed_activity_refuses_sign_up_in_chinese(client, db, settings):
    w = world(db, village_name="坑东村")
    act, org = _activity(db, w.village)
    _as(client, settings, "volunteer", village=w.village, user_id=61, person_id=w.resident)
    page = client.get("/activities").text
    planning.set_status(db, org, act, "closed")
    r = _post(client, page, f"/activities/{act}/signup")
    assert r.status_code == 409 and "报名未开放" in r.text


def test_the_organizer_rejects_an_attendance_with_a_reason(client, db, settings):
    w = world(db, village_name="坑东村")
    act, org = _activity(db, w.village, started_min=90)
    now = utcnow()
    added = review.add_attendance(db, settings, org, review.Record(
        act, w.resident, now - timedelta(minutes=80), now - timedelta(minutes=20), "补录"))
    att = added.attendance_id
    _as(client, settings, "organizer", village=w.village, user_id=51)
    page = client.get(f"/org/activities/{act}").text
    action = f"/org/attendances/{att}/reject"
    assert action in page
    r = client.post(action, data={**form_fields(page, action), "reason": "当天未到场"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    with db.sessions() as s:
        a = s.get(Attendance, att)
        assert a.review == "rejected" and a.reject_reason == "当天未到场"
    _as(client, settings, "organizer", village=w.village + 1000, user_id=52)
    r = client.post(action, data={**form_fields(page, action), "reason": "x"})
    assert r.status_code in (403, 422)


def test_a_certificate_is_issued_from_me_and_verified_on_its_public_page(client, db, settings):
    w = world(db, village_name="坑东村")
    _as(client, settings, "volunteer", village=w.village, user_id=61, person_id=w.resident)
    me = client.get("/me").text
    assert 'href="/me/certificates"' in me and 'href="/activities"' in me
    page = client.get("/me/certificates").text
    year = utcnow().astimezone(LOCAL_TZ).year
    assert f'value="{year}-01-01"' in page
    r = _post(client, page, "/me/certificates", start=f"{year}-02-01", end=f"{year}-01-01")
    assert r.status_code == 422 and 'id="e-end">日期须从前到后' in r.text
    r = _post(client, page, "/me/certificates", start=f"{year}-01-01",
              end=f"{year}-12-31")
    assert r.status_code == 303
    cert = client.get(r.headers["location"]).text
    code = re.search(r'data-testid="cert-code">([^<]+)<', cert).group(1)
    assert '<svg class="qr"' in cert and f'href="/cert/{code}"' in cert
    pdf = client.get(f"/me/certificates/{code}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    client.cookies.clear()
    public = client.get(f"/cert/{code}").text
    assert 'data-testid="cert-valid"' in public and "志*" in public
    _as(client, settings, "volunteer", village=w.village, user_id=62,
        person_id=make_person(db, w.village))
    assert client.get(f"/me/certificates/{code}").status_code == 403


def test_the_public_honor_list_is_a_page_and_the_poster_points_to_it(client, db, settings):
    w = world(db, village_name="坑东村")
    give_points(db, "person", w.resident, w.village, 46)  # 23 points at 2 steps a point
    sign_in(client, settings, "town_admin")
    page = client.get("/admin/honors")
    client.post("/admin/honors", data={
        **form_fields(page.text, "/admin/honors"), "name": "年度积分红榜",
        "scope_id": f"village:{w.village}", "metric": "points", "period": "year", "size": "3",
        "minimum": "1"})
    page = client.get("/admin/honors")
    def_id = int(re.search(r'id="def-(\d+)"', page.text).group(1))
    action = f"/admin/honors/{def_id}/drafts"
    year = str(utcnow().astimezone(LOCAL_TZ).year)
    list_path = client.post(action, data={**form_fields(page.text, action), "period": year},
                            follow_redirects=False).headers["location"]
    for step in ("review", "publish"):
        page = client.get(list_path)
        client.post(f"{list_path}/{step}", data=form_fields(page.text, f"{list_path}/{step}"))
    list_id = int(list_path.rstrip("/").split("/")[-1])
    client.cookies.clear()
    public = client.get(f"/honors/{list_id}")
    assert public.status_code == 200 and "年度积分红榜" in public.text
    row = public.text.split('data-testid="honor-entries"')[1]
    assert "<td>1</td><td>志愿者0</td>" in row
    assert "23 分" in row
    assert f'href="/honors/{list_id}"' in client.get("/honors").text
    assert poster.public_url("https://jifen.example", list_id) == \
        f"https://jifen.example/honors/{list_id}"
    missing = client.get("/honors/999999")
    assert missing.status_code == 404 and "没有这份光荣榜" in missing.text


def test_an_honor_list_goes_on_notice_takes_objections_and_publishes_after(client, db,
                                                                           settings):
    from ledger.recognition.models import HonorList
    w = world(db, village_name="坑东村")
    other = make_person(db, w.village)
    give_points(db, "person", w.resident, w.village, 40)
    give_points(db, "person", other, w.village, 20)
    sign_in(client, settings, "town_admin", user_id=71)
    page = client.get("/admin/honors")
    client.post("/admin/honors", data={
        **form_fields(page.text, "/admin/honors"), "name": "季度好人榜",
        "scope_id": f"village:{w.village}", "metric": "points", "period": "year", "size": "3",
        "minimum": "1"})
    page = client.get("/admin/honors")
    def_id = int(re.search(r'id="def-(\d+)"', page.text).group(1))
    action = f"/admin/honors/{def_id}/drafts"
    year = str(utcnow().astimezone(LOCAL_TZ).year)
    list_path = client.post(action, data={**form_fields(page.text, action), "period": year},
                            follow_redirects=False).headers["location"]
    list_id = int(list_path.rstrip("/").split("/")[-1])
    page = client.get(list_path)
    client.post(f"{list_path}/review", data=form_fields(page.text, f"{list_path}/review"))
    page = client.get(list_path)
    start = f"/admin/honor-notices/{list_id}"
    r = client.post(start, data={**form_fields(page.text, start), "days": "3"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get(list_path)
    assert 'data-testid="honor-status">公示中' in page.text
    r = client.post(f"{list_path}/publish", data=form_fields(page.text, f"{list_path}/publish"))
    assert r.status_code == 409 and "公示期未满" in r.text

    client.cookies.clear()
    public = client.get(f"/honors/{list_id}")
    assert public.status_code == 200 and 'data-testid="honor-notice"' in public.text
    assert "志愿者0" in public.text and f"/signin?next=/honors/{list_id}" in public.text
    assert f'href="/honors/{list_id}"' in client.get("/honors").text.split(
        'data-testid="honor-notices"')[1]
    sign_in(client, settings, "volunteer", village_id=w.village, user_id=72, person_id=other)
    public = client.get(f"/honors/{list_id}").text
    action = f"/honors/{list_id}/objections"
    r = client.post(action, data={**form_fields(public, action), "holder_id": str(w.resident),
                                  "reason": "此人本年有违规"}, follow_redirects=False)
    assert r.status_code == 303
    assert 'data-testid="honor-objected"' in client.get(r.headers["location"]).text

    client.cookies.clear()
    sign_in(client, settings, "town_admin", user_id=71)
    page = client.get(list_path).text
    assert "此人本年有违规" in page.split('data-testid="honor-objections"')[1]
    with db.transaction() as s:  # the notice ends
        s.get(HonorList, list_id).notice_until = utcnow() - timedelta(minutes=1)
    r = client.post(f"{list_path}/publish", data=form_fields(page, f"{list_path}/publish"))
    assert r.status_code == 409 and "请先处理公示期间的异议" in r.text
    decide = re.search(r'action="(/admin/honor-notices/\d+/objections/\d+)"', page).group(1)
    client.post(decide, data={**form_fields(page, decide), "upheld": "1"})
    page = client.get(list_path).text
    assert "公示异议成立：此人本年有违规" in page and "已成立" in page
    client.post(f"{list_path}/publish", data=form_fields(page, f"{list_path}/publish"))
    client.cookies.clear()
    public = client.get(f"/honors/{list_id}").text
    rows = public.split('data-testid="honor-entries"')[1].split("</table>")[0]
    assert "志愿者0" in rows and "季度好人榜" in public  # `other`, now first
    assert rows.count("<tr>") == 2  # header + one: the resident was left off
