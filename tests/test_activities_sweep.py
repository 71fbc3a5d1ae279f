"""Forgotten check-outs: after an activity ends, the sweep applies its policy to whoever is
still checked in, once, and closes the activity."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.activities import review
from ledger.activities.models import ForgottenPolicy
from ledger.errors import Conflict
from tests.conftest import audit_clean
from tests.builders.activities import (
    T0,
    attendance,
    make_activity,
    make_world,
    minutes_of,
    points_of,
    scan,
)

AFTER = T0 + timedelta(hours=3, minutes=1)  # a 2-hour activity plus the hour of grace


def _forgot(db, settings, policy, **kw):
    w = make_world(db)
    act = make_activity(db, w, forgotten_policy=policy, **kw)
    scan(db, settings, w, act, 0, T0 + timedelta(minutes=30))  # forgets to scan out
    scan(db, settings, w, act, 1, T0)
    scan(db, settings, w, act, 1, T0 + timedelta(minutes=60))  # scans out
    return w, act


def test_sweep_waits_for_the_grace_hour(db, settings):
    w, act = _forgot(db, settings, ForgottenPolicy.CREDIT_UNTIL_END)
    early = review.sweep_forgotten_checkouts(db, settings, T0 + timedelta(hours=2, minutes=59))
    assert early["activities"] == 0


def test_credit_until_end_counts_to_the_scheduled_end(db, settings):
    w, act = _forgot(db, settings, ForgottenPolicy.CREDIT_UNTIL_END)
    summary = review.sweep_forgotten_checkouts(db, settings, AFTER)
    assert summary == {"activities": 1, "credited": 1, "credited_nothing": 0,
                       "left_to_organizer": 0}
    assert minutes_of(db, w.people[0])["certified"] == 90  # 09:30 → 11:00
    assert points_of(db, "person", w.people[0]) == 3
    again = review.sweep_forgotten_checkouts(db, settings, AFTER + timedelta(hours=1))
    assert again["activities"] == 0 and minutes_of(db, w.people[0])["certified"] == 90
    assert minutes_of(db, w.people[1])["certified"] == 60  # the one who scanned out: untouched
    with pytest.raises(Conflict) as e:  # the activity is closed now
        scan(db, settings, w, act, 0, AFTER)
    assert e.value.code in ("activity_closed", "activity_ended")
    audit_clean(db)


def test_credit_nothing_records_the_forgotten_attendance_without_minutes(db, settings):
    w, act = _forgot(db, settings, ForgottenPolicy.CREDIT_NOTHING)
    summary = review.sweep_forgotten_checkouts(db, settings, AFTER)
    assert summary["credited_nothing"] == 1
    assert minutes_of(db, w.people[0]) == {"certified": 0, "pending": 0}
    assert points_of(db, "person", w.people[0]) == 0
    from ledger.activities.review import list_attendances
    rows = list_attendances(db, w.organizer, act.id, state="forgotten").items
    assert len(rows) == 1 and rows[0].minutes == 0 and rows[0].points_state == \
        "not_applicable"


def test_organizer_decides_leaves_it_pending_until_a_time_is_set(db, settings):
    w, act = _forgot(db, settings, ForgottenPolicy.ORGANIZER_DECIDES)
    summary = review.sweep_forgotten_checkouts(db, settings, AFTER)
    assert summary["left_to_organizer"] == 1
    rows = review.list_attendances(db, w.organizer, act.id, review="pending").items
    assert len(rows) == 1 and rows[0].minutes is None
    att_id = rows[0].attendance_id
    with pytest.raises(Conflict) as e:  # confirming needs a check-out time first
        review.confirm(db, settings, w.organizer, att_id, now=AFTER)
    assert e.value.code == "check_out_time_required"
    r = review.resolve_forgotten(db, settings, w.organizer, att_id,
                                 T0 + timedelta(minutes=100), "离开时忘记签退，组织者核实",
                                 now=AFTER)
    assert r.minutes == 70 and r.minutes_status == "certified"
    att = attendance(db, att_id)
    assert att.reviewed_by == w.organizer.user_id and att.out_method == "organizer"
    assert minutes_of(db, w.people[0])["certified"] == 70
    with pytest.raises(Conflict):
        review.resolve_forgotten(db, settings, w.organizer, att_id,
                                 T0 + timedelta(minutes=110), "再改一次", now=AFTER)
    audit_clean(db)


def test_organizer_may_check_someone_out_before_the_sweep(db, settings):
    w, act = _forgot(db, settings, ForgottenPolicy.CREDIT_NOTHING)
    rows = review.list_attendances(db, w.organizer, act.id, state="checked_in").items
    r = review.resolve_forgotten(db, settings, w.organizer, rows[0].attendance_id,
                                 T0 + timedelta(minutes=90), "提前离场，口头告知",
                                 now=T0 + timedelta(minutes=95))
    assert r.minutes == 60 and r.review == "confirmed"
    assert attendance(db, r.attendance_id).reviewed_by == w.organizer.user_id
    assert review.sweep_forgotten_checkouts(db, settings, AFTER)["credited_nothing"] == 0
