"""礼遇: a town's courtesy benefits by star level cost no points; a volunteer with enough stars
claims a pass (within its uses a year, or once ever), anyone can check the pass by its code
(masked name), a clerk or staff marks it used once; each refusal has its code."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.activities import review
from ledger.activities.planning import Actor
from ledger.courtesy import service as courtesy
from ledger.errors import DomainError
from ledger.recognition.stars import set_config
from tests.builders.activities import T0, make_activity, make_world

ADMIN = Actor(1, roles=(("town_admin", None),))


def refused(expected: str, fn, *a, **kw) -> None:
    with pytest.raises(DomainError) as exc:
        fn(*a, **kw)
    assert exc.value.code == expected, exc.value.detail


def test_passes_by_star_level_used_once_and_counted_per_year(db, settings):
    w = make_world(db)
    with db.transaction() as s:  # stars at 1, 2, 3, 4, 5 hours, so two hours is two stars
        set_config(s, w.town_id, "volunteer", {"thresholds": [1, 2, 3, 4, 5]}, actor_id=None)
    act = make_activity(db, w, hours=3)
    review.add_attendance(db, settings, w.organizer, review.Record(
        act.id, w.people[1], T0, T0 + timedelta(hours=2), "补录"),
        now=T0 + timedelta(hours=4))
    film = courtesy.add_benefit(db, ADMIN, town_id=w.town_id, name="观影回馈", kind="screening",
                                min_stars=2, uses_per_year=2)
    bonus = courtesy.add_benefit(db, ADMIN, town_id=w.town_id, name="四星级志愿者奖励金",
                                 kind="bonus", min_stars=4, once_ever=True)
    vol, other = Actor(6001, person_id=w.people[1]), Actor(6002, person_id=w.people[2])
    view = courtesy.mine(db, w.people[1])
    assert view.stars == 2 and [b.open for b in view.benefits] == [True, False]
    refused("stars_too_few", courtesy.claim, db, vol, bonus.id)
    refused("stars_too_few", courtesy.claim, db, other, film.id)  # no hours, no stars
    first = courtesy.claim(db, vol, film.id)
    courtesy.claim(db, vol, film.id)
    refused("benefit_used_up", courtesy.claim, db, vol, film.id)
    next_year = courtesy.claim(db, vol, film.id, now=T0 + timedelta(days=366))
    assert next_year.year == first.year + 1
    seen = courtesy.check(db, first.code)
    assert seen.valid and seen.holder != "林志愿1" and seen.benefit == "观影回馈"
    refused("not_pass_clerk", courtesy.use, db, other, first.code)
    used = courtesy.use(db, Actor(9, roles=(("clerk", None),)), first.code)
    assert used.valid is False
    refused("pass_used", courtesy.use, db, ADMIN, first.code)
    refused("pass_not_found", courtesy.use, db, ADMIN, "no-such-code")
    refused("forbidden_village", courtesy.add_benefit, db, vol, town_id=w.town_id, name="x",
            kind="discount", min_stars=1)
    refused("min_stars_out_of_range", courtesy.add_benefit, db, ADMIN, town_id=w.town_id,
            name="x", kind="discount", min_stars=6)
    refused("benefit_kind_unknown", courtesy.add_benefit, db, ADMIN, town_id=w.town_id,
            name="x", kind="cash", min_stars=1)


def test_courtesy_pages_and_api(client, auth, db, settings):
    from tests.builders.pages import form_fields, sign_in
    w = make_world(db)
    with db.transaction() as s:
        set_config(s, w.town_id, "volunteer", {"thresholds": [1, 2, 3, 4, 5]}, actor_id=None)
    act = make_activity(db, w, hours=3)
    review.add_attendance(db, settings, w.organizer, review.Record(
        act.id, w.people[1], T0, T0 + timedelta(hours=1), "补录"),
        now=T0 + timedelta(hours=4))
    r = client.post("/api/v1/courtesy/benefits", headers=auth("town_admin"), json={
        "name": "合作商户九折", "kind": "discount", "min_stars": 1, "uses_per_year": 12,
        "partner": "宝盖某超市（演示）", "town_id": w.town_id})
    assert r.status_code == 201, r.text
    sign_in(client, settings, "volunteer", village_id=w.village_id, user_id=6001,
            person_id=w.people[1])
    page = client.get("/courtesy").text
    assert "合作商户九折" in page and "领取" in page
    action = f"/courtesy/{r.json()['id']}/claim"
    r = client.post(action, data=form_fields(page, action), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/courtesy?saved=1"
    mine = client.get("/api/v1/courtesy/mine").json()
    code = mine["passes"][0]["code"]
    assert "/courtesy/p/" in client.get("/courtesy").text
    client.cookies.clear()
    public = client.get(f"/courtesy/p/{code}").text
    assert "有效" in public and "林志愿1" not in public and "确认核销" not in public
    sign_in(client, settings, "clerk", user_id=9)
    page = client.get(f"/courtesy/p/{code}").text
    action = f"/courtesy/p/{code}/use"
    r = client.post(action, data=form_fields(page, action), follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/api/v1/courtesy/passes/{code}").json()["valid"] is False
