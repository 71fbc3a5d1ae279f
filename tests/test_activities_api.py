"""The activities API end to end over HTTP: organizer, volunteer, inspector and the public."""

from __future__ import annotations

import io
from datetime import timedelta

from PIL import Image

from ledger.timeutil import utcnow
from tests.builders.activities import make_world, points_of
from tests.qr_support import qr_texts


def _create(client, auth, w, **kw) -> dict:
    start = utcnow() - timedelta(minutes=10)
    body = {"village_id": w.village_id, "title": "河道清理", "rule_item_code": "P1",
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
            "place": "塘边溪", **kw}
    org = auth("organizer", village_id=w.village_id, user_id=700)
    r = client.post("/api/v1/activities", json=body, headers=org)
    assert r.status_code == 201, r.text
    act = r.json()
    r = client.post(f"/api/v1/activities/{act['id']}/open", headers=org)
    assert r.status_code == 200 and r.json()["status"] == "open"
    return act


def test_organizer_shows_a_rotating_code_and_volunteers_scan_in_and_out(db, settings, client,
                                                                        auth):
    w = make_world(db)
    act = _create(client, auth, w)
    org = auth("organizer", village_id=w.village_id, user_id=700)
    code = client.get(f"/api/v1/activities/{act['id']}/checkin-code", headers=org).json()
    assert code["url"] == f"http://testserver.local/c/{code['token']}"
    assert code["accepted_for_s"] == 30 and 1 <= code["refresh_in_s"] <= 15
    png = client.get(f"/api/v1/activities/{act['id']}/checkin-code.png", headers=org)
    assert png.headers["content-type"] == "image/png" and png.headers["cache-control"] == \
        "no-store"
    [scanned] = qr_texts(png.content)
    token = scanned.rsplit("/", 1)[1]
    svg = client.get(f"/api/v1/activities/{act['id']}/checkin-code.svg?kind=static", headers=org)
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    me = auth("volunteer", person_id=w.people[0], user_id=5000)
    r = client.post(f"/api/v1/c/{token}", json={}, headers=me)
    assert r.status_code == 200 and r.json()["action"] == "check_in"
    again = client.post(f"/api/v1/c/{token}", json={}, headers=me).json()
    assert again["repeated"] and again["attendance_id"] == r.json()["attendance_id"]
    out = client.post(f"/api/v1/c/{token}", json={"action": "out"}, headers=me).json()
    assert out["action"] == "check_out" and out["points"]["points"] == 3
    assert points_of(db, "person", w.people[0]) == 3
    rows = client.get(f"/api/v1/activities/{act['id']}/attendances", headers=org).json()
    assert [x["attendance_id"] for x in rows["items"]] == [out["attendance_id"]]
    service = client.get("/api/v1/me/service", headers=me).json()
    assert service["person_id"] == w.people[0]


def test_refusals_are_problem_details_with_their_own_codes(db, settings, client, auth):
    w = make_world(db)
    act = _create(client, auth, w)
    me = auth("volunteer", person_id=w.people[0])
    r = client.post("/api/v1/c/r1.1.AAAAAAAAAAAAAAAAAAAAAA", json={}, headers=me)
    assert r.status_code == 403 and r.json()["code"] == "token_forged"
    assert r.headers["content-type"].startswith("application/problem+json")
    org = auth("organizer", village_id=w.village_id, user_id=700)
    token = client.get(f"/api/v1/activities/{act['id']}/checkin-code", headers=org).json()["token"]
    other = _create(client, auth, w, title="另一个活动")
    r = client.post(f"/api/v1/activities/{other['id']}/scan", json={"token": token}, headers=me)
    assert r.status_code == 403 and r.json()["code"] == "token_other_activity"
    anon = client.post(f"/api/v1/c/{token}", json={})
    assert anon.status_code == 401
    nobody = client.post(f"/api/v1/c/{token}", json={}, headers=auth("volunteer"))
    assert nobody.status_code == 403 and nobody.json()["code"] == "volunteer_required"
    stranger = client.get(f"/api/v1/activities/{act['id']}/checkin-code",
                          headers=auth("organizer", village_id=w.other_village_id))
    assert stranger.status_code == 403 and stranger.json()["code"] == "not_activity_manager"


def test_scans_past_the_limit_get_429_with_retry_after(db, settings, client, auth, monkeypatch):
    from ledger.activities import service
    monkeypatch.setattr(service, "SCAN_PER_PERSON", service.Limit("scan_person_t", 2, 60))
    w = make_world(db)
    act = _create(client, auth, w)
    org = auth("organizer", village_id=w.village_id, user_id=700)
    token = client.get(f"/api/v1/activities/{act['id']}/checkin-code", headers=org).json()["token"]
    me = auth("volunteer", person_id=w.people[1])
    for _ in range(2):
        assert client.post(f"/api/v1/c/{token}", json={}, headers=me).status_code == 200
    r = client.post(f"/api/v1/c/{token}", json={}, headers=me)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60


def test_cookie_signed_scan_must_be_json(db, settings, client, auth):
    w = make_world(db)
    act = _create(client, auth, w)
    org = auth("organizer", village_id=w.village_id, user_id=700)
    token = client.get(f"/api/v1/activities/{act['id']}/checkin-code", headers=org).json()["token"]
    bearer = auth("volunteer", person_id=w.people[2])["Authorization"].split(" ", 1)[1]
    client.cookies.set("jifen_token", bearer)
    # What a cross-site <form enctype="text/plain"> can send: a JSON-looking body.
    r = client.post(f"/api/v1/c/{token}", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 403 and r.json()["code"] == "json_required"
    assert client.post(f"/api/v1/c/{token}", json={}).json()["action"] == "check_in"


def test_signup_confirm_reject_and_add_over_http(db, settings, client, auth):
    w = make_world(db)
    act = _create(client, auth, w, capacity=1, needs_confirmation=True)
    a = auth("volunteer", person_id=w.people[0], user_id=5000)
    b = auth("volunteer", person_id=w.people[1], user_id=5001)
    assert client.post(f"/api/v1/activities/{act['id']}/signup", headers=a).json()["status"] \
        == "signed_up"
    assert client.post(f"/api/v1/activities/{act['id']}/signup", headers=b).json()["status"] \
        == "waiting"
    moved = client.post(f"/api/v1/activities/{act['id']}/withdraw", headers=a).json()
    assert moved["promoted_person_id"] == w.people[1]
    org = auth("organizer", village_id=w.village_id, user_id=700)
    start = utcnow() - timedelta(minutes=10)
    added = client.post(f"/api/v1/activities/{act['id']}/attendances", headers=org, json={
        "person_id": w.people[2], "check_in_at": start.isoformat(),
        "check_out_at": (start + timedelta(minutes=5)).isoformat(), "note": "忘带手机"})
    assert added.status_code == 201 and added.json()["source"] == "organizer_added"
    token = client.get(f"/api/v1/activities/{act['id']}/checkin-code", headers=org).json()["token"]
    client.post(f"/api/v1/c/{token}", json={}, headers=b)
    out = client.post(f"/api/v1/c/{token}", json={"action": "out"}, headers=b).json()
    assert out["review"] == "pending"
    r = client.post(f"/api/v1/activities/attendances/{out['attendance_id']}/reject", headers=org,
                    json={"reason": "未参加"})
    assert r.status_code == 200 and r.json()["reject_reason"] == "未参加"
    c = client.post(f"/api/v1/activities/attendances/{added.json()['attendance_id']}/confirm",
                    headers=org)
    assert c.json()["repeated"]  # the organizer's own record was certified when added


def test_inspection_with_photo_and_certificate_pdf_over_http(db, settings, client, auth):
    w = make_world(db)
    insp = auth("inspector", village_id=w.village_id, user_id=900)
    summary = client.get(f"/api/v1/activities/plates/{w.plate_code}/inspection",
                         headers=insp).json()
    assert summary["household_id"] == w.household_id
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 120, 0)).save(buf, format="PNG")
    r = client.post(f"/api/v1/activities/plates/{w.plate_code}/inspections", headers=insp,
                    data={"item_code": "C10", "note": "污水直排"},
                    files={"photo": ("p.png", buf.getvalue(), "image/png")})
    assert r.status_code == 201, r.text
    assert r.json()["photo_sha256"] and r.json()["award"]["points"] == -5
    assert points_of(db, "household", w.household_id) == -5
    me = auth("volunteer", person_id=w.people[0], user_id=5000)
    today = utcnow().date().isoformat()
    cert = client.post(f"/api/v1/people/{w.people[0]}/certificates", headers=me,
                       json={"start": today, "end": today})
    assert cert.status_code == 201
    pdf = client.get(f"/api/v1/activities/certificates/{cert.json()['code']}/certificate.pdf",
                     headers=me)
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    admin = auth("village_admin", village_id=w.village_id)
    csv = client.get(f"/api/v1/service-records.csv?village_id={w.village_id}&start={today}"
                     f"&end={today}", headers=admin)
    assert csv.status_code == 200 and csv.text.startswith("\ufeff记录编号")
