"""Recruitment: volunteers sign up ahead within the capacity; past it they wait in line, and the
first in line moves up when a seat frees. Walk-ins (check-ins without a sign-up) take seats too.

Sign-ups of one activity are serialized on its row (SELECT … FOR UPDATE on PostgreSQL, the single
writer on SQLite), so two people can never take the last seat together.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.registry.models import Person
from ledger.activities.models import (
    Activity,
    ActivityStatus,
    Attendance,
    Signup,
    SignupStatus,
)
from ledger.activities.planning import activity_view, get_activity, require_manager
from ledger.activities.schemas import ActivityView, SignupList, SignupView
from ledger.identity.actor import Actor
from ledger.db import Database
from ledger.errors import Conflict, NotFound
from ledger.timeutil import utcnow
from ledger.view import typed

MAX_LIST_PAGE = 500


def seats_taken(s: Session, activity_id: int) -> int:
    """Signed-up people plus walk-ins who checked in."""
    signed = s.scalar(select(func.count()).select_from(Signup).where(
        Signup.activity_id == activity_id, Signup.status == SignupStatus.SIGNED_UP))
    walk_ins = s.scalar(select(func.count()).select_from(Attendance).where(
        Attendance.activity_id == activity_id, Attendance.walk_in.is_(True)))
    return int(signed) + int(walk_ins)


def _signup_view(sg: Signup, activity: Activity, position: int | None = None) -> dict:
    out = {"activity_id": activity.id, "person_id": sg.person_id, "status": sg.status,
           "signed_up_at": sg.updated_at.isoformat(),
           "promoted_at": sg.promoted_at.isoformat() if sg.promoted_at else None}
    if position is not None:
        out["waiting_position"] = position
    return out


def _waiting_position(s: Session, sg: Signup) -> int:
    ahead = s.scalar(select(func.count()).select_from(Signup).where(
        Signup.activity_id == sg.activity_id, Signup.status == SignupStatus.WAITING,
        (Signup.updated_at < sg.updated_at)
        | ((Signup.updated_at == sg.updated_at) & (Signup.id < sg.id))))
    return int(ahead) + 1


def sign_up(db: Database, *, activity_id: int, person_id: int,
            now: datetime | None = None) -> SignupView:
    """Take a seat, or a place in the waiting line; signing up twice answers the first time."""
    now = now or utcnow()
    with db.transaction() as s:
        act = get_activity(s, activity_id, lock=True)
        if act.status != ActivityStatus.OPEN or now >= act.ends_at:
            raise Conflict("报名未开放：活动未发布或已结束", code="signup_closed",
                           status_now=act.status)
        if s.get(Person, person_id) is None:
            raise NotFound(f"person {person_id} does not exist", code="person_not_found")
        sg = s.scalar(select(Signup).where(Signup.activity_id == activity_id,
                                           Signup.person_id == person_id))
        if sg is not None and sg.status != SignupStatus.WITHDRAWN:
            return typed(_view_with_position(s, sg, act), SignupView)
        full = act.capacity is not None and seats_taken(s, activity_id) >= act.capacity
        status = SignupStatus.WAITING if full else SignupStatus.SIGNED_UP
        if sg is None:
            sg = Signup(activity_id=activity_id, person_id=person_id, status=status,
                        created_at=now, updated_at=now)
            s.add(sg)
        else:  # signing up again after withdrawing: to the end of the line
            sg.status, sg.updated_at, sg.promoted_at = status, now, None
        s.flush()
        return typed(_view_with_position(s, sg, act), SignupView)


def _view_with_position(s: Session, sg: Signup, act: Activity) -> dict:
    pos = _waiting_position(s, sg) if sg.status == SignupStatus.WAITING else None
    return _signup_view(sg, act, pos)


def withdraw(db: Database, *, activity_id: int, person_id: int,
             now: datetime | None = None) -> SignupView:
    """Give the seat back; the first in the waiting line moves up."""
    now = now or utcnow()
    with db.transaction() as s:
        act = get_activity(s, activity_id, lock=True)
        sg = s.scalar(select(Signup).where(Signup.activity_id == activity_id,
                                           Signup.person_id == person_id))
        if sg is None:
            raise NotFound("you have not signed up for this activity", code="signup_not_found")
        if sg.status == SignupStatus.WITHDRAWN:
            return typed({**_signup_view(sg, act), "promoted_person_id": None}, SignupView)
        if s.scalar(select(Attendance.id).where(Attendance.activity_id == activity_id,
                                                Attendance.person_id == person_id)):
            raise Conflict("已签到，不能取消报名", code="already_attended")
        was_seated = sg.status == SignupStatus.SIGNED_UP
        sg.status, sg.updated_at = SignupStatus.WITHDRAWN, now
        s.flush()
        promoted = promote_waiting(s, act, now) if was_seated else []
        return typed({**_signup_view(sg, act),
                      "promoted_person_id": promoted[0] if promoted else None}, SignupView)


def promote_waiting(s: Session, act: Activity, now: datetime) -> list[int]:
    """Move people up from the waiting line while seats are free; returns who moved up."""
    moved: list[int] = []
    if act.status != ActivityStatus.OPEN:
        return moved
    free = (act.capacity - seats_taken(s, act.id)) if act.capacity is not None else None
    while free is None or free > 0:
        nxt = s.scalar(select(Signup).where(
            Signup.activity_id == act.id, Signup.status == SignupStatus.WAITING)
            .order_by(Signup.updated_at, Signup.id).limit(1))
        if nxt is None:
            break
        nxt.status, nxt.promoted_at = SignupStatus.SIGNED_UP, now
        s.flush()
        moved.append(nxt.person_id)
        free = None if free is None else free - 1
    return moved


def signup_state(s: Session, sg: Signup, act: Activity) -> dict:
    """A sign-up as its person sees it, with the place in the waiting line when waiting."""
    return _view_with_position(s, sg, act)


def my_signup(s: Session, activity_id: int, person_id: int) -> Signup | None:
    return s.scalar(select(Signup).where(Signup.activity_id == activity_id,
                                         Signup.person_id == person_id))


def list_signups(db: Database, actor: Actor, activity_id: int) -> SignupList:
    with db.sessions() as s:
        act = get_activity(s, activity_id)
        require_manager(actor, act)
        rows = s.scalars(select(Signup).where(
            Signup.activity_id == activity_id, Signup.status != SignupStatus.WITHDRAWN)
            .order_by(Signup.status, Signup.updated_at, Signup.id).limit(MAX_LIST_PAGE)).all()
        return typed({"activity_id": activity_id, "capacity": act.capacity,
                      "seats_taken": seats_taken(s, activity_id),
                      "items": [_signup_view(r, act) for r in rows]}, SignupList)


def activity_for(db: Database, activity_id: int, person_id: int | None) -> ActivityView:
    """An activity as its reader sees it: a volunteer also reads their own sign-up's status
    (`my_signup`, null when they have none)."""
    with db.sessions() as s:
        view = activity_view(get_activity(s, activity_id))
        if person_id is not None:
            sg = my_signup(s, activity_id, person_id)
            view["my_signup"] = sg.status if sg else None
    return typed(view, ActivityView)
