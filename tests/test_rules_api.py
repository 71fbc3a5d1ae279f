"""The rules API over HTTP: catalogs, recording, claims, notice, appeals, explanations."""

from __future__ import annotations

import pytest
import yaml

from ledger.rules import catalog_io
from tests.builders.rules import family, load, make_world

BASE = "/api/v1/rules"


@pytest.fixture
def town(db):
    w = make_world(db)
    load(db, "baogai")
    return w


def test_import_refuses_a_bad_file_with_lines_and_exports_what_it_stored(client, auth):
    bad = "catalog:\n  code: x\n  name: 坏\n  effective_from: 2024-01-01\n  colour: red\n" \
          "categories: []\n"
    r = client.post(f"{BASE}/catalogs", json={"yaml": bad}, headers=auth("town_admin"))
    assert r.status_code == 422 and r.json()["code"] == "catalog_invalid"
    assert {"line": 5, "path": "catalog.colour"}.items() <= r.json()["errors"][0].items()
    assert client.get(f"{BASE}/catalogs").json() == {"items": [], "next_cursor": None}
    text = catalog_io.shipped_path("volunteer_hours").read_text(encoding="utf-8")
    r = client.post(f"{BASE}/catalogs", json={"yaml": text}, headers=auth("town_admin"))
    assert r.status_code == 201 and r.json()["version"] == 1
    r = client.post(f"{BASE}/catalogs", json={"yaml": text}, headers=auth("village_admin",
                                                                           village_id=1))
    assert r.status_code == 403
    exported = client.get(f"{BASE}/catalogs/volunteer_hours/export.yaml")
    assert exported.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(exported.text)["catalog"]["code"] == "volunteer_hours"
    listed = client.get(f"{BASE}/catalogs").json()["items"]
    assert listed[0]["decision"] == "演示〔2024〕3号" and listed[0]["items"] == 11


def test_record_preview_refusal_and_explanation(client, auth, db, town):
    vid = town.villages["塘后村"]
    _, p = family(db, town)
    h = auth("inspector", village_id=vid)
    body = {"item": "D03", "holder_type": "person", "holder_id": p,
            "context": {"points": 5, "reason": "助人"}}
    preview = client.post(f"{BASE}/evaluate", json=body, headers=h)
    assert preview.status_code == 200 and preview.json()["credits"][0]["points"] == 5
    r = client.post(f"{BASE}/awards", json=body, headers=h)
    assert r.status_code == 201 and r.json()["status"] == "posted"
    again = client.post(f"{BASE}/awards", json=body, headers=h)  # same Idempotency-Key
    assert again.json() == r.json()
    x = client.get(f"{BASE}/entries/{r.json()['entry_id']}/explanation", headers=h).json()
    assert x["rule"]["item"] == "D03" and x["inputs"]["reason"] == "助人"
    refused = client.post(f"{BASE}/awards", json={**body, "context": {"points": 50,
                                                                       "reason": "x"}},
                          headers=auth("inspector", village_id=vid))
    assert refused.status_code == 422 and refused.json()["code"] == "points_out_of_range"
    assert refused.headers["content-type"].startswith("application/problem+json")
    other = client.post(f"{BASE}/awards", json=body, headers=auth("inspector", village_id=99))
    assert other.status_code == 403 and other.json()["code"] == "not_permitted"


def test_claim_verify_approve_over_http(client, auth, db, town):
    vid = town.villages["塘后村"]
    _, p = family(db, town)
    claim = client.post(f"{BASE}/claims", json={
        "item": "A14", "holder_type": "person", "holder_id": p,
        "context": {"photos": ["upload:abc"], "note": "献血证"}},
        headers=auth("volunteer", person_id=p))
    assert claim.status_code == 201 and claim.json()["status"] == "claimed"
    aid = claim.json()["award_id"]
    v = client.post(f"{BASE}/awards/{aid}/verify", headers=auth("inspector", village_id=vid))
    assert v.json()["status"] == "verified"
    a = client.post(f"{BASE}/awards/{aid}/approve", headers=auth("village_admin",
                                                                 village_id=vid))
    assert a.status_code == 200 and a.json()["status"] == "posted"
    mine = client.get(f"{BASE}/holders/person/{p}/standing", headers=auth("volunteer",
                                                                          person_id=p))
    assert mine.json()["balance"] == 10 and mine.json()["may_redeem"]
    theirs = client.get(f"{BASE}/holders/person/{p}/standing", headers=auth("volunteer",
                                                                            person_id=p + 1))
    assert theirs.status_code == 403


def test_public_notice_page_objection_and_review(client, auth, db, town):
    vid = town.villages["塘边村"]
    _, p = family(db, town, village="塘边村")
    r = client.post(f"{BASE}/awards", json={"item": "D08", "holder_type": "person",
                                            "holder_id": p},
                    headers=auth("village_admin", village_id=vid, user_id=5))
    aid = r.json()["award_id"]
    shown = client.get(f"{BASE}/villages/{vid}/notices").json()["items"]  # no sign-in needed
    assert shown[0]["award_id"] == aid and shown[0]["open_for_objection"]
    o = client.post(f"{BASE}/awards/{aid}/objections", json={"reason": "不属实"},
                    headers=auth("volunteer"))
    assert o.status_code == 201 and o.json()["status"] == "in_review"
    same = client.post(f"{BASE}/awards/{aid}/review", json={"uphold": False},
                       headers=auth("village_admin", village_id=vid, user_id=5))
    assert same.status_code == 403 and same.json()["code"] == "same_as_recorder"
    done = client.post(f"{BASE}/awards/{aid}/review", json={"uphold": False, "note": "属实"},
                       headers=auth("village_admin", village_id=vid, user_id=6))
    assert done.json()["status"] == "posted"
    detail = client.get(f"{BASE}/awards/{aid}", headers=auth("inspector", village_id=vid))
    assert detail.json()["objections"][0]["outcome"] == "dismissed"


def test_appeal_and_decision_over_http_and_the_recorder_report(client, auth, db, town):
    vid = town.villages["塘后村"]
    h, p = family(db, town)
    r = client.post(f"{BASE}/awards", json={"item": "C06", "holder_type": "household",
                                            "holder_id": h, "context": {"quantity": 2}},
                    headers=auth("inspector", village_id=vid, user_id=7))
    assert r.json()["points"] == -4
    a = client.post(f"{BASE}/awards/{r.json()['award_id']}/appeals", json={"reason": "已清理"},
                    headers=auth("volunteer", person_id=p))
    assert a.status_code == 201
    d = client.post(f"{BASE}/appeals/{a.json()['appeal_id']}/decision",
                    json={"upheld": True, "note": "核实"},
                    headers=auth("village_admin", village_id=vid, user_id=8))
    assert d.json()["status"] == "upheld" and d.json()["reversal_entry_id"]
    rep = client.get(f"{BASE}/reports/recorders", params={"village_id": vid},
                     headers=auth("village_admin", village_id=vid))
    assert rep.status_code == 200 and rep.json()["recorders"][0]["recorder_id"] == 7
    other = client.get(f"{BASE}/reports/recorders", params={"village_id": vid},
                       headers=auth("village_admin", village_id=vid + 1))
    assert other.status_code == 403
