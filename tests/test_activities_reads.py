"""What the activity pages read from the domain (ledger/activities/reads.py and the small reads
beside it): who sees which activities, the live counts, the reader's own attendance and
sign-up, and the organizer's sheets, each a typed answer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.activities import planning, reads, service, signups
from ledger.activities.schemas import ActivityView, AttendanceCounts, AttendanceResult
from ledger.errors import Forbidden
from ledger.identity.actor import Actor
from tests.builders.activities import T0, make_activity, make_world, scan

BEFORE = T0 - timedelta(days=1)


def test_an_organizer_sees_their_activities_and_an_admin_those_of_their_village(db):
    w = make_world(db)
    act = make_activity(db, w)
    other_admin = Actor(901, roles=(("village_admin", w.other_village_id),))
    town_admin = Actor(902, roles=(("town_admin", None),))
    stranger = Actor(903, roles=(("organizer", w.village_id),))
    assert [a.id for a in planning.activities_of(db, w.organizer)] == [act.id]
    assert [a.id for a in planning.activities_of(db, w.admin)] == [act.id]
    assert [a.id for a in planning.activities_of(db, town_admin)] == [act.id]
    assert planning.activities_of(db, other_admin) == []
    assert planning.activities_of(db, stranger) == []  # organizes for the village, not this one
    assert isinstance(planning.activities_of(db, w.organizer)[0], ActivityView)


def test_counts_and_my_attendance_follow_the_scans(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    assert service.my_attendance(db, act.id, w.people[0]) is None
    assert reads.attendance_counts(db, act.id) == AttendanceCounts(arrived=0, left=0)
    scan(db, settings, w, act, 0, T0)
    scan(db, settings, w, act, 1, T0)
    scan(db, settings, w, act, 0, T0 + timedelta(minutes=30))
    counts = reads.attendance_counts(db, act.id)
    assert (counts.arrived, counts.left) == (2, 1)
    mine = service.my_attendance(db, act.id, w.people[1])
    assert isinstance(mine, AttendanceResult) and mine.state == "checked_in"


def test_the_sign_up_list_shows_seats_and_my_place_in_line(db):
    w = make_world(db)
    act = make_activity(db, w, capacity=1)
    signups.sign_up(db, activity_id=act.id, person_id=w.people[0], now=BEFORE)
    signups.sign_up(db, activity_id=act.id, person_id=w.people[1], now=BEFORE)
    board = reads.open_activities(db, w.people[1], now=BEFORE)
    [row] = board.items
    assert row.id == act.id and row.taken == 1 and row.capacity == 1
    assert row.mine.status == "waiting" and row.mine.waiting_position == 1
    assert board.villages[w.village_id]
    assert reads.open_activities(db, w.people[2], now=BEFORE).items[0].mine is None
    assert reads.open_activities(db, w.people[0], now=T0 + timedelta(days=1)).items == []


def test_the_organizer_sheets_name_people_and_refuse_others(db, settings):
    w = make_world(db)
    act = make_activity(db, w, capacity=1)
    signups.sign_up(db, activity_id=act.id, person_id=w.people[0], now=BEFORE)
    signups.sign_up(db, activity_id=act.id, person_id=w.people[1], now=BEFORE)
    sheet = reads.signup_sheet(db, w.organizer, act.id)
    assert [r.person_id for r in sheet.seated] == [w.people[0]]
    assert [r.person_id for r in sheet.waiting] == [w.people[1]]
    assert set(sheet.names) == {w.people[0], w.people[1]}
    scan(db, settings, w, act, 0, T0)
    page = reads.managed_activity(db, w.organizer, act.id)
    assert page.activity.id == act.id and page.counts.arrived == 1
    assert [a.person_id for a in page.attendances] == [w.people[0]] and w.people[0] in page.names
    with pytest.raises(Forbidden):
        reads.managed_activity(db, w.volunteer(2), act.id)
    with pytest.raises(Forbidden):
        reads.signup_sheet(db, w.volunteer(2), act.id)


def test_the_new_activity_form_offers_the_actors_villages_and_payable_items(db):
    w = make_world(db)
    choices = reads.activity_choices(db, w.organizer)
    assert [v for v, _ in choices.villages] == [w.village_id]
    assert "H1" in {code for code, _ in choices.items}
    assert reads.activity_choices(db, w.volunteer(0)).villages == []
