"""What the activity pages read in one go: a volunteer's list of open activities, an
organizer's page of one activity or of its sign-ups, and the new-activity form's choices. Each
takes the `Database` and answers a type (schemas.py); the checks are the domain's own."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.activities import awards, review, signups
from ledger.activities.models import (Activity, ActivityStatus, Attendance, AttendanceState,
                                      Signup, SignupStatus)
from ledger.activities.planning import activity_view, get_activity
from ledger.activities.schemas import (ActivityChoices, ActivityView, AttendanceCounts,
                                       ManagedActivity, OpenActivities, SignupSheet)
from ledger.db import Database
from ledger.errors import InvalidInput
from ledger.identity.actor import Actor, may
from ledger.registry.lookup import person_names, village_names
from ledger.timeutil import utcnow
from ledger.view import typed

MAX_OPEN_SHOWN = 50  # open activities on a volunteer's sign-up list, soonest first


def open_activities(db: Database, person_id: int | None, *, now: datetime | None = None,
                    limit: int = MAX_OPEN_SHOWN) -> OpenActivities:
    """The open activities not yet over, soonest first, each with its seats taken and the
    person's own sign-up (place in the waiting line included), or null."""
    if not 1 <= limit <= MAX_OPEN_SHOWN:
        raise InvalidInput(f"limit must be 1..{MAX_OPEN_SHOWN}", code="page_size_out_of_range")
    now = now or utcnow()
    with db.sessions() as s:
        acts = list(s.scalars(select(Activity).where(
            Activity.status == ActivityStatus.OPEN, Activity.ends_at > now)
            .order_by(Activity.starts_at).limit(limit)))
        mine = {sg.activity_id: sg for sg in s.scalars(select(Signup).where(
            Signup.person_id == person_id, Signup.activity_id.in_([a.id for a in acts])))} \
            if acts else {}
        rows = []
        for a in acts:
            sg = mine.get(a.id)
            rows.append({**activity_view(a), "taken": signups.seats_taken(s, a.id),
                         "mine": None if sg is None else signups.signup_state(s, sg, a)})
        return typed({"items": rows, "villages": village_names(s)}, OpenActivities)


def managed_activity(db: Database, actor: Actor, activity_id: int) -> ManagedActivity:
    """An activity as its manager's page shows it (the manager check is `list_attendances`')."""
    listing = review.list_attendances(db, actor, activity_id)
    with db.sessions() as s:
        act = typed(activity_view(get_activity(s, activity_id)), ActivityView)
        names = person_names(s, [a.person_id for a in listing.items])
        counts = counts_of(s, activity_id)
    return ManagedActivity(activity=act, attendances=listing.items, names=names, counts=counts)


def signup_sheet(db: Database, actor: Actor, activity_id: int) -> SignupSheet:
    """An activity's sign-ups with their names (the manager check is `list_signups`')."""
    listing = signups.list_signups(db, actor, activity_id)
    with db.sessions() as s:
        act = typed(activity_view(get_activity(s, activity_id)), ActivityView)
        names = person_names(s, [r.person_id for r in listing.items])
    return SignupSheet(activity=act, listing=listing, names=names,
                       seated=[r for r in listing.items if r.status == SignupStatus.SIGNED_UP],
                       waiting=[r for r in listing.items if r.status == SignupStatus.WAITING])


def activity_choices(db: Database, actor: Actor) -> ActivityChoices:
    """The villages where the actor may create an activity and the items the engine will pay
    its attendance with there (`awards.offered_items`, the engine's own check)."""
    with db.sessions() as s:
        villages = [(i, n) for i, n in village_names(s).items()
                    if may(actor, "activity.create", i)]
        items = [(it.code, f"{it.code} {it.name}")
                 for _, it in awards.offered_items(s, actor, dict(villages))]
    return ActivityChoices(villages=villages, items=items)


def attendance_counts(db: Database, activity_id: int) -> AttendanceCounts:
    """How many have arrived (checked in, still there or gone) and how many have left."""
    with db.sessions() as s:
        return counts_of(s, activity_id)


def counts_of(s: Session, activity_id: int) -> AttendanceCounts:
    """`attendance_counts` inside the caller's session."""
    rows = dict(s.execute(select(Attendance.state, func.count()).where(
        Attendance.activity_id == activity_id).group_by(Attendance.state)).all())
    arrived = sum(rows.values())
    return AttendanceCounts(arrived=arrived,
                            left=arrived - rows.get(AttendanceState.CHECKED_IN, 0))
