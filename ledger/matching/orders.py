"""四单: a service order's state and who stands where to it (the station's staff, the
household, the assignee, who served), and the one way its state changes: `record_event`, which
appends an OrderEvent naming who, when and why. Every other matching module builds on this."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.activities.models import Attendance
from ledger.errors import Conflict, InvalidInput, NotFound
from ledger.identity.actor import may
from ledger.matching.models import OPEN_STATUSES, OrderEvent, OrderStatus, ServiceOrder
from ledger.registry.models import Person
from ledger.stations.service import team_leaders, team_members

STAFF_ROLES = ("town_admin", "village_admin", "organizer")  # station staff, per station
MAX_REASON_CHARS = 500
MIN_REASON_CHARS = 2
STATION_DEADLINE = timedelta(hours=48)  # back at the station: dispatched again, or to the town
OVERDUE_AFTER = timedelta(days=3)  # an open order this long past its preferred time is overdue


def is_staff(actor, village_id: int) -> bool:
    return may(actor, STAFF_ROLES, village_id)


def checked_reason(raw: str | None, what: str = "reason") -> str:
    r = (raw or "").strip()
    if len(r) < MIN_REASON_CHARS:
        raise InvalidInput(f"请说明原因（至少 {MIN_REASON_CHARS} 个字）", code=f"order_{what}_required",
                           field=what)
    if len(r) > MAX_REASON_CHARS:
        raise InvalidInput(f"原因最多 {MAX_REASON_CHARS} 字", code=f"order_{what}_too_long", field=what,
                           max_chars=MAX_REASON_CHARS)
    return r


def record_event(s: Session, o: ServiceOrder, action: str, to: str, actor, now: datetime,
                 reason: str = "", *, person_id: int | None = None, **details) -> None:
    """Record a state change; `actor` None is the system (a deadline, a scan), `person_id`
    then names the volunteer whose scan it was."""
    s.add(OrderEvent(order_id=o.id, action=action, from_status=o.status, to_status=to,
                     actor_user_id=getattr(actor, "user_id", None),
                     actor_person_id=getattr(actor, "person_id", person_id), reason=reason,
                     details=details, at=now))
    o.status, o.updated_at = to, now


def get_order(s: Session, order_id: int, *, lock: bool = False) -> ServiceOrder:
    q = select(ServiceOrder).where(ServiceOrder.id == order_id)
    if lock:
        q = q.with_for_update()
    o = s.scalar(q)
    if o is None:
        raise NotFound(f"order {order_id} does not exist", code="order_not_found")
    return o


def need_status(o: ServiceOrder, *allowed: str) -> None:
    if o.status not in allowed:
        raise Conflict(f"order {o.id} is {o.status}", code="order_status_conflict",
                       status_now=o.status)


def is_assignee(s: Session, o: ServiceOrder, person_id: int | None, *,
                leader_only: bool = True) -> bool:
    if person_id is None:
        return False
    if o.assignee_person_id is not None:
        return o.assignee_person_id == person_id
    if o.assignee_team_id is None:
        return False
    who = team_leaders(s, o.assignee_team_id) if leader_only else \
        team_members(s, o.assignee_team_id)
    return person_id in who


def back_to_station(s: Session, o: ServiceOrder, action: str, actor, now: datetime,
                    reason: str) -> None:
    o.assignee_team_id = o.assignee_person_id = o.accept_due_at = None
    o.escalation = max(o.escalation, 1)
    o.escalate_due_at = now + STATION_DEADLINE
    record_event(s, o, action, OrderStatus.PLACED, actor, now, reason=reason, escalation=1)


def served_by(s: Session, o: ServiceOrder) -> set[int]:
    """Everyone whose work the order is: the assignee, the team's members, who checked in."""
    who = set()
    if o.assignee_person_id:
        who.add(o.assignee_person_id)
    if o.assignee_team_id:
        who.update(team_members(s, o.assignee_team_id))
    if o.activity_id:
        who.update(s.scalars(select(Attendance.person_id)
                             .where(Attendance.activity_id == o.activity_id)))
    return who


def in_household(s: Session, o: ServiceOrder, person_id: int | None) -> bool:
    if person_id is None:
        return False
    p = s.get(Person, person_id)
    return p is not None and p.household_id == o.household_id


def overdue(o: ServiceOrder, now: datetime) -> bool:
    return o.escalation > 0 or (o.status in OPEN_STATUSES
                                and now > o.preferred_at + OVERDUE_AFTER)
