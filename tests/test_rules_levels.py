"""Levels beyond five stars (issue #19.8): any number of levels from hours, points earned or
held, activities, a lower level first and an admin's selection; points-based levels fall when
the balance falls, hour-based ones never; every move recorded; the national stars stay the
default; shown on /me and through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.errors import DomainError
from ledger.rules import levels, store
from ledger.rules import service as svc
from ledger.rules.catalog_io import from_plain, load_text
from ledger.rules.plain import to_dict
from tests.builders.pages import sign_in
from tests.builders.rules import T0, add_person, make_world, staff

CATALOG = """
catalog:
  code: lv
  name: 志愿者等级
  effective_from: 2024-01-01
  approval: {approved_by: 村民代表会议, decision: 测试, approved_on: 2024-01-01}
  subjects: [person]
  levels:
    downgrade: points
    list:
      - {code: L1, name: 一级志愿者, hours: 2}
      - {code: L2, name: 二级志愿者, hours: 4, points_held: 10, after: L1}
      - {code: L3, name: 三级志愿者, hours: 4, points_earned: 10, selection: true, after: L2}
  standing:
    - {code: barred, name: 限制参与, deducted_over: 30, for_days: 365, effects: [stars]}
categories:
  - code: A
    name: 甲
    items:
      - {code: SVC, name: 志愿服务, per: hour, points: 2}
      - {code: BAD, name: 违规, points: -5}
      - {code: BIG, name: 严重违规, points: -40}
"""
NEVER = CATALOG.replace("downgrade: points", "downgrade: never").replace("code: lv", "code: lvn")


@pytest.fixture
def town(db):
    w = make_world(db)
    store.import_catalog(db, CATALOG, actor_id=1)
    return w


def rec(db, settings, w, item, p, at, **ctx):
    return svc.record_award(db, settings, item_code=item, holder=("person", p),
                            recorder=staff(50, "village_admin", village_id=w.villages["塘后村"]),
                            context={"occurred_at": at.isoformat(), "channel": "admin",
                                     "note": "记录", **ctx}, now=at)


def level(db, p, at):
    with db.transaction() as s:
        return levels.refresh(s, "person", p, at)[0]


def test_levels_rise_with_hours_and_points_and_fall_only_with_points_held(db, settings, town):
    p = add_person(db, town, "王芳")
    at = T0
    rec(db, settings, town, "SVC", p, at, minutes=180)  # 3 h, 6 points
    assert level(db, p, at)["level"] == "L1"
    rec(db, settings, town, "SVC", p, at + timedelta(hours=1), minutes=60)  # 4 h, 8 points
    v = level(db, p, at + timedelta(hours=1))
    assert v["level"] == "L1" and v["next"]["lacks"] == ["可用积分 8/10"]
    rec(db, settings, town, "SVC", p, at + timedelta(hours=2), minutes=60)  # 5 h, 10 points
    assert level(db, p, at + timedelta(hours=2))["level"] == "L2"
    rec(db, settings, town, "BAD", p, at + timedelta(hours=3))  # 5 points held: L2 falls
    v = level(db, p, at + timedelta(hours=3))
    assert (v["level"], v["rank"], v["figures"]["hours"]) == ("L1", 1, 5)
    with db.sessions() as s:
        hist = levels.history(s, "person", p)
    assert [(h["change"], h["level"]) for h in reversed(hist)] == [
        ("up", "L1"), ("up", "L2"), ("down", "L1")]
    assert hist[0]["reason"] == "可用积分 5/10" and hist[0]["actor_id"] is None


def test_without_downgrade_a_level_reached_is_kept(db, settings, town):
    store.import_catalog(db, NEVER, actor_id=1)
    p = add_person(db, town, "李强")
    rec(db, settings, town, "lv:SVC", p, T0, minutes=300)  # 5 h, 10 points
    with db.transaction() as s:
        got = {v["catalog"]: v["level"] for v in levels.refresh(s, "person", p, T0)}
    assert got == {"lv": "L2", "lvn": "L2"}
    rec(db, settings, town, "lv:BAD", p, T0 + timedelta(hours=1))
    with db.transaction() as s:
        got = {v["catalog"]: v["level"] for v in levels.refresh(s, "person", p,
                                                                 T0 + timedelta(hours=1))}
    assert got == {"lv": "L1", "lvn": "L2"}


def test_a_selected_level_needs_the_admins_selection_and_records_who(db, settings, town):
    p = add_person(db, town, "赵敏")
    rec(db, settings, town, "SVC", p, T0, minutes=300)
    v = level(db, p, T0)
    assert v["level"] == "L2" and v["next"]["lacks"] == ["须经管理员评定"]
    with db.transaction() as s:
        v = levels.choose(s, "person", p, catalog="lv", level="L3", selected=True, actor_id=77,
                          reason="年度优秀志愿者", now=T0 + timedelta(minutes=1))
    assert v["level"] == "L3" and v["next"] is None
    with db.sessions() as s:
        hist = levels.history(s, "person", p)
    assert (hist[1]["change"], hist[1]["actor_id"], hist[1]["reason"]) == (
        "selected", 77, "年度优秀志愿者")
    with db.transaction() as s, pytest.raises(DomainError) as e:
        levels.choose(s, "person", p, catalog="lv", level="L1", selected=True, actor_id=77,
                      reason="x")
    assert e.value.code == "level_not_selected"
    with db.transaction() as s, pytest.raises(DomainError) as e:  # an admin who is the holder
        levels.choose(s, "person", p, catalog="lv", level="L3", selected=False, actor_id=78,
                      actor_person_id=p, reason="撤销")
    assert e.value.code == "self_award_forbidden"


def test_a_bar_after_heavy_deductions_withholds_levels_until_it_ends(db, settings, town):
    p = add_person(db, town, "孙伟")
    rec(db, settings, town, "SVC", p, T0, minutes=600)  # 10 h, 20 points
    assert level(db, p, T0)["level"] == "L2"
    rec(db, settings, town, "BIG", p, T0 + timedelta(days=1))
    v = level(db, p, T0 + timedelta(days=2))
    assert v["level"] is None and v["barred"]["code"] == "standing_bars_stars"
    rec(db, settings, town, "SVC", p, T0 + timedelta(days=300), minutes=900)  # -20 → 10 held
    v = level(db, p, T0 + timedelta(days=367))
    assert v["level"] == "L2" and v["barred"] is None


def test_without_catalog_levels_the_national_stars_stay_the_levels(db, settings):
    w = make_world(db)
    p = add_person(db, w, "周杰")
    with db.transaction() as s:
        out = levels.summary(s, "person", p)
    assert out["schemes"] == [] and out["stars"] == 0


def test_level_keys_are_checked_and_round_trip():
    c = load_text(CATALOG)
    assert [lv.code for lv in c.levels.levels] == ["L1", "L2", "L3"]
    assert from_plain(to_dict(c)) == c
    bad = CATALOG.replace("{code: L2, name: 二级志愿者, hours: 4, points_held: 10, after: L1}",
                          "{code: L2, name: 二级志愿者, hours: 1, points_held: 0, after: L9}")
    bad = bad.replace("{code: L1, name: 一级志愿者, hours: 2}", "{code: L1, name: 一级志愿者}")
    with pytest.raises(DomainError) as e:
        load_text(bad)
    msgs = {p["path"]: p["message"] for p in e.value.extra["errors"]}
    assert "a level needs at least one criterion" in msgs["catalog.levels.list[0]"]
    assert "must be positive" in msgs["catalog.levels.list[1].points_held"]
    assert "after names a lower level" in msgs["catalog.levels.list[1].after"]


def test_me_and_the_api_show_the_level_and_what_the_next_needs(client, db, settings, town):
    p = add_person(db, town, "吴磊")
    rec(db, settings, town, "SVC", p, T0, minutes=180)
    sign_in(client, settings, "volunteer", person_id=p)
    html = client.get("/me").text
    assert 'data-testid="levels"' in html and "一级志愿者" in html and "二级志愿者" in html
    assert "可用积分 6/10" in html
    r = client.get(f"/api/v1/rules/holders/person/{p}/levels")
    assert r.status_code == 200, r.text
    assert r.json()["schemes"][0]["level"] == "L1"
    assert r.json()["history"][0]["change"] == "up"
    other = add_person(db, town, "郑好")
    assert client.get(f"/api/v1/rules/holders/person/{other}/levels").status_code == 403
    sign_in(client, settings, "village_admin", village_id=town.villages["坑东村"])
    body = {"catalog": "lv", "level": "L3", "reason": "评定"}
    r = client.post(f"/api/v1/rules/holders/person/{p}/levels/selection", json=body)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"  # another village's admin
    sign_in(client, settings, "village_admin", village_id=town.villages["塘后村"])
    r = client.post(f"/api/v1/rules/holders/person/{p}/levels/selection",
                    json={"catalog": "lv", "level": "L3", "reason": "评定"})
    assert r.status_code == 200 and r.json()["selected"] == ["L3"], r.text
