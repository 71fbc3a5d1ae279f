"""Scanning in and out: one attendance per person per activity, minutes booked once, rounded
down as documented, capped per activity."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from ledger.activities import minutes
from ledger.activities.models import Attendance
from ledger.errors import Conflict, Forbidden, InvalidInput
from ledger.journal.models import JournalEntry
from ledger.rules import store
from tests.conftest import audit_clean
from tests.builders.activities import (
    ADMIN_ID,
    T0,
    make_activity,
    make_world,
    minutes_of,
    scan,
)


def test_second_scan_returns_the_first_attendance(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    first = scan(db, settings, w, act, 0, T0)
    again = scan(db, settings, w, act, 0, T0 + timedelta(seconds=40))
    assert first.action == "check_in" and not first.repeated
    assert again.repeated and again.attendance_id == first.attendance_id
    assert again.state == "checked_in" and again.check_out_at is None
    explicit_in = scan(db, settings, w, act, 0, T0 + timedelta(minutes=30), action="in")
    assert explicit_in.repeated and explicit_in.check_in_at == first.check_in_at
    with db.sessions() as s:
        assert s.query(Attendance).count() == 1


def test_scan_out_books_certified_minutes_once_and_later_scans_repeat_it(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    scan(db, settings, w, act, 0, T0 - timedelta(minutes=10))  # early: counted from the start
    out = scan(db, settings, w, act, 0, T0 + timedelta(minutes=95, seconds=59))
    assert out.action == "check_out" and out.minutes == 95
    assert out.minutes_status == "certified"
    assert minutes_of(db, w.people[0]) == {"certified": 95, "pending": 0}
    for extra in (1, 5, 30):
        r = scan(db, settings, w, act, 0, T0 + timedelta(minutes=95 + extra))
        assert r.repeated and r.minutes == 95 and r.state == "checked_out"
    assert minutes_of(db, w.people[0])["certified"] == 95
    with db.sessions() as s:
        entry = s.query(JournalEntry).filter_by(source="attendance",
                                                 source_ref=str(out.attendance_id)).one()
        assert entry.unit == "minutes" and entry.kind == "service"
        assert entry.details["counted_minutes"] == 95 and entry.details["rule_item"] == "H1"
    audit_clean(db)


def test_explicit_check_out_without_check_in_is_refused(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    with pytest.raises(Conflict) as e:
        scan(db, settings, w, act, 0, T0, action="out")
    assert e.value.code == "not_checked_in"


@pytest.mark.parametrize("seconds, step, expected", [
    (0, 1, 0), (59, 1, 0), (60, 1, 1), (119, 1, 1), (120, 1, 2),
    (29 * 60 + 59, 30, 0), (30 * 60, 30, 30), (59 * 60 + 59, 30, 30), (60 * 60, 30, 60),
    (14 * 60 + 59, 15, 0), (15 * 60, 15, 15),
])
def test_rounding_floors_to_whole_minutes_then_to_the_step(seconds, step, expected):
    got = minutes.counted_minutes(check_in=T0, check_out=T0 + timedelta(seconds=seconds),
                                  starts_at=T0, ends_at=T0 + timedelta(hours=3), step_min=step)
    assert got == expected


def test_rounding_ignores_microseconds_below_the_minute():
    got = minutes.counted_minutes(check_in=T0, check_out=T0 + timedelta(seconds=59,
                                                                        microseconds=999_999),
                                  starts_at=T0, ends_at=T0 + timedelta(hours=1))
    assert got == 0


def test_minutes_count_only_inside_the_window_and_up_to_the_activity_cap():
    end = T0 + timedelta(hours=2)
    kw = dict(starts_at=T0, ends_at=end)
    assert minutes.counted_minutes(check_in=T0 - timedelta(hours=1),
                                   check_out=end + timedelta(hours=1), **kw) == 120
    assert minutes.counted_minutes(check_in=end + timedelta(minutes=1),
                                   check_out=end + timedelta(minutes=30), **kw) == 0
    assert minutes.counted_minutes(check_in=T0, check_out=end, max_minutes=90, **kw) == 90
    with pytest.raises(InvalidInput):
        minutes.counted_minutes(check_in=T0, check_out=end, step_min=7, **kw)


def test_activity_caps_minutes_at_its_maximum(db, settings):
    w = make_world(db)
    act = make_activity(db, w, hours=4, max_minutes=180, rounding_step_min=30)
    scan(db, settings, w, act, 0, T0)
    out = scan(db, settings, w, act, 0, T0 + timedelta(hours=3, minutes=50))
    assert out.minutes == 180
    scan(db, settings, w, act, 1, T0)
    out = scan(db, settings, w, act, 1, T0 + timedelta(minutes=89))
    assert out.minutes == 60


def test_walk_ins_need_permission_and_a_free_seat(db, settings):
    w = make_world(db)
    closed = make_activity(db, w, walk_ins_allowed=False)
    with pytest.raises(Forbidden) as e:
        scan(db, settings, w, closed, 0, T0)
    assert e.value.code == "not_signed_up"
    act = make_activity(db, w, capacity=2, title="两个名额")
    scan(db, settings, w, act, 0, T0)
    r = scan(db, settings, w, act, 1, T0)
    assert r.walk_in
    with pytest.raises(Conflict) as e:
        scan(db, settings, w, act, 2, T0)
    assert e.value.code == "activity_full"


def test_scan_needs_a_volunteer_and_a_known_action(db, settings):
    from ledger.activities import service
    w = make_world(db)
    act = make_activity(db, w)
    tok = service.tokens.rotating_token(settings.secret_key, act.id, 15, T0)[0]
    with pytest.raises(Forbidden) as e:
        service.scan(db, settings, service.Scan(token=tok, person_id=None, user_id=1), now=T0)
    assert e.value.code == "volunteer_required"
    with pytest.raises(InvalidInput) as e:
        scan(db, settings, w, act, 0, T0, action="sideways")
    assert e.value.code == "action_invalid"


STANDING_CATALOG = """
catalog:
  code: standing_later
  name: 信用状态（后发布）
  effective_from: 2024-01-01
  approval: {approved_by: 村民代表会议, decision: 测试〔2026〕2号}
  subjects: [person]
  standing:
    - {code: cancelled, name: 注销登记, below: 1, effects: [checkin]}
categories:
  - code: A
    name: 甲
    items:
      - {code: GOOD, name: 好事, points: 5}
"""


def test_a_check_in_reads_its_rows_at_once_and_a_catalog_published_since_still_stops_it(
        db, settings):
    """The scan's first statement reads the activity, the attendance and the catalogs' stamp;
    the standing check takes the catalogs from this process's memory at that stamp, so a
    check-in reads no catalog row, and a catalog published since is seen at the next scan."""
    w = make_world(db)
    act = make_activity(db, w)
    scan(db, settings, w, act, 0, T0)  # this process now knows the catalogs
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        assert scan(db, settings, w, act, 1, T0 + timedelta(minutes=1)).action == "check_in"
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    seen = [s for s in seen if not s.startswith("BEGIN")]  # SQLite's own BEGIN IMMEDIATE
    assert not [s for s in seen if "rule_catalog." in s]  # the catalogs' rows: from memory
    assert len(seen) <= 4, seen  # rows, standing suspects, sign-up, the attendance
    store.import_catalog(db, STANDING_CATALOG, actor_id=ADMIN_ID, town_id=w.town_id)
    with pytest.raises(Forbidden) as refused:  # no points: below 1, registration cancelled
        scan(db, settings, w, act, 2, T0 + timedelta(minutes=2))
    assert refused.value.code.endswith("_checkin")
