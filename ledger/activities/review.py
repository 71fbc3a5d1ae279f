"""The organizer's side of attendance: confirm, reject with a reason, add a forgotten attendance
with a note, settle a forgotten check-out; volunteers' own claims and imported records; and the
sweep that applies each activity's forgotten check-out policy after it ends. Every action
records who took it, and every minute moved is a journal entry naming the attendance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.registry.models import Person
from ledger.activities import awards, minutes
from ledger.activities.models import (
    Activity,
    ActivityStatus,
    Attendance,
    AttendanceSource,
    AttendanceState,
    ForgottenPolicy,
    PointsState,
    Review,
)
from ledger.activities.planning import get_activity, require_manager
from ledger.activities.schemas import AttendanceResult, AttendanceRow, Attendances, ImportResult
from ledger.identity.actor import Actor
from ledger.activities.service import (
    CHECKIN_OPENS_BEFORE,
    SCAN_GRACE_AFTER_END,
    attendance_view,
    check_out,
    credit_minutes,
    minutes_details,
    settle,
    view,
)
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import Conflict, Forbidden, InvalidInput, NotFound
from ledger.journal import book
from ledger.journal.posting import reverse_entry
from ledger.paging import cursor_of, next_key
from ledger.timeutil import utcnow
from ledger.view import typed

MAX_NOTE_CHARS = 500
SELF_REPORT_DAYS = 7  # a volunteer may claim a missed scan up to a week after the activity
SWEEP_BATCH = 100
MAX_IMPORT_ROWS = 2000
MAX_LIST = 500


def _note(text: str, name: str = "note") -> str:
    text = (text or "").strip()
    if not 1 <= len(text) <= MAX_NOTE_CHARS:
        raise InvalidInput(f"{name} is required, at most {MAX_NOTE_CHARS} characters",
                           code=f"{name}_required", field=name)
    return text


def _load(s: Session, attendance_id: int) -> tuple[Activity, Attendance]:
    att = s.scalar(select(Attendance).where(Attendance.id == attendance_id).with_for_update())
    if att is None:
        raise NotFound(f"attendance {attendance_id} does not exist", code="attendance_not_found")
    return s.get(Activity, att.activity_id), att


def confirm(db: Database, settings: Settings, actor: Actor, attendance_id: int,
            now: datetime | None = None) -> AttendanceResult:
    """Pending → certified: the minutes move to the person's certified account and the points
    follow. Confirming twice answers with the attendance."""
    now = now or utcnow()

    def work(s: Session) -> dict:
        act, att = _load(s, attendance_id)
        require_manager(actor, act)
        if att.review in (Review.CONFIRMED, Review.NOT_NEEDED):
            return view(act, att, repeated=True)
        if att.review == Review.REJECTED:
            raise Conflict("该记录已被驳回", code="attendance_rejected")
        if att.state == AttendanceState.CHECKED_IN or att.counted_minutes is None:
            raise Conflict("尚未签退：请先设置签退时间", code="check_out_time_required")
        if att.counted_minutes > 0:
            entry = minutes.certify_minutes(
                s, person_id=att.person_id, minutes=att.counted_minutes, attendance_id=att.id,
                actor_id=actor.user_id, details={**minutes_details(act, att),
                                                 "confirmed_by": actor.user_id}, now=now)
            att.certify_entry_id = entry.id
        att.review, att.reviewed_by, att.reviewed_at, att.updated_at = (
            Review.CONFIRMED, actor.user_id, now, now)
        awards.points_due(s, settings, act, att, now)  # the reviewer records the award
        return view(act, att, action="confirm")

    return typed(settle(db, settings, book.write(db, work).result, now), AttendanceResult)


def reject(db: Database, settings: Settings, actor: Actor, attendance_id: int, reason: str,
           now: datetime | None = None) -> AttendanceResult:
    """Refuse an attendance: pending minutes go back to the source; certified ones (and their
    points) are reversed by entries that name the originals."""
    now = now or utcnow()
    reason = _note(reason, "reason")

    def work(s: Session) -> dict:
        act, att = _load(s, attendance_id)
        require_manager(actor, act)
        if att.review == Review.REJECTED:
            return view(act, att, repeated=True)
        memo = f"驳回：{reason}"[:MAX_NOTE_CHARS]
        if att.minutes_entry_id is not None:
            if att.review == Review.PENDING:
                e = minutes.return_pending(
                    s, town_id=act.town_id, person_id=att.person_id, minutes=att.counted_minutes,
                    attendance_id=att.id, actor_id=actor.user_id,
                    details={"attendance_id": att.id, "reason": reason}, shards=settings.budget_shards,
                    now=now)
            else:
                if att.certify_entry_id is not None:
                    reverse_entry(s, att.certify_entry_id, memo=memo, actor_id=actor.user_id,
                                  source=minutes.SOURCE, source_ref=str(att.id), now=now)
                e = reverse_entry(s, att.minutes_entry_id, memo=memo, actor_id=actor.user_id,
                                  source=minutes.SOURCE, source_ref=str(att.id), now=now)
            att.undo_entry_id = e.id
        if att.points_state == PointsState.AWARDED:
            awards.revoke_points(s, settings, att, actor_id=actor.user_id, reason=reason, now=now)
            att.points_state = PointsState.REVERSED
        elif att.points_state in (PointsState.NONE, PointsState.DUE):
            att.points_state = PointsState.NOT_APPLICABLE
        if att.state == AttendanceState.CHECKED_IN:  # no later scan may book anything
            att.state, att.check_out_at, att.out_method = AttendanceState.CHECKED_OUT, now, "reject"
        att.review, att.reject_reason = Review.REJECTED, reason
        att.reviewed_by, att.reviewed_at, att.updated_at = actor.user_id, now, now
        return view(act, att, action="reject")

    return typed(book.write(db, work).result, AttendanceResult)


def _check_times(act: Activity, check_in_at: datetime, check_out_at: datetime) -> None:
    if check_in_at.tzinfo is None or check_out_at.tzinfo is None:
        raise InvalidInput("times need a time zone", code="time_zone_missing")
    if check_out_at <= check_in_at:
        raise InvalidInput("签退时间须晚于签到时间", code="check_out_before_check_in",
                           field="check_out_at")
    if check_in_at < act.starts_at - CHECKIN_OPENS_BEFORE or \
            check_out_at > act.ends_at + SCAN_GRACE_AFTER_END:
        raise InvalidInput("时间须在活动时段内", code="times_outside_window", field="check_in_at")


@dataclass(frozen=True)
class Record:
    """An attendance recorded by hand: added by the organizer, claimed, or imported."""

    activity_id: int
    person_id: int
    check_in_at: datetime
    check_out_at: datetime
    note: str


def _record(db: Database, settings: Settings, actor: Actor, r: Record, *, source: str,
            review: str, key: str | None, now: datetime) -> dict:
    note = _note(r.note)

    def work(s: Session) -> dict:
        act = get_activity(s, r.activity_id)
        if source == AttendanceSource.SELF_REPORTED:
            if actor.person_id != r.person_id:
                raise Forbidden("只能申报本人的服务记录", code="not_your_record")
            if now > act.ends_at + timedelta(days=SELF_REPORT_DAYS):
                raise Conflict(f"活动结束 {SELF_REPORT_DAYS} 天后不能再申报",
                               code="self_report_too_late")
        else:
            require_manager(actor, act)
        if act.status == ActivityStatus.DRAFT:
            raise Conflict("活动尚未发布", code="activity_not_open")
        if now < act.starts_at:
            raise Conflict("活动尚未开始", code="activity_not_started")
        _check_times(act, r.check_in_at, r.check_out_at)
        if s.get(Person, r.person_id) is None:
            raise NotFound(f"person {r.person_id} does not exist", code="person_not_found")
        existing = s.scalar(select(Attendance).where(Attendance.activity_id == act.id,
                                                     Attendance.person_id == r.person_id))
        if existing is not None:
            raise Conflict("此人已有本活动的服务记录", code="attendance_exists",
                           attendance_id=existing.id)
        reviewer = actor.user_id if review == Review.CONFIRMED else None
        att = Attendance(
            activity_id=act.id, person_id=r.person_id, source=source,
            state=AttendanceState.CHECKED_OUT, review=review, walk_in=False,
            check_in_at=r.check_in_at, check_out_at=r.check_out_at, in_method=source,
            out_method=source, note=note, added_by=actor.user_id, reviewed_by=reviewer,
            reviewed_at=now if reviewer else None, points_state=PointsState.NONE,
            created_at=now, updated_at=now)
        s.add(att)
        s.flush()
        credit_minutes(s, settings, act, att, now=now, actor_id=actor.user_id, review=review)
        return view(act, att, action=source)

    request = {"op": f"attendance_{source}", "activity": r.activity_id, "person": r.person_id,
               "in": r.check_in_at.isoformat(), "out": r.check_out_at.isoformat(), "note": note}
    return settle(db, settings, book.write(db, work, key=key, request=request).result, now)


def add_attendance(db: Database, settings: Settings, actor: Actor, r: Record, *,
                   key: str | None = None, now: datetime | None = None) -> AttendanceResult:
    """The organizer adds someone who was there and never scanned; certified by that act."""
    return typed(_record(db, settings, actor, r, source=AttendanceSource.ORGANIZER_ADDED,
                         review=Review.CONFIRMED, key=key, now=now or utcnow()),
                 AttendanceResult)


def self_report(db: Database, settings: Settings, actor: Actor, r: Record, *,
                key: str | None = None, now: datetime | None = None) -> AttendanceResult:
    """A volunteer's own claim: pending until the organizer confirms it."""
    return typed(_record(db, settings, actor, r, source=AttendanceSource.SELF_REPORTED,
                         review=Review.PENDING, key=key, now=now or utcnow()),
                 AttendanceResult)


def import_records(db: Database, settings: Settings, actor: Actor, rows: list[Record], *,
                   batch_ref: str, now: datetime | None = None) -> ImportResult:
    """Records kept elsewhere (paper sign-in sheets, an older system), entered by an admin of
    the activity's village; each row is keyed by the batch so a re-run adds nothing twice."""
    if not 1 <= len(rows) <= MAX_IMPORT_ROWS:
        raise InvalidInput(f"an import has 1..{MAX_IMPORT_ROWS} rows", code="import_size")
    done, refused = [], []
    for i, r in enumerate(rows):
        try:
            res = _record(db, settings, actor, r, source=AttendanceSource.IMPORTED,
                          review=Review.CONFIRMED, key=f"import:{batch_ref}:{i}",
                          now=now or utcnow())
            done.append(res["attendance_id"])
        except (InvalidInput, Conflict, NotFound) as exc:  # a bad row; Forbidden stops all
            refused.append({"row": i + 1, "code": exc.code, "detail": exc.detail})
    return typed({"imported": len(done), "attendance_ids": done, "refused": refused},
                 ImportResult)


def resolve_forgotten(db: Database, settings: Settings, actor: Actor, attendance_id: int,
                      check_out_at: datetime, note: str, now: datetime | None = None
                      ) -> AttendanceResult:
    """The organizer sets the check-out time of someone who forgot to scan out; certified."""
    now = now or utcnow()
    note = _note(note)
    with db.sessions() as s:
        act, att = _load(s, attendance_id)
        require_manager(actor, act)
        _check_times(act, att.check_in_at, check_out_at)
        state = att.state
    if state == AttendanceState.CHECKED_IN:
        return typed(check_out(db, settings, act.id, attendance_id, now=now, at=check_out_at,
                               method="organizer", actor_id=actor.user_id, note=note,
                               review=Review.CONFIRMED), AttendanceResult)

    def work(s: Session) -> dict:
        act2, att2 = _load(s, attendance_id)
        if att2.state != AttendanceState.FORGOTTEN or att2.counted_minutes is not None:
            raise Conflict("该记录无需补签退", code="not_awaiting_check_out")
        att2.check_out_at, att2.out_method, att2.note = check_out_at, "organizer", note
        att2.reviewed_by, att2.reviewed_at = actor.user_id, now
        credit_minutes(s, settings, act2, att2, now=now, actor_id=actor.user_id,
                       review=Review.CONFIRMED)
        return view(act2, att2, action="resolve")

    return typed(settle(db, settings, book.write(db, work).result, now), AttendanceResult)


def sweep_forgotten_checkouts(db: Database, settings: Settings, now: datetime | None = None
                              ) -> dict:
    """Apply each ended activity's policy to those still checked in, then close it. Runs after
    `SCAN_GRACE_AFTER_END`; safe to run twice or in parallel (each attendance is claimed by a
    conditional update)."""
    now = now or utcnow()
    summary = {"activities": 0, "credited": 0, "credited_nothing": 0, "left_to_organizer": 0}
    with db.sessions() as s:
        acts = list(s.scalars(select(Activity).where(
            Activity.swept_at.is_(None), Activity.status != ActivityStatus.DRAFT,
            Activity.ends_at <= now - SCAN_GRACE_AFTER_END).order_by(Activity.id)
            .limit(SWEEP_BATCH)))
    for act in acts:
        with db.sessions() as s:
            open_ids = list(s.scalars(select(Attendance.id).where(
                Attendance.activity_id == act.id,
                Attendance.state == AttendanceState.CHECKED_IN).order_by(Attendance.id)))
        for att_id in open_ids:
            summary[_apply_policy(db, settings, act, att_id, now)] += 1
        with db.transaction() as s:
            a = get_activity(s, act.id, lock=True)
            a.swept_at = now
            if a.status == ActivityStatus.OPEN:
                a.status, a.closed_at = ActivityStatus.CLOSED, now
        summary["activities"] += 1
    return summary


def _apply_policy(db: Database, settings: Settings, act: Activity, att_id: int,
                  now: datetime) -> str:
    if act.forgotten_policy == ForgottenPolicy.CREDIT_UNTIL_END:
        check_out(db, settings, act.id, att_id, now=now, at=act.ends_at, method="sweep",
                  state=AttendanceState.FORGOTTEN)
        return "credited"
    nothing = act.forgotten_policy == ForgottenPolicy.CREDIT_NOTHING
    values = dict(state=AttendanceState.FORGOTTEN, out_method="sweep", updated_at=now,
                  review=Review.NOT_NEEDED if nothing else Review.PENDING,
                  points_state=PointsState.NOT_APPLICABLE if nothing else PointsState.NONE)
    if nothing:
        values["counted_minutes"] = 0
    with db.transaction() as s:
        s.execute(update(Attendance).where(Attendance.id == att_id,
                                           Attendance.state == AttendanceState.CHECKED_IN)
                  .values(**values))
    return "credited_nothing" if nothing else "left_to_organizer"


def activity_of_attendance(db: Database, attendance_id: int) -> int | None:
    """The activity an attendance belongs to (where a page goes back after acting on it), or
    None when there is no such attendance."""
    with db.sessions() as s:
        return s.scalar(select(Attendance.activity_id).where(Attendance.id == attendance_id))


def list_attendances(db: Database, actor: Actor, activity_id: int, *, state: str | None = None,
                     review: str | None = None, after_id: int = 0, limit: int = 100
                     ) -> Attendances:
    """An activity's attendances for its manager, oldest first, `limit` at a time after
    `after_id`."""
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be 1..{MAX_LIST}", code="page_size_out_of_range")
    with db.sessions() as s:
        act = get_activity(s, activity_id)
        require_manager(actor, act)
        q = select(Attendance).where(Attendance.activity_id == activity_id,
                                     Attendance.id > after_id)
        if state:
            q = q.where(Attendance.state == state)
        if review:
            q = q.where(Attendance.review == review)
        rows = list(s.scalars(q.order_by(Attendance.id).limit(limit)))
        items = [{**attendance_view(act, a), "added_by": a.added_by, "reviewed_by": a.reviewed_by,
                  "reviewed_at": a.reviewed_at.isoformat() if a.reviewed_at else None}
                 for a in rows]
    nxt = next_key(rows, limit, lambda a: a.id)
    return Attendances(activity_id=activity_id, items=typed(items, list[AttendanceRow]),
                       next_after_id=nxt, next_cursor=cursor_of(nxt))
