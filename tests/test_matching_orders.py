"""四单 end to end in the domain: a resident orders, the station dispatches to a team, its leader
accepts, a member checks in and out with the order's code (hours and points by the rule engine),
the resident rates; and each refusal on the way with its own code."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.activities.planning import Actor
from ledger.errors import DomainError
from ledger.matching import menu as matching_menu
from ledger.matching import orders as matching_orders
from ledger.matching import progress as matching_progress
from ledger.matching import service as matching
from ledger.matching import views as matching_views
from tests.conftest import audit_clean
from tests.builders.activities import T0, minutes_of, points_of
from tests.builders.matching import make_town, place, scan


def refused(expected: str, fn, *a, **kw) -> DomainError:
    with pytest.raises(DomainError) as exc:
        fn(*a, **kw)
    assert exc.value.code == expected, exc.value.detail
    return exc.value


def test_order_from_placing_to_rating_pays_through_the_rule_engine(db, settings):
    t = make_town(db)
    o = place(db, t)
    assert o.status == "placed" and o.contact_visible and o.channel == "self"
    o = matching.dispatch(db, t.staff, o.id, team_id=t.team_id, now=t.now(1))
    assert o.status == "dispatched" and o.assignee_team == "卫生环保志愿服务队"
    with db.sessions() as s:  # a team member sees the contact while the order is open
        order = matching_orders.get_order(s, o.id)
        assert matching_views.order_view(s, order, t.member)["address"]
    o = matching.accept(db, t.leader, o.id, now=t.now(2))
    assert o.status == "accepted"
    scan(db, settings, t, o.id, 2, T0 + timedelta(minutes=5))
    assert matching_views.read_order(db, t.resident, o.id).status == "serving"
    out = scan(db, settings, t, o.id, 2, T0 + timedelta(minutes=65), action="out")
    assert out.minutes == 60 and out.points_state == "awarded"
    assert points_of(db, "person", t.w.people[2]) == 3  # P1: 3 points an occurrence
    assert minutes_of(db, t.w.people[2])["certified"] == 60
    view = matching_views.read_order(db, t.resident, o.id)
    assert view.status == "done" and "rate" in view.can
    with db.sessions() as s:  # the order is closed: the team no longer sees the contact
        order = matching_orders.get_order(s, o.id)
        assert matching_views.order_view(s, order, t.member)["address"] is None
    refused("rate_own_team", matching.rate, db, t.member, o.id, 5)
    refused("not_your_order", matching.rate, db, Actor(6010, person_id=t.w.people[5]), o.id, 5)
    o = matching.rate(db, t.resident, o.id, 5, "师傅很耐心", now=T0 + timedelta(hours=2))
    assert o.status == "rated" and o.rating == 5
    refused("order_already_rated", matching.rate, db, t.resident, o.id, 4)
    events = matching_views.read_order(db, t.staff, o.id).events
    assert [e.action for e in events] == ["place", "dispatch", "accept", "check_in", "done",
                                             "rate"]
    assert events[3].actor_person_id == t.w.people[2] and events[-1].actor_user_id == 6000
    assert events[3].actor == "林**2"  # who scanned in, masked for the history
    audit_clean(db)


def test_order_refusals_each_have_their_code(db, settings):
    t = make_town(db)
    refused("need_too_long", place, db, t, need="修" * (matching.MAX_NEED_CHARS + 1))
    refused("need_required", place, db, t, code=None, need="")
    refused("service_unknown", place, db, t, code="rocket")
    refused("photos_too_many", place, db, t, photos=("a" * 64,) * (matching.MAX_PHOTOS + 1))
    refused("photo_invalid", place, db, t, photos=("not-a-hash",))
    refused("preferred_in_past", place, db, t, now=T0 + timedelta(hours=5))
    refused("household_required", place, db, t, actor=t.member)  # no household on record
    refused("household_required", place, db, t, actor=t.staff)  # staff must name one
    for _ in range(matching.MAX_OPEN_ORDERS_PER_HOUSEHOLD):
        o = place(db, t)
    refused("too_many_open_orders", place, db, t)
    refused("not_station_staff", matching.dispatch, db, t.leader, o.id, team_id=t.team_id)
    refused("assignee_required", matching.dispatch, db, t.staff, o.id)
    refused("skill_missing", matching.dispatch, db, t.staff, o.id, person_id=t.w.people[4])
    refused("assignee_own_household", matching.dispatch, db, t.staff, o.id,
            person_id=t.w.people[0])
    refused("not_assignee", matching.accept, db, t.leader, o.id)
    matching.dispatch(db, t.staff, o.id, team_id=t.team_id, now=t.now(1))
    refused("not_assignee", matching.accept, db, t.member, o.id, now=t.now(2))
    refused("order_reason_required", matching.decline, db, t.leader, o.id, " ")
    refused("accept_deadline_passed", matching.accept, db, t.leader, o.id,
            now=t.now(1) + matching.ACCEPT_DEADLINE + timedelta(seconds=1))
    refused("order_not_done", matching.rate, db, t.resident, o.id, 5)
    refused("rating_out_of_range", matching.rate, db, t.resident, o.id, 6)
    refused("not_your_order", matching.cancel, db, t.leader, o.id, "不需要了")
    c = matching.cancel(db, t.resident, o.id, "已经自己修好了", now=t.now(3))
    assert c.status == "cancelled"
    refused("order_status_conflict", matching.cancel, db, t.resident, o.id, "再取消一次")


def test_decline_and_missed_deadlines_escalate_to_the_station_then_the_town(db, settings):
    t = make_town(db)
    o = place(db, t)
    matching.dispatch(db, t.staff, o.id, team_id=t.team_id, now=t.now(1))
    d = matching.decline(db, t.leader, o.id, "队员都在外地", now=t.now(2))
    assert d.status == "placed" and d.escalation == 1 and d.assignee_team_id is None
    matching.dispatch(db, t.staff, o.id, team_id=t.team_id, now=t.now(3))
    late = t.now(3) + matching.ACCEPT_DEADLINE + timedelta(minutes=1)
    assert matching_progress.sweep(db, now=late)["to_station"] == 1
    assert matching_progress.sweep(db, now=late)["to_station"] == 0  # once
    later = late + matching_orders.STATION_DEADLINE + timedelta(minutes=1)
    assert matching_progress.sweep(db, now=later)["to_town"] == 1
    view = matching_views.read_order(db, t.staff, o.id)
    assert view.escalation == 2 and view.overdue
    assert [e.action for e in view.events][-3:] == ["dispatch", "escalate_station",
                                                          "escalate_town"]
    assert view.events[-1].actor_user_id is None  # the deadline, not a person


def test_staff_order_for_a_resident_by_phone_and_rating_recorded_from_a_call(db, settings):
    t = make_town(db)
    o = place(db, t, actor=t.staff, household_id=t.w.household_id, channel="phone",
              contact_phone="13800001111", code="haircut", need="")
    assert o.channel == "phone" and o.contact_phone == "13800001111"
    with db.sessions() as s:
        assert matching_menu.candidates(s, matching_orders.get_order(s, o.id))["people"] == [
            {"id": t.w.people[4], "name": "林志愿4"}]
    matching.dispatch(db, t.staff, o.id, person_id=t.w.people[4], now=t.now(1))
    v4 = Actor(6004, person_id=t.w.people[4])
    matching.accept(db, v4, o.id, now=t.now(2))
    scan(db, settings, t, o.id, 4, T0)
    scan(db, settings, t, o.id, 4, T0 + timedelta(minutes=30), action="out")
    r = matching.rate(db, t.staff, o.id, 4, "电话回访：满意", now=T0 + timedelta(hours=1))
    assert r.rating == 4
    assert matching_views.read_order(db, t.staff, o.id).events[-1].details["channel"] == \
        "phone"
    with db.sessions() as s:  # a stranger sees neither phone nor address
        view = matching_views.order_view(s, matching_orders.get_order(s, o.id), Actor(9999))
        assert view["contact_phone"] is None and view["address"] is None
