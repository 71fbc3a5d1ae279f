"""Recruitment: sign-ups within the capacity, a waiting line past it, promotion when a seat
frees, and walk-ins counted against the same seats."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.activities import signups
from ledger.errors import Conflict, Forbidden
from tests.builders.activities import T0, make_activity, make_world, scan

BEFORE = T0 - timedelta(days=1)


def test_waiting_list_moves_up_in_order_when_someone_withdraws(db, settings):
    w = make_world(db)
    act = make_activity(db, w, capacity=2)
    a, b, c, d = (signups.sign_up(db, activity_id=act.id, person_id=w.people[i],
                                  now=BEFORE + timedelta(minutes=i)) for i in range(4))
    assert [x.status for x in (a, b, c, d)] == ["signed_up", "signed_up", "waiting", "waiting"]
    assert c.waiting_position == 1 and d.waiting_position == 2
    out = signups.withdraw(db, activity_id=act.id, person_id=w.people[0], now=BEFORE)
    assert out.status == "withdrawn" and out.promoted_person_id == w.people[2]
    again = signups.sign_up(db, activity_id=act.id, person_id=w.people[3], now=BEFORE)
    assert again.status == "waiting" and again.waiting_position == 1
    # the first one comes back: to the end of the line
    back = signups.sign_up(db, activity_id=act.id, person_id=w.people[0],
                           now=BEFORE + timedelta(hours=1))
    assert back.status == "waiting" and back.waiting_position == 2
    listing = signups.list_signups(db, w.organizer, act.id)
    assert listing.seats_taken == 2


def test_withdrawing_from_the_waiting_list_promotes_nobody(db, settings):
    w = make_world(db)
    act = make_activity(db, w, capacity=1)
    for i in range(3):
        signups.sign_up(db, activity_id=act.id, person_id=w.people[i], now=BEFORE)
    out = signups.withdraw(db, activity_id=act.id, person_id=w.people[1], now=BEFORE)
    assert out.promoted_person_id is None
    third = signups.sign_up(db, activity_id=act.id, person_id=w.people[2], now=BEFORE)
    assert third.waiting_position == 1


def test_signed_up_volunteer_checks_in_where_walk_ins_are_refused(db, settings):
    w = make_world(db)
    act = make_activity(db, w, capacity=1, walk_ins_allowed=False)
    signups.sign_up(db, activity_id=act.id, person_id=w.people[0], now=BEFORE)
    signups.sign_up(db, activity_id=act.id, person_id=w.people[1], now=BEFORE)
    assert not scan(db, settings, w, act, 0, T0).walk_in
    with pytest.raises(Forbidden) as e:
        scan(db, settings, w, act, 1, T0)
    assert e.value.code == "on_waiting_list"
    with pytest.raises(Conflict) as e:
        signups.withdraw(db, activity_id=act.id, person_id=w.people[0], now=T0)
    assert e.value.code == "already_attended"


def test_walk_ins_take_seats_and_a_waiting_volunteer_may_walk_in(db, settings):
    w = make_world(db)
    act = make_activity(db, w, capacity=2)
    signups.sign_up(db, activity_id=act.id, person_id=w.people[0], now=BEFORE)
    assert scan(db, settings, w, act, 1, T0).walk_in  # the second seat
    waiting = signups.sign_up(db, activity_id=act.id, person_id=w.people[2], now=T0)
    assert waiting.status == "waiting"
    with pytest.raises(Conflict):
        scan(db, settings, w, act, 2, T0)  # no free seat for a walk-in either
    signups.withdraw(db, activity_id=act.id, person_id=w.people[0], now=T0)
    r = scan(db, settings, w, act, 2, T0 + timedelta(minutes=1))  # promoted: has the seat
    assert not r.walk_in


def test_sign_up_needs_an_open_activity(db, settings):
    w = make_world(db)
    draft = make_activity(db, w, open_it=False)
    with pytest.raises(Conflict) as e:
        signups.sign_up(db, activity_id=draft.id, person_id=w.people[0], now=BEFORE)
    assert e.value.code == "signup_closed"
