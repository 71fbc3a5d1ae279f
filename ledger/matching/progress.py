"""四单: the order follows its activity (checked in → serving, all out → done) and its
deadlines (not accepted in time → back to the station → up to the town): `sync` inside a
transaction, `refresh` before a page shows an order, `sweep` from the workers' beat."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.activities.models import Activity, ActivityStatus, Attendance, AttendanceState
from ledger.db import Database
from ledger.matching.models import OrderStatus, ServiceOrder
from ledger.matching.orders import back_to_station, get_order, record_event
from ledger.timeutil import utcnow

SWEEP_BATCH = 500


def sync(s: Session, o: ServiceOrder) -> bool:
    """Move an accepted order to serving or done from its activity's attendances (inside the
    caller's transaction). The event carries the volunteer and the scan's own time."""
    if o.status not in (OrderStatus.ACCEPTED, OrderStatus.SERVING) or o.activity_id is None:
        return False
    atts = list(s.scalars(select(Attendance).where(Attendance.activity_id == o.activity_id)
                          .order_by(Attendance.check_in_at)))
    if not atts:
        return False
    first, changed = atts[0], o.status == OrderStatus.ACCEPTED
    if changed:
        record_event(s, o, "check_in", OrderStatus.SERVING, None, first.check_in_at,
                     person_id=first.person_id, attendance_id=first.id)
    if any(a.state == AttendanceState.CHECKED_IN for a in atts):
        return changed
    last = max(atts, key=lambda a: a.check_out_at or a.check_in_at)
    done_at = last.check_out_at or last.check_in_at
    record_event(s, o, "done", OrderStatus.DONE, None, done_at, person_id=last.person_id,
                 attendance_id=last.id, minutes=sum(a.counted_minutes or 0 for a in atts))
    o.done_at = done_at
    act = s.get(Activity, o.activity_id)
    act.status, act.closed_at = ActivityStatus.CLOSED, done_at
    return True


def refresh(db: Database, order_id: int) -> None:
    """Bring one order up to date with its activity (a page about to show it)."""
    with db.sessions() as s:
        o = get_order(s, order_id)
        if o.status not in (OrderStatus.ACCEPTED, OrderStatus.SERVING):
            return
    with db.transaction() as s:
        sync(s, get_order(s, order_id, lock=True))


def sweep(db: Database, now: datetime | None = None, limit: int = SWEEP_BATCH) -> dict:
    """The periodic job (workers' beat, every few minutes): orders not accepted in time go back
    to the station; orders back with the station past the second deadline go up to the town;
    orders being served follow their check-ins."""
    now = now or utcnow()
    out = {"to_station": 0, "to_town": 0, "synced": 0}
    with db.transaction() as s:
        for o in s.scalars(select(ServiceOrder).where(
                ServiceOrder.status == OrderStatus.DISPATCHED,
                ServiceOrder.accept_due_at < now).order_by(ServiceOrder.id).limit(limit)
                .with_for_update()):
            back_to_station(s, o, "escalate_station", None, now, "未在时限内接单")
            out["to_station"] += 1
        for o in s.scalars(select(ServiceOrder).where(
                ServiceOrder.status == OrderStatus.PLACED, ServiceOrder.escalation == 1,
                ServiceOrder.escalate_due_at < now).order_by(ServiceOrder.id).limit(limit)
                .with_for_update()):
            o.escalation = 2
            record_event(s, o, "escalate_town", OrderStatus.PLACED, None, now,
                         reason="站点未在时限内重新派单，已上报镇里", escalation=2)
            out["to_town"] += 1
        for o in s.scalars(select(ServiceOrder).where(ServiceOrder.status.in_(
                (OrderStatus.ACCEPTED, OrderStatus.SERVING))).order_by(ServiceOrder.id)
                .limit(limit).with_for_update()):
            out["synced"] += int(sync(s, o))
    return out
