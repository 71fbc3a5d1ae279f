"""The stations and 四单 API: public station pages and menu, an order placed, dispatched,
accepted, served and rated over HTTP with each role's token; refusals as problem details with
their codes; reports as JSON, PDF and .xlsx for admins only."""

from __future__ import annotations

import uuid
from datetime import timedelta

from ledger.timeutil import utcnow
from tests.builders.matching import make_town


def fresh(headers: dict) -> dict:
    """The same caller, a new write (a new Idempotency-Key)."""
    return {**headers, "Idempotency-Key": uuid.uuid4().hex}


def test_order_through_the_api_with_each_roles_token(client, auth, db, settings):
    t = make_town(db)
    v = t.w.village_id
    resident = auth(user_id=6000, person_id=t.w.people[0])
    staff = auth("village_admin", village_id=v, user_id=810)
    leader = auth("volunteer", village_id=v, user_id=6001, person_id=t.w.people[1])
    stranger = auth(user_id=6009, person_id=t.w.people[5])
    menu = client.get("/api/v1/matching/service-menu",
                      params={"town_id": t.w.town_id}).json()["items"]
    assert [m["name"] for m in menu][:2] == ["家电维修", "爱心理发"]
    when = (utcnow() + timedelta(minutes=10)).isoformat()
    r = client.post("/api/v1/matching/orders", headers=resident, json={
        "station_id": v, "service_code": "repair", "need": "洗衣机不转", "preferred_at": when})
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    again = client.post("/api/v1/matching/orders", headers=resident, json={
        "station_id": v, "service_code": "repair", "need": "洗衣机不转", "preferred_at": when})
    assert again.json()["id"] == oid  # the same Idempotency-Key: the same order
    r = client.post("/api/v1/matching/orders", headers=auth(user_id=6000,
                                                             person_id=t.w.people[0]), json={
        "station_id": v, "need": "x" * 501, "preferred_at": when})
    assert r.status_code in (400, 422)
    assert client.get(f"/api/v1/matching/orders/{oid}", headers=stranger).json()["code"] == \
        "not_your_order"
    cands = client.get(f"/api/v1/matching/orders/{oid}/candidates", headers=staff).json()
    assert [c["id"] for c in cands["teams"]] == [t.team_id]
    r = client.post(f"/api/v1/matching/orders/{oid}/dispatch", headers=staff,
                    json={"team_id": t.team_id})
    assert r.status_code == 201 and r.json()["status"] == "dispatched", r.text
    r = client.post(f"/api/v1/matching/orders/{oid}/accept", headers=leader)
    assert r.json()["status"] == "accepted" and r.json()["address"] == "塘边村 1 号"
    code = client.get(f"/api/v1/matching/orders/{oid}/code", headers=resident).json()
    assert code["url"].startswith("http://testserver.local/c/")
    assert client.get(f"/api/v1/matching/orders/{oid}/code", headers=leader).json()["code"] == \
        "not_your_order"  # the volunteer scans the household's code; they are not given it
    member = auth("volunteer", village_id=v, user_id=6002, person_id=t.w.people[2])
    for action in ("in", "out"):
        r = client.post(f"/api/v1/c/{code['token']}", headers=fresh(member),
                        json={"action": action})
        assert r.status_code in (200, 201), r.text
    view = client.get(f"/api/v1/matching/orders/{oid}", headers=resident).json()
    assert view["status"] == "done" and view["can"] == ["rate"]
    r = client.post(f"/api/v1/matching/orders/{oid}/rating", headers=fresh(resident),
                    json={"rating": 5, "comment": "很及时"})
    assert r.json()["status"] == "rated"
    tasks = client.get("/api/v1/matching/orders", headers=leader,
                       params={"scope": "tasks"}).json()["items"]
    assert [o["id"] for o in tasks] == [oid] and tasks[0]["address"] is None  # closed: hidden
    queue = client.get("/api/v1/matching/orders", headers=staff,
                       params={"scope": "station", "station_id": v}).json()["items"]
    assert queue[0]["rating"] == 5


def test_station_pages_and_reports_over_http(client, auth, db, settings):
    t = make_town(db)
    v = t.w.village_id
    admin = auth("village_admin", village_id=v)
    r = client.put(f"/api/v1/stations/{v}/profile", headers=admin, json={
        "address": "塘边村委会", "opening_hours": "周一至周五 8:30–17:30", "rooms": ["图书室"]})
    assert r.status_code == 200, r.text
    assert client.post(f"/api/v1/stations/{v}/liaisons", headers=fresh(admin),
                       json={"name": "联系领导甲", "title": "镇党委委员"}).status_code == 201
    month = utcnow().strftime("%Y-%m")
    r = client.put(f"/api/v1/stations/{v}/plans/{month}", headers=admin, json={
        "theme": "丰富活跃文化生活", "lines": [{"day": 5, "title": "广场舞展演"}]})
    assert r.status_code == 200 and r.json()["activity_day"].endswith("-05"), r.text
    bad = client.put(f"/api/v1/stations/{v}/plans/{month}", headers=admin,
                     json={"theme": "别的主题"})
    assert bad.json()["code"] == "theme_unknown"
    other = client.put(f"/api/v1/stations/{t.w.other_village_id}/profile", headers=admin,
                       json={"address": "x"})
    assert other.status_code == 403
    page = client.get(f"/api/v1/stations/{v}").json()
    assert page["profile"]["address"] == "塘边村委会" and page["liaisons"][0]["title"] == \
        "镇党委委员" and page["plans"][0]["theme"] == "丰富活跃文化生活"
    town = auth("town_admin")
    r = client.get("/api/v1/stations/reports", headers=town,
                   params={"period": "2026Q1", "town_id": t.w.town_id})
    assert r.status_code == 200 and len(r.json()["stations"]) == 2
    assert client.get("/api/v1/stations/reports", headers=town,
                      params={"period": "2026Q9"}).json()["code"] == "period_invalid"
    c = client.get("/api/v1/stations/reports/honour-candidates", headers=town,
                   params={"period": "2026Q1", "town_id": t.w.town_id})
    assert set(c.json()) == {"period", "organisations", "organisers", "projects"}
    pdf = client.get(f"/api/v1/stations/{v}/reports/2026Q1/report.pdf", headers=admin)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    xlsx = client.get(f"/api/v1/stations/{v}/reports/2026Q1/report.xlsx", headers=admin)
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert client.get(f"/api/v1/stations/{v}/reports/2026Q1/report.pdf",
                      headers=auth("volunteer", village_id=v)).status_code == 403
