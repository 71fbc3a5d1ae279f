"""Service minutes of an attendance: how many are credited (the rounding rule), and when
(checked out, confirmed, turned down). The entries are the minutes book's
(ledger/journal/minutes.py), where every minute is booked.

Rounding (docs/checkins.md): the counted interval is the part of [check-in, check-out] inside the
activity's scheduled window [starts_at, ends_at]; its length is floored to whole minutes (59.9 s
count 0), then floored to the activity's step (`rounding_step_min`, 1 by default; a step of 30
turns 59 minutes into 30), then capped at `max_minutes`. Never rounded up, so no one is credited
a minute they did not serve.

Accounts (unit minutes): the town's `service` account is the source (it may go below zero, like
points funding; sharded like a budget so check-outs do not queue on one row); a person's
`points` account holds certified minutes only (stars count these); a person's `transit` account
holds minutes waiting for the organizer's confirmation, visible as pending.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.activities.schemas import ServiceMinutes
from ledger.db import Database
from ledger.errors import InvalidInput
from ledger.journal import minutes as book
from ledger.journal.models import Account, HolderType, Purpose, Unit
from ledger.journal.posting import Line, PostedEntry, post_entry
from ledger.view import typed

US_PER_MINUTE = 60_000_000
ROUNDING_STEPS_MIN = (1, 5, 10, 15, 30, 60)
MAX_ACTIVITY_MINUTES = 24 * 60  # one activity's window is at most a day
SOURCE = "attendance"


def counted_minutes(*, check_in: datetime, check_out: datetime, starts_at: datetime,
                    ends_at: datetime, step_min: int = 1, max_minutes: int | None = None) -> int:
    """Minutes credited for one attendance; see the module docstring for the rule."""
    if step_min not in ROUNDING_STEPS_MIN:
        raise InvalidInput(f"rounding step must be one of {ROUNDING_STEPS_MIN} minutes",
                           code="rounding_step_invalid", field="rounding_step_min")
    start, end = max(check_in, starts_at), min(check_out, ends_at)
    if end <= start:
        return 0
    delta = end - start
    us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    minutes = us // US_PER_MINUTE
    minutes -= minutes % step_min
    if max_minutes is not None:
        minutes = min(minutes, max_minutes)
    assert 0 <= minutes <= MAX_ACTIVITY_MINUTES, minutes
    return minutes


def book_minutes(s: Session, *, town_id: int, person_id: int, minutes: int, certified: bool,
                 attendance_id: int, actor_id: int | None, details: dict, shards: int,
                 now: datetime | None = None) -> PostedEntry:
    """Service → the person's certified minutes, or → their pending (transit) minutes."""
    return book.credit(
        s, town_id=town_id, holders=[(HolderType.PERSON, person_id, minutes)], shards=shards,
        purpose=Purpose.POINTS if certified else Purpose.TRANSIT,
        kind="service" if certified else "service_pending",
        memo="志愿服务时长" + ("" if certified else "（待确认）"), source=SOURCE,
        source_ref=str(attendance_id), actor_id=actor_id, details=details, now=now)


def certify_minutes(s: Session, *, person_id: int, minutes: int, attendance_id: int,
                    actor_id: int | None, details: dict, now: datetime | None = None
                    ) -> PostedEntry:
    """Pending → certified, when the organizer confirms."""
    return post_entry(
        s, unit=Unit.MINUTES, kind="service_certify",
        lines=[Line.of(book.holder_account(s, HolderType.PERSON, person_id, Purpose.TRANSIT),
                       -minutes),
               Line.of(book.holder_account(s, HolderType.PERSON, person_id), minutes)],
        memo="志愿服务时长确认", source=SOURCE, source_ref=str(attendance_id),
        actor_id=actor_id, details=details, now=now)


def return_pending(s: Session, *, town_id: int, person_id: int, minutes: int,
                   attendance_id: int, actor_id: int | None, details: dict, shards: int,
                   now: datetime | None = None) -> PostedEntry:
    """Pending → back to the source, when the organizer rejects."""
    return book.credit(
        s, town_id=town_id, holders=[(HolderType.PERSON, person_id, minutes)], shards=shards,
        purpose=Purpose.TRANSIT, sign=-1, kind="service_reject", memo="志愿服务时长未获确认",
        source=SOURCE, source_ref=str(attendance_id), actor_id=actor_id, details=details,
        now=now)


def person_minutes(s: Session, person_id: int) -> dict:
    """Certified and pending minutes of a person, from the ledger."""
    rows = s.execute(select(Account.purpose, Account.balance).where(
        Account.unit == Unit.MINUTES, Account.holder_type == HolderType.PERSON,
        Account.holder_id == person_id)).all()
    by = dict(rows)
    return {"certified_minutes": int(by.get(Purpose.POINTS, 0)),
            "pending_minutes": int(by.get(Purpose.TRANSIT, 0))}


def service_of(db: Database, person_id: int) -> ServiceMinutes:
    """A volunteer's certified and pending minutes (the API's `/me/service`)."""
    with db.sessions() as s:
        return typed({"person_id": person_id, **person_minutes(s, person_id)}, ServiceMinutes)
