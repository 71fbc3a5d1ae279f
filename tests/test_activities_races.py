"""Races on PostgreSQL with real parallel connections: a phone double-tapping, a crowd of
walk-ins for the last seats, two sweeps at once. Nothing is recorded or paid twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ledger.activities import review
from ledger.activities.schemas import AttendanceResult
from ledger.activities.models import Attendance, ForgottenPolicy
from ledger.errors import DomainError
from ledger.journal.models import JournalEntry
from ledger.rules.models import AwardRecord
from tests.conftest import audit_clean
from tests.builders.activities import (
    T0,
    make_activity,
    make_world,
    minutes_of,
    points_of,
    scan,
)

THREADS = 8


def _parallel(fn, n=THREADS):
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(fn, i) for i in range(n)]
    out = []
    for f in futures:
        try:
            out.append(f.result())
        except DomainError as exc:
            out.append(exc)
    return out


@pytest.mark.postgres
def test_racing_check_outs_book_minutes_and_points_once(pg_db, settings):
    db = pg_db
    w = make_world(db)
    act = make_activity(db, w)
    scan(db, settings, w, act, 0, T0)
    at = T0 + timedelta(minutes=60)
    results = _parallel(lambda i: scan(db, settings, w, act, 0, at, action="out"))
    assert sum(1 for r in results if r.action == "check_out") == 1
    assert all(r.minutes == 60 for r in results)
    assert minutes_of(db, w.people[0])["certified"] == 60
    assert points_of(db, "person", w.people[0]) == 2
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AwardRecord)) == 1
        assert s.scalar(select(func.count()).select_from(JournalEntry).where(
            JournalEntry.unit == "minutes")) == 1
    audit_clean(db)


@pytest.mark.postgres
def test_racing_first_scans_make_one_attendance(pg_db, settings):
    db = pg_db
    w = make_world(db)
    act = make_activity(db, w)
    results = _parallel(lambda i: scan(db, settings, w, act, 0, T0))
    assert len({r.attendance_id for r in results}) == 1
    assert sum(1 for r in results if not r.repeated) == 1


@pytest.mark.postgres
def test_walk_ins_racing_for_the_last_seats_never_exceed_capacity(pg_db, settings):
    db = pg_db
    w = make_world(db, n_people=THREADS)
    act = make_activity(db, w, capacity=3)
    results = _parallel(lambda i: scan(db, settings, w, act, i, T0))
    ok = [r for r in results if isinstance(r, AttendanceResult)]
    full = [r for r in results if isinstance(r, DomainError)]
    assert len(ok) == 3 and all(e.code == "activity_full" for e in full)
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Attendance)) == 3


@pytest.mark.postgres
def test_parallel_sweeps_apply_the_policy_once(pg_db, settings):
    db = pg_db
    w = make_world(db, n_people=4)
    act = make_activity(db, w, forgotten_policy=ForgottenPolicy.CREDIT_UNTIL_END)
    for i in range(4):
        scan(db, settings, w, act, i, T0 + timedelta(minutes=i))
    after = T0 + timedelta(hours=3, minutes=5)
    _parallel(lambda i: review.sweep_forgotten_checkouts(db, settings, after), n=4)
    assert [minutes_of(db, p)["certified"] for p in w.people] == [120, 119, 118, 117]
    assert [points_of(db, "person", p) for p in w.people] == [4, 3, 3, 3]
    audit_clean(db)
