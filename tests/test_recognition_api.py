"""The recognition and ops API: who may do what, the honor list lifecycle over HTTP, public
lists and posters, stars, live rankings, exports and the audit status."""

from __future__ import annotations

import csv
import io

import pytest

from ledger.timeutil import utcnow
from tests.builders.recognition import award, deduct, make_world, serve

API = "/api/v1"
REC = f"{API}/recognition"
YEAR = str(utcnow().year)


@pytest.fixture
def settings(settings):
    """The embedded default (tasks in-process), whatever the environment: the production path
    (Celery, Redis) has its own tests in tests/test_workers_real.py."""
    from dataclasses import replace
    return replace(settings, redis_url=None)


@pytest.fixture
def world(db):
    w = make_world(db, people=5)
    for i, n in enumerate((12, 30, 7, 30, 3)):
        award(db, w.village_of_person(i), "person", w.people[i], n)
    return w


def _ok(r, status=200):
    assert r.status_code == status, r.text
    return r.json()


def test_honor_list_lifecycle_over_http(client, auth, world):
    w = world
    admin = lambda: auth("town_admin", user_id=1)  # noqa: E731
    d = _ok(client.post(f"{REC}/honor-definitions", headers=admin(), json={
        "name": "年度志愿积分光荣榜", "scope": "town", "scope_id": w.town, "period": "year",
        "metric": "points", "size": 3}), 201)
    hl = _ok(client.post(f"{REC}/honor-definitions/{d['id']}/drafts", headers=admin(),
                         json={"period": YEAR}), 202)
    assert hl["status"] == "draft"  # embedded: computed before the answer
    assert [e["rank"] for e in hl["entries"]] == [1, 1, 3]
    # Not public until published.
    assert client.get(f"{REC}/honor-lists/{hl['id']}").status_code == 404
    r = client.post(f"{REC}/honor-lists/{hl['id']}/publish", headers=admin())
    assert r.status_code == 409 and r.json()["code"] == "honor_list_draft"
    _ok(client.post(f"{REC}/honor-lists/{hl['id']}/review", headers=admin()))
    r = client.post(f"{REC}/honor-lists/{hl['id']}/exclusions", headers=admin(),
                    json={"holder_id": w.people[1], "reason": ""})
    assert r.status_code == 400 or r.status_code == 422
    ex = _ok(client.post(f"{REC}/honor-lists/{hl['id']}/exclusions", headers=admin(),
                         json={"holder_id": w.people[1], "reason": "存在未处理的投诉"}))
    assert [e["holder_id"] for e in ex["entries"]] == [w.people[3], w.people[0], w.people[2]]
    key = auth("town_admin", user_id=1)
    pub = _ok(client.post(f"{REC}/honor-lists/{hl['id']}/publish", headers=key))
    again = _ok(client.post(f"{REC}/honor-lists/{hl['id']}/publish", headers=key))
    assert again["content_sha256"] == pub["content_sha256"]  # a retry, answered the same
    public = _ok(client.get(f"{REC}/honor-lists/{hl['id']}"))
    assert public["verified"] and "exclusions" not in public
    assert [e["name"] for e in public["content"]["entries"]][0].startswith("林")
    assert _ok(client.get(f"{REC}/honor-lists"))["items"][0]["id"] == hl["id"]
    png = client.get(f"{REC}/honor-lists/{hl['id']}/poster.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = client.get(f"{REC}/honor-lists/{hl['id']}/poster.pdf")
    assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"


def test_village_admins_manage_only_their_own_village(client, auth, world):
    w = world
    mine, other = w.villages[0], w.villages[1]
    va = lambda: auth("village_admin", village_id=mine, user_id=7)  # noqa: E731
    body = {"name": "村月度红榜", "scope": "village", "period": "month", "metric": "points",
            "size": 20}
    _ok(client.post(f"{REC}/honor-definitions", headers=va(),
                    json={**body, "scope_id": mine}), 201)
    r = client.post(f"{REC}/honor-definitions", headers=va(), json={**body, "scope_id": other})
    assert r.status_code == 403 and r.json()["code"] == "forbidden_scope"
    r = client.post(f"{REC}/honor-definitions", headers=va(),
                    json={**body, "scope": "town", "scope_id": w.town})
    assert r.status_code == 403
    r = client.post(f"{REC}/honor-definitions", headers=auth("volunteer"),
                    json={**body, "scope_id": mine})
    assert r.status_code == 403


def test_definition_refusals_have_their_own_codes(client, auth, world):
    admin = lambda: auth("town_admin", user_id=1)  # noqa: E731
    base = {"name": "榜", "scope": "town", "scope_id": world.town, "period": "year",
            "metric": "points", "size": 3}
    for change, code in (({"size": 0}, "honor_size_invalid"),
                         ({"metric": "likes"}, "honor_metric_invalid"),
                         ({"metric": "household_score", "scope": "team"}, "honor_scope_invalid"),
                         ({"tie_break": "coin"}, "honor_tie_break_invalid"),
                         ({"period": "week"}, "honor_period_invalid")):
        r = client.post(f"{REC}/honor-definitions", headers=admin(), json={**base, **change})
        assert r.status_code in (403, 404, 422), r.text
        if r.status_code == 422:
            assert r.json()["code"] == code


def test_stars_over_http(client, auth, world, db):
    w = world
    serve(db, w, w.people[0], 100 * 60)
    me = auth("volunteer", person_id=w.people[0])
    got = _ok(client.get(f"{API}/people/{w.people[0]}/stars", headers=me))
    assert got["stars"] == 1 and got["current"]["next_threshold"] == 300 * 60
    assert got["history"][0]["cause"] == "service_minutes"
    r = client.get(f"{API}/people/{w.people[1]}/stars", headers=auth("volunteer",
                                                                     person_id=w.people[0]))
    assert r.status_code == 403
    assert _ok(client.get(f"{REC}/star-config/volunteer"))["thresholds"] == [100, 300, 600,
                                                                           1000, 1500]
    r = client.put(f"{REC}/star-config/volunteer", headers=auth("village_admin", village_id=1),
                   json={"town_id": w.town, "thresholds": [50, 100, 200, 400, 800]})
    assert r.status_code == 403
    cfg = _ok(client.put(f"{REC}/star-config/volunteer", headers=auth("town_admin"),
                         json={"town_id": w.town, "thresholds": [50, 100, 200, 400, 800]}))
    assert cfg["version"] == 1
    got = _ok(client.get(f"{API}/people/{w.people[0]}/stars", headers=me))
    assert got["stars"] == 2 and got["history"][0]["cause"] == "thresholds"
    r = client.get(f"{REC}/star-config/planets")
    assert r.status_code == 422 and r.json()["code"] == "star_kind_unknown"


def test_live_ranking_is_public_and_masks_names(client, world, db):
    w = world
    deduct(db, w.villages[1], "person", w.people[3], 2)
    r = _ok(client.get(f"{REC}/rankings/town/{w.town}", params={"metric": "points",
                                                               "period": "year", "n": 3}))
    assert [(e["holder_id"], e["value"], e["rank"]) for e in r["entries"]] == [
        (w.people[1], 30, 1), (w.people[3], 28, 2), (w.people[0], 12, 3)]
    assert all("*" in e["name"] for e in r["entries"])
    r = client.get(f"{REC}/rankings/galaxy/1")
    assert r.status_code == 422 and r.json()["code"] == "ranking_scope_invalid"


def test_village_export_is_a_background_task_with_a_csv(client, auth, world, db):
    w = world
    admin = auth("village_admin", village_id=w.villages[1], user_id=3)
    task = _ok(client.post(f"{API}/villages/{w.villages[1]}/exports", headers=admin,
                           json={"year": int(YEAR)}), 202)
    assert task["state"] == "done" and task["result"]["rows"] == 2
    r = client.get(f"{API}/villages/{w.villages[1]}/exports/{YEAR}/export.csv",
                   headers=auth("village_admin", village_id=w.villages[1]))
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["类型", "编号", "姓名/户主", "单位", f"{YEAR}年合计"]
    assert sorted(int(x[4]) for x in rows[1:]) == [30, 30]
    r = client.post(f"{API}/villages/{w.villages[0]}/exports", headers=admin,
                    json={"year": int(YEAR)})
    assert r.status_code == 403


def test_an_export_of_no_village_is_refused_before_any_task_exists(client, auth, db):
    from sqlalchemy import func, select

    from ledger.outbox import OutboxRow
    r = client.post(f"{API}/villages/648/exports", headers=auth("town_admin"),
                    json={"year": int(YEAR)})
    assert r.status_code == 404 and r.json()["code"] == "village_not_found", r.text
    r = client.post(f"{REC}/stars/recompute", headers=auth("town_admin"), json={"town_id": 999})
    assert r.status_code == 404 and r.json()["code"] == "town_not_found", r.text
    r = client.put(f"{REC}/star-config/volunteer", headers=auth("town_admin"),
                   json={"town_id": 999, "thresholds": [100, 300, 600, 1000, 1500]})
    assert r.status_code == 404 and r.json()["code"] == "town_not_found", r.text
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxRow)) == 0


def test_ops_audit_status_is_for_town_admins(client, auth, world, db):
    from ledger import ops
    r = client.get(f"{API}/ops/audit-status", headers=auth("village_admin", village_id=1))
    assert r.status_code == 403
    st = _ok(client.get(f"{API}/ops/audit-status", headers=auth("town_admin")))
    assert st["status"] == "failing" and st["alerts"][0]["code"] == "audit_never_run"
    ops.nightly_audit(db)
    # the rollups' catch-up left waiting by a burst of commits (coalesced: embedded, at most
    # once a second) is the relay's to run
    from ledger import outbox
    outbox.relay(db, lambda ids: [outbox.run_row(db, i) for i in ids], grace=False)
    st = _ok(client.get(f"{API}/ops/audit-status", headers=auth("town_admin")))
    assert st["status"] == "ok" and st["last_run"]["ok"] is True
    assert st["outbox"]["pending"] == 0
