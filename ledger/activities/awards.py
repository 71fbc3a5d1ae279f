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

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from weakref import WeakKeyDictionary

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ledger.activities.models import Activity, Attendance, PointsState
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError, InvalidInput
from ledger.rules import service as rules
from ledger.rules import store
from ledger.rules.engine import MESSAGES, refusal_of_recorder
from ledger.rules.holders import CHANNEL_ROLE, actor_from
from ledger.rules.models import AwardRecord, AwardStatus
from ledger.rules.periods import local_date
from ledger.rules.types import Actor as RuleActor
from ledger.rules.workflow import lock_award
from ledger.timeutil import utcnow

log = logging.getLogger("jifen.activities")

RETRY_BATCH = 200
RETRY_AFTER_S = 60  # retry_due leaves alone points due for less than this (being paid now)
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


def offered_items(s: Session, actor: RuleActor, villages: dict[int, str | None]) -> list:
    """(catalog, item) an activity of one of `villages` may pay with (see check_item)."""
    role = CHANNEL_ROLE[ACTIVITY_CHANNEL]
    organizer = RuleActor(actor.user_id, tuple((role, v) for v in villages))
    return rules.offered_items(s, organizer, channel=ACTIVITY_CHANNEL, subject="person",
                               villages=villages, for_activity=True)


def inspection_channel(roles) -> str:  # noqa: ANN001 - (role, village) pairs
    """The channel a finding is recorded through: an inspector's, else an admin's."""
    return "inspector" if any(r == "inspector" for r, _ in roles) else "admin"


def award_request(act: Activity, att: Attendance) -> dict:
    """What the engine is asked for an attendance: the same request on every retry."""
    return {"item_code": act.rule_item_code, "person_id": att.person_id,
            "recorder": att.reviewed_by or act.organizer_user_id,
            "context": {"activity_id": act.id, "attendance_id": att.id,
                        "village_id": act.village_id, "minutes": att.counted_minutes or None,
                        "occurred_at": att.check_out_at.isoformat(),
                        "activity_title": act.title[:64], "source": att.source}}


# Who pays the points an attendance became due for, per database: nobody attached (embedded
# default) → the request pays them itself, before it answers; a payer (production: a Celery
# task, workers/celery_app.py) → the request hands the attendance id on and answers at once
# with the points due. The attendance row is the durable record either way: a payer that
# fails or a lost message leaves it due, and `retry_due` pays it (every minute, after
# RETRY_AFTER_S). The key makes paying twice impossible.
Payer = Callable[[int], None]
_payers: WeakKeyDictionary[Engine, Payer] = WeakKeyDictionary()


def attach_payer(db: Database, payer: Payer | None) -> None:
    if payer is None:
        _payers.pop(db.engine, None)
    else:
        _payers[db.engine] = payer


def hand_on(db: Database, attendance_id: int) -> bool:
    """Give a due attendance to the attached payer; False when there is none (pay it now)."""
    payer = _payers.get(db.engine)
    if payer is None:
        return False
    try:
        payer(attendance_id)
    except Exception:  # noqa: BLE001 - the points stay due; retry_due pays them
        log.exception("handing on attendance %s failed; retry_due will pay it", attendance_id)
    return True


def settle_points(db: Database, settings: Settings, attendance_id: int, *,
                  now: datetime | None = None, request: dict | None = None
                  ) -> tuple[str, dict | None]:
    """Award the points of a certified attendance whose points are due; record the outcome.
    `request` (from `award_request`, built in the transaction that made the points due) saves
    reading the attendance again."""
    if request is None:
        with db.sessions() as s:
            att = s.get(Attendance, attendance_id)
            if att.points_state != PointsState.DUE:
                return att.points_state, att.points_result
            request = award_request(s.get(Activity, att.activity_id), att)
    occurred = datetime.fromisoformat(request["context"]["occurred_at"])

    def record(s: Session, state: str, result: dict) -> None:
        s.execute(update(Attendance.__table__).where(Attendance.id == attendance_id,
                                           Attendance.points_state == PointsState.DUE)
                  .values(points_state=state, points_result=result, updated_at=utcnow()))

    try:
        result = _outcome(rules.record_award(
            db, settings, item_code=request["item_code"], holder=("person", request["person_id"]),
            recorder=request["recorder"], context=request["context"],
            key=attendance_key(attendance_id), now=max(now or utcnow(), occurred),
            then=lambda s, r: record(s, PointsState.AWARDED, _outcome(r))))
        return PointsState.AWARDED, result  # recorded with the award, in its transaction
    except DomainError as exc:
        state, result = PointsState.REFUSED, {"code": exc.code, "detail": exc.detail}
    with db.transaction() as s:
        record(s, state, result)
    return state, result


def _outcome(result: dict) -> dict:
    """What the attendance keeps of its award."""
    return {k: result.get(k) for k in ("award_id", "status", "points", "steps", "entry_id",
                                       "item", "item_name", "notice_until")}


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


def retry_due(db: Database, settings: Settings, limit: int = RETRY_BATCH,
              older_than_s: float = 0, now: datetime | None = None) -> int:
    """Pay what a crash left due: attendances certified (points due) whose award never noted
    its outcome. The keys make it safe to pay again; `older_than_s` leaves alone those a
    request is paying right now. Run every minute by the workers (jifen.activities.retry_due)."""
    cutoff = (now or utcnow()) - timedelta(seconds=older_than_s)
    with db.sessions() as s:
        ids = list(s.scalars(select(Attendance.id).where(
            Attendance.points_state == PointsState.DUE, Attendance.updated_at <= cutoff)
            .order_by(Attendance.id).limit(limit)))
    for i in ids:
        settle_points(db, settings, i, now=now)
    return len(ids)


def record_inspection(db: Database, settings: Settings, *, item_code: str, household_id: int,
                      actor, context: dict, key: str,  # noqa: ANN001 - planning.Actor
                      now: datetime | None = None) -> dict:
    """An inspector's finding for a household, through the engine; its refusal propagates."""
    recorder = RuleActor(actor.user_id, tuple(actor.roles), actor.person_id)
    ctx = {k: v for k, v in context.items() if v not in (None, [], "")}
    ctx.setdefault("channel", inspection_channel(actor.roles))
    if ctx.get("points") is not None and ctx.get("note"):
        ctx.setdefault("reason", ctx["note"])
    result = rules.record_award(db, settings, item_code=item_code,
                                holder=("household", household_id), recorder=recorder,
                                context=ctx, key=key, now=now)
    return {k: result.get(k) for k in ("award_id", "status", "points", "steps", "entry_id",
                                       "item", "item_name", "notice_until")}
