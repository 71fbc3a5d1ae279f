"""Points for attendance and inspections go through the rule engine (ledger/rules): it decides
the amount, the caps and the multiplier and writes the explained entry. This module is the one
place that calls it. Each attendance's award carries the key `attendance:<id>:points`, so a
retry, a crash between check-out and award, or two sweeps racing never pay twice.

Service minutes of an attendance are booked by the attendance itself (minutes.py), whatever the
points do (a spent budget or a reached cap never erases hours served). The engine computes
per-hour points from those minutes but books no minutes of its own for an award that names an
attendance (ledger.rules.service.post_award), so hours are never counted twice.
"""

from __future__ import annotations

import threading
from datetime import datetime
from math import ceil

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from ledger.activities.models import Activity, Attendance, PointsState
from ledger import outbox
from ledger.config import PostingSettings, Settings
from ledger.db import Database, bound
from ledger.errors import DomainError, InvalidInput
from ledger.rules import service as rules
from ledger.rules import store
from ledger.rules.engine import MESSAGES, refusal_of_recorder
from ledger.rules.holders import CHANNEL_ROLE, actor_from
from ledger.rules.models import AwardRecord, AwardStatus
from ledger.rules.schemas import AwardView
from ledger.rules.periods import local_date
from ledger.identity.actor import Actor
from ledger.rules.workflow import lock_award
from ledger.timeutil import utcnow

REVOCABLE = (AwardStatus.POSTED, AwardStatus.ON_NOTICE, AwardStatus.IN_REVIEW)
NOT_YET_COUNTED = (AwardStatus.CLAIMED, AwardStatus.VERIFIED, AwardStatus.PENDING_REVIEW,
                   AwardStatus.AWAITING_CONFIRMATION)


def attendance_key(attendance_id: int) -> str:
    return f"attendance:{attendance_id}:points"


ACTIVITY_CHANNEL = "organizer"  # attendance points are recorded as the activity's organizer


def check_item(s: Session, code: str, *, village_id: int, village_name: str | None,
               organizer_user_id: int, on: datetime) -> bool:
    """The item must be in force for the village and one the engine will pay an attendance
    with (a person's earning item the organizer may record: never a deduction); returns
    whether it needs review."""
    c, item = store.find_item(s, code, on=local_date(on), village_name=village_name)
    refusal = refusal_of_recorder(
        c, item, actor=actor_from(organizer_user_id, ACTIVITY_CHANNEL, village_id),
        channel=ACTIVITY_CHANNEL, village_id=village_id, subject="person", for_activity=True)
    if refusal is not None:
        reason = refusal[0]
        raise InvalidInput(f"条目 {code} 不能用于活动：{MESSAGES.get(reason, reason)}",
                           code="rule_item_not_for_activity", reason=reason,
                           field="rule_item_code")
    return bool(item.review)


def offered_items(s: Session, actor: Actor, villages: dict[int, str | None]) -> list:
    """(catalog, item) an activity of one of `villages` may pay with (see check_item)."""
    role = CHANNEL_ROLE[ACTIVITY_CHANNEL]
    organizer = Actor(actor.user_id, roles=tuple((role, v) for v in villages))
    return rules.offered_items(s, organizer, channel=ACTIVITY_CHANNEL, subject="person",
                               villages=villages, for_activity=True)


def hour_step_minutes(db: Database, award_id: int) -> int | None:
    """The minutes that earn one step under the per-hour item an award was made with, or None
    when its item is not paid by the hour (the check-in page says why a short stay earned
    nothing)."""
    with db.sessions() as s:
        rec = s.get(AwardRecord, award_id)
        if rec is None:
            return None
        item = store.catalog(s, rec.catalog_code, version=rec.catalog_version).items.get(
            rec.item_code)
    if item is None or item.per != "hour" or not item.points_steps:
        return None
    return ceil(60 / abs(item.points_steps))


def inspection_channel(roles) -> str:  # noqa: ANN001 - (role, village) pairs
    """The channel a finding is recorded through: an inspector's, else an admin's."""
    return "inspector" if any(r == "inspector" for r, _ in roles) else "admin"


# What the engine is asked for an attendance, read in one statement of plain columns (a
# worker runs it for every check-out's points; two ORM entities cost three times as much).
_REQUEST = (select(Attendance.points_state, Attendance.points_result, Attendance.person_id,
                   Attendance.reviewed_by, Attendance.counted_minutes, Attendance.check_out_at,
                   Attendance.source, Activity.id.label("activity_id"), Activity.rule_item_code,
                   Activity.organizer_user_id, Activity.village_id, Activity.title)
            .join(Activity, Activity.id == Attendance.activity_id)
            .where(Attendance.id == bindparam("attendance_id")))


def award_request(act: Activity, att: Attendance) -> dict:
    """What the engine is asked for an attendance whose points are due: written into the task
    with it (`points_due`), so the same request on every retry, and nothing to read first."""
    return _request(att.id, act.id, act, att)


def _request(attendance_id: int, activity_id: int, act, att) -> dict:  # noqa: ANN001
    return {"item_code": act.rule_item_code, "person_id": att.person_id,
            "recorder": att.reviewed_by or act.organizer_user_id,
            "context": {"activity_id": activity_id, "attendance_id": attendance_id,
                        "village_id": act.village_id, "minutes": att.counted_minutes or None,
                        "occurred_at": att.check_out_at.isoformat(),
                        "activity_title": act.title[:64], "source": att.source}}


# A check-out (or a confirmation) that makes an attendance's points due writes the outbox task
# SETTLE_TASK in its own transaction (`points_due`); the outbox runs it after the commit: in
# this process at once in the embedded default, on the workers in production (docs/workers.md).
# The attendance row and the outbox row are both durable: a crash, a lost message or a broker
# outage leaves the row undone and the relay delivers it again. The key makes paying twice
# impossible, so the task may run twice.
SETTLE_TASK = "activities.settle_points"


def points_due(s: Session, settings: Settings, act: Activity, att: Attendance,
               now: datetime) -> None:
    """Mark the attendance's points due and write the task that pays them, with what the
    engine is to be asked, in the caller's transaction (after the attendance has its minutes
    and its reviewer). The award is dated `now` (the check-out or the confirmation)."""
    att.points_state = PointsState.DUE
    outbox.enqueue(s, SETTLE_TASK, {"attendance_id": att.id,
                                    "budget_shards": settings.budget_shards,
                                    "due_at": now.isoformat(),
                                    "request": award_request(act, att)}, now=now)


@outbox.handler(SETTLE_TASK, own_transactions=True)
def _settle_task(db: Database, attendance_id: int, budget_shards: int, due_at: str,
                 request: dict | None = None) -> dict:
    state, _ = settle_points(db, PostingSettings(budget_shards), attendance_id,
                             now=datetime.fromisoformat(due_at), request=request)
    return {"points_state": state}


class _NotDue(Exception):
    """The attendance's points were no longer due when their award was to be recorded (turned
    down meanwhile, or recorded by an earlier run): the award's transaction rolls back."""


def settle_points(db: Database, settings: Settings | PostingSettings, attendance_id: int, *,
                  now: datetime | None = None, request: dict | None = None
                  ) -> tuple[str, dict | None]:
    """Award the points of a certified attendance whose points are due; record the outcome.
    The outcome is recorded only while they are still due, in the award's own transaction:
    otherwise the award rolls back and the answer is the attendance's state as it stands."""
    if request is None:  # a task queued before the request rode with it
        with db.sessions() as s:
            r = s.execute(_REQUEST, {"attendance_id": attendance_id}).one()
        if r.points_state != PointsState.DUE:
            return r.points_state, r.points_result
        request = _request(attendance_id, r.activity_id, r, r)
    occurred = datetime.fromisoformat(request["context"]["occurred_at"])

    def record(s: Session, state: str, result: dict) -> None:
        if not s.execute(_RECORD, {"attendance_id": attendance_id, "v_points_state": state,
                                   "v_points_result": result,
                                   "v_updated_at": utcnow()}).rowcount:
            raise _NotDue
        outbox.finish_in(s, {"points_state": state})  # the task's row, when run as one

    try:
        try:
            result = _outcome(rules.record_award(
                db, settings, item_code=request["item_code"],
                holder=("person", request["person_id"]), recorder=request["recorder"],
                context=request["context"], key=attendance_key(attendance_id),
                now=max(now or utcnow(), occurred),
                then=lambda s, r: record(s, PointsState.AWARDED, _outcome(r))))
            state = PointsState.AWARDED  # recorded with the award, in its transaction
        except DomainError as exc:
            state, result = PointsState.REFUSED, {"code": exc.code, "detail": exc.detail}
            with db.transaction() as s:
                record(s, state, result)
    except _NotDue:
        state, result = points_outcome(db, attendance_id)
    _settled.last = (attendance_id, state, result)
    return state, result


def points_outcome(db: Database, attendance_id: int) -> tuple[str, dict | None]:
    """(points state, outcome) of an attendance as it stands."""
    with db.sessions() as s:
        return tuple(s.execute(select(Attendance.points_state, Attendance.points_result)
                               .where(Attendance.id == attendance_id)).one())


# The outcome this thread's last `settle_points` recorded, for the check-out that queued it and
# saw it run in this thread right after its commit (the embedded default): its answer says the
# outcome without reading the attendance again (`settled_here`).
_settled = threading.local()


def settled_here(attendance_id: int) -> tuple[str, dict] | None:
    """(points state, outcome) if this thread's last `settle_points` was for this attendance."""
    last = getattr(_settled, "last", None)
    if last is None or last[0] != attendance_id:
        return None
    _settled.last = None
    return last[1], last[2]


def _record_sql():
    """An attendance's points outcome, written only while they are due; built once (every
    check-out's award runs it)."""
    table = Attendance.__table__
    return update(table).where(table.c.id == bindparam("attendance_id"),
                               table.c.points_state == PointsState.DUE).values(
        bound(table, "points_state", "points_result", "updated_at"))


_RECORD = _record_sql()

_OUTCOME = ("award_id", "status", "points", "steps", "entry_id", "item", "item_name",
            "notice_until")


def _outcome(award: AwardView) -> dict:
    """What the attendance keeps of its award."""
    return {k: getattr(award, k) for k in _OUTCOME}


def revoke_points(s: Session, settings: Settings, att: Attendance, *, actor_id: int,
                  reason: str, now: datetime) -> None:
    """Undo an attendance's award inside the caller's transaction: a counted award is reversed
    (its caps given back), one still waiting for review is turned down."""
    award_id = (att.points_result or {}).get("award_id")
    if not award_id:
        return
    award: AwardRecord = lock_award(s, int(award_id))
    memo = f"签到记录被驳回：{reason}"
    if award.status in REVOCABLE:
        rules.revoke(s, award, actor_id=actor_id, memo=memo, source="attendance",
                     source_ref=str(att.id), now=now)
    elif award.status in NOT_YET_COUNTED:
        award.status, award.note = AwardStatus.REJECTED, memo[:500]
        award.reviewer_id, award.updated_at = actor_id, now


def record_inspection(db: Database, settings: Settings, *, item_code: str, household_id: int,
                      actor: Actor, context: dict, key: str,
                      now: datetime | None = None) -> dict:
    """An inspector's finding for a household, through the engine; its refusal propagates."""
    recorder = actor
    ctx = {k: v for k, v in context.items() if v not in (None, [], "")}
    ctx.setdefault("channel", inspection_channel(actor.roles))
    if ctx.get("points") is not None and ctx.get("note"):
        ctx.setdefault("reason", ctx["note"])
    return _outcome(rules.record_award(db, settings, item_code=item_code,
                                       holder=("household", household_id), recorder=recorder,
                                       context=ctx, key=key, now=now))
