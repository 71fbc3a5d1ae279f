"""Scanning in and out: one attendance per person per activity, service minutes booked in the
ledger at check-out, points through the rule engine.

A scan carries a check-in code (tokens.py), the signed-in volunteer, and where the phone says it
is. With no explicit action the first scan checks in, a scan at least `DOUBLE_SCAN_S` later
checks out, and any other scan answers with the attendance as it stands (`repeated: true`):
a double scan, a retried request or a race of two phones never records twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (String, and_, bindparam, func, insert, literal_column, select,
                        update)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger import outbox
from ledger.activities import awards, minutes, tokens
from ledger.activities.models import (
    Activity,
    ActivityStatus,
    Attendance,
    AttendanceSource,
    CERTIFIED_REVIEWS,
    AttendanceState,
    PointsState,
    Review,
    Signup,
    SignupStatus,
)
from ledger.activities.planning import get_activity
from ledger.activities.schemas import AttendanceResult
from ledger.activities.signups import seats_taken
from ledger.config import Settings
from ledger.db import Database, bound, scalar_defaults
from ledger.errors import Conflict, Forbidden, InvalidInput
from ledger.journal import book
from ledger.ratelimit import Limit, RateLimiter
from ledger.rules import store
from ledger.timeutil import utcnow
from ledger.view import typed

DOUBLE_SCAN_S = 120  # a second scan sooner than this is a double scan, not a check-out
CHECKIN_OPENS_BEFORE = timedelta(minutes=30)
SCAN_GRACE_AFTER_END = timedelta(minutes=60)  # late check-outs; the sweep runs after this
MAX_SERVER_WAIT = timedelta(seconds=60)  # a scan judged at its arrival at most this long after
MAX_ACCURACY_ALLOWANCE_M = 100  # a phone's reported accuracy widens the fence by at most this
EARTH_RADIUS_M = 6_371_000
ACTIONS = ("in", "out")

# Per person: a few scans a minute is plenty. Per address: a crowd behind one NAT (a village's
# Wi-Fi) must still get through, so this one is generous; it stops floods and code guessing.
SCAN_PER_PERSON = Limit("scan_person", max_hits=12, window_s=60)
SCAN_PER_ADDRESS = Limit("scan_address", max_hits=600, window_s=60)


@dataclass(frozen=True)
class Scan:
    token: str
    person_id: int | None
    user_id: int
    ip: str = ""
    action: str | None = None  # "in" | "out" | None (decide from the attendance)
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    activity_id: int | None = None  # set when the client scanned from an activity's own page
    pending: str | None = None  # tokens.pending_scan: the code was seen good before sign-in
    arrived_at: datetime | None = None  # when the server received the scan (api/observability)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def check_limits(limiter: RateLimiter | None, scan: Scan) -> None:
    if limiter is None:
        return
    checks = [(SCAN_PER_ADDRESS, scan.ip)] if scan.ip else []
    if scan.person_id is not None:
        checks.append((SCAN_PER_PERSON, str(scan.person_id)))
    if checks:
        limiter.check_all(checks)  # one round trip


def _claims(settings: Settings, scan: Scan) -> tokens.TokenClaims:
    claims = tokens.parse(settings.secret_key, scan.token)
    if scan.activity_id is not None and claims.activity_id != scan.activity_id:
        raise tokens.TokenRefused("这是另一个活动的签到码", code="token_other_activity",
                                  token_activity_id=claims.activity_id)
    return claims


# What a scan reads, in one statement: the activity, the person's attendance at it and sign-up
# for it (each unique, or none), and the rule catalogs' stamp, so that the standing check of a
# check-in takes the catalogs from this process's memory (`store.prime`).
_SCAN_ROWS = (select(Activity, Attendance, Signup, literal_column(store.CATALOG_STAMP_SQL))
              .outerjoin(Attendance, and_(Attendance.activity_id == Activity.id,
                                          Attendance.person_id == bindparam("person_id")))
              .outerjoin(Signup, and_(Signup.activity_id == Activity.id,
                                      Signup.person_id == bindparam("person_id")))
              .where(Activity.id == bindparam("activity_id")))


def _scan_rows(s: Session, claims: tokens.TokenClaims, person_id: int
               ) -> tuple[Activity, Attendance | None, Signup | None]:
    row = s.execute(_SCAN_ROWS, {"activity_id": claims.activity_id,
                                 "person_id": person_id}).first()
    if row is None:
        raise tokens.forged()
    store.prime(s, row[3])
    return row[0], row[1], row[2]


def _check_token(settings: Settings, act: Activity, scan: Scan, claims: tokens.TokenClaims,
                 now: datetime) -> None:
    if claims.kind == tokens.ROTATING:
        seen = tokens.pending_seen_at(settings.secret_key, scan.token, scan.pending, now)
        tokens.check_rotation(claims, act.rotate_s, seen or received(scan, now))
    elif claims.counter != act.static_version:
        raise tokens.TokenRefused("这张签到码已作废，请扫描新打印的签到码",
                                  code="token_revoked")
    if now > act.ends_at + SCAN_GRACE_AFTER_END:
        if claims.kind == tokens.STATIC:
            raise tokens.TokenRefused("活动已结束，签到码已失效", code="token_replayed_after_window",
                                      ended_at=act.ends_at.isoformat())
        raise Conflict("活动已结束", code="activity_ended", ended_at=act.ends_at.isoformat())
    if now < act.starts_at - CHECKIN_OPENS_BEFORE:
        raise Conflict("签到尚未开始", code="checkin_not_open_yet",
                       opens_at=(act.starts_at - CHECKIN_OPENS_BEFORE).isoformat())
    if act.status == ActivityStatus.DRAFT:
        raise Conflict("活动尚未发布", code="activity_not_open")
    if act.status == ActivityStatus.CLOSED:
        raise Conflict("活动已关闭", code="activity_closed")


def received(scan: Scan, now: datetime) -> datetime:
    """The instant a rotating code is judged at: when the server received the scan, if it
    waited inside the server (a busy moment) no longer than MAX_SERVER_WAIT; else now. A
    volunteer who scanned a good code is not refused because the server answered late."""
    at = scan.arrived_at
    if at is not None and timedelta(0) <= now - at <= MAX_SERVER_WAIT:
        return at
    return now


def _check_geofence(act: Activity, scan: Scan) -> dict | None:
    if act.geo_radius_m is None:
        return None if scan.lat is None else {"lat": scan.lat, "lon": scan.lon,
                                              "accuracy_m": scan.accuracy_m}
    if scan.lat is None or scan.lon is None:
        raise InvalidInput("此活动需要定位签到，请允许浏览器获取位置", code="location_required")
    if not (-90 <= scan.lat <= 90 and -180 <= scan.lon <= 180):
        raise InvalidInput("location out of range", code="location_invalid")
    d = distance_m(scan.lat, scan.lon, act.geo_lat_e6 / 1e6, act.geo_lon_e6 / 1e6)
    slack = min(max(scan.accuracy_m or 0.0, 0.0), MAX_ACCURACY_ALLOWANCE_M)
    if d > act.geo_radius_m + slack:
        raise tokens.TokenRefused(f"您不在活动地点附近（距离约 {round(d)} 米）",
                                  code="outside_geofence", distance_m=round(d),
                                  radius_m=act.geo_radius_m)
    return {"lat": scan.lat, "lon": scan.lon, "accuracy_m": scan.accuracy_m,
            "distance_m": round(d)}


def scan(db: Database, settings: Settings, scan: Scan, *, limiter: RateLimiter | None = None,
         now: datetime | None = None) -> AttendanceResult:
    """Check in or out with a code; see the module docstring. The checks, the decision and
    the write happen in one transaction; the points follow in the engine's own."""
    now = now or utcnow()
    check_limits(limiter, scan)
    if scan.action is not None and scan.action not in ACTIONS:
        raise InvalidInput("action must be in or out", code="action_invalid", field="action")
    if scan.person_id is None:
        raise Forbidden("请先以志愿者身份登录", code="volunteer_required")

    claims = _claims(settings, scan)

    def work(s: Session) -> dict:
        act, att, sg = _scan_rows(s, claims, scan.person_id)
        _check_token(settings, act, scan, claims, now)
        geo = _check_geofence(act, scan)
        if att is None:
            if scan.action == "out":
                raise Conflict("尚未签到，无法签退", code="not_checked_in")
            return _check_in(s, act, sg, scan, claims, geo, now)
        early = now - att.check_in_at < timedelta(seconds=DOUBLE_SCAN_S)
        if att.state != AttendanceState.CHECKED_IN or scan.action == "in" or \
                (scan.action is None and early):
            return view(act, att, repeated=True)
        if now < att.check_in_at:
            raise Conflict("签退时间早于签到时间", code="check_out_before_check_in")
        return close_attendance(s, settings, act, att.id, now=now, method=claims.kind,
                                ip=scan.ip, geo=geo)

    try:
        result = book.write(db, work).result
    except IntegrityError:  # lost a race with the same person's other scan: answer with it
        with db.sessions() as s:
            return typed(view(s.get(Activity, claims.activity_id),
                              _attendance(s, claims.activity_id, scan.person_id),
                              repeated=True), AttendanceResult)
    return typed(settle(db, settings, result, now), AttendanceResult)


def my_attendance(db: Database, activity_id: int, person_id: int) -> AttendanceResult | None:
    """The person's attendance at the activity as it stands (what the check-in page shows
    before a scan), or None."""
    with db.sessions() as s:
        att = _attendance(s, activity_id, person_id)
        return None if att is None else typed(view(s.get(Activity, activity_id), att),
                                              AttendanceResult)


def _attendance(s: Session, activity_id: int, person_id: int) -> Attendance | None:
    return s.scalar(select(Attendance).where(Attendance.activity_id == activity_id,
                                             Attendance.person_id == person_id))


def _check_in(s: Session, act: Activity, sg: Signup | None, scan: Scan,
              claims: tokens.TokenClaims, geo: dict | None, now: datetime) -> dict:
    from ledger.rules.standing import refusal  # registration cancelled, barred, banned
    if (stop := refusal(s, "person", scan.person_id, "checkin", now)) is not None:
        raise stop
    walk_in = sg is None or sg.status != SignupStatus.SIGNED_UP
    if walk_in:
        if not act.walk_ins_allowed:
            code = "on_waiting_list" if sg is not None and \
                sg.status == SignupStatus.WAITING else "not_signed_up"
            raise Forbidden("此活动仅限已报名的志愿者签到", code=code)
        if act.capacity is not None:
            get_activity(s, act.id, lock=True)  # seats: one walk-in at a time
            if seats_taken(s, act.id) >= act.capacity:
                raise Conflict("活动名额已满", code="activity_full", capacity=act.capacity)
        if sg is not None and sg.status == SignupStatus.WAITING:
            sg.status, sg.promoted_at, sg.updated_at = SignupStatus.SIGNED_UP, now, now
            walk_in = False  # the waiting sign-up takes the seat, counted once
    row = dict(
        activity_id=act.id, person_id=scan.person_id, source=AttendanceSource.SCANNED,
        state=AttendanceState.CHECKED_IN, review=Review.PENDING, walk_in=walk_in,
        check_in_at=now, in_method=claims.kind, in_ip=scan.ip[:64], in_geo=geo,
        created_at=now, updated_at=now)
    attendance_id = s.execute(_ADD, {f"v_{k}": v for k, v in row.items()}).scalar_one()
    return view(act, Attendance(id=attendance_id, **{**_DEFAULTS, **row}), action="check_in")


# A check-in's attendance, in one statement built once (a second one for the same person and
# activity breaks the unique key: `scan` answers with the first). The columns it leaves out
# take the model's defaults, in the row and in the answer (`_DEFAULTS`) alike.
_ADD = insert(Attendance.__table__).values(bound(
    Attendance.__table__, "activity_id", "person_id", "source", "state", "review", "walk_in",
    "check_in_at", "in_method", "in_ip", "in_geo", "created_at", "updated_at")
).returning(Attendance.__table__.c.id)
_DEFAULTS = scalar_defaults(Attendance.__table__)


# The attendance closed, returned as updated, in one statement built once (every check-out runs
# it); a note given replaces the one it had.
_CLOSE = (update(Attendance).where(Attendance.id == bindparam("attendance_id"),
                                   Attendance.state == AttendanceState.CHECKED_IN)
          .values({**bound(Attendance.__table__, "state", "check_out_at", "out_method",
                           "out_ip", "out_geo", "updated_at"),
                   "note": func.coalesce(bindparam("v_note", type_=String), Attendance.note)})
          .returning(Attendance))


def close_attendance(s: Session, settings: Settings, act: Activity, attendance_id: int, *,
                     now: datetime, method: str, at: datetime | None = None, ip: str = "",
                     geo: dict | None = None, actor_id: int | None = None,
                     note: str | None = None, state: str = AttendanceState.CHECKED_OUT,
                     review: str | None = None) -> dict:
    """Close an open attendance at `at` (default `now`) and book its minutes inside the
    caller's transaction; exactly one caller wins (a conditional update), the others get the
    attendance as it stands."""
    values = {"v_state": state, "v_check_out_at": at or now, "v_out_method": method,
              "v_out_ip": ip[:64], "v_out_geo": geo, "v_updated_at": now,
              "v_note": None if note is None else note[:500], "attendance_id": attendance_id}
    att = s.scalars(_CLOSE, values, execution_options={
        "populate_existing": True, "synchronize_session": False}).first()
    if att is None:
        return view(act, s.get(Attendance, attendance_id, populate_existing=True),
                    repeated=True)
    credit_minutes(s, settings, act, att, now=now, actor_id=actor_id, review=review)
    return view(act, att, action="check_out")


def check_out(db: Database, settings: Settings, activity_id: int, attendance_id: int, *,
              now: datetime, method: str, **kw) -> dict:
    """`close_attendance` in a transaction of its own, then the points."""
    result = book.write(db, lambda s: close_attendance(
        s, settings, s.get(Activity, activity_id), attendance_id, now=now, method=method,
        **kw)).result
    return settle(db, settings, result, now)


def settle(db: Database, settings: Settings, result: dict, now: datetime) -> dict:
    """The answer to a write that made an attendance's points due: its outbox task
    (`awards.points_due`) has paid them by now where tasks run in this process (the embedded
    default), and the answer says how; with workers (production) they are on their way."""
    if result.get("points_state") != PointsState.DUE:
        return result
    if not outbox.runs_inline(db.engine):  # sent to the workers a moment ago: on their way
        return {**result, "message": result["message"] + MESSAGES["points_due"]}
    # paid in this thread just now (or, if the run failed, due for the relay)
    state, points = (awards.settled_here(result["attendance_id"])
                     or awards.points_outcome(db, result["attendance_id"]))
    if state == PointsState.DUE:
        return {**result, "message": result["message"] + MESSAGES["points_due"]}
    return {**result, "points_state": state, "points": points}


def credit_minutes(s: Session, settings: Settings, act: Activity, att: Attendance, *,
                   now: datetime, actor_id: int | None, review: str | None = None) -> None:
    """Count the attendance's minutes and book them: certified at once where the activity
    needs no confirmation (or an organizer's own record), pending otherwise."""
    if review is None:
        review = Review.PENDING if act.needs_confirmation else Review.NOT_NEEDED
    certified = review in CERTIFIED_REVIEWS
    counted = minutes.counted_minutes(
        check_in=att.check_in_at, check_out=att.check_out_at, starts_at=act.starts_at,
        ends_at=act.ends_at, step_min=act.rounding_step_min, max_minutes=act.max_minutes)
    att.counted_minutes, att.review, att.updated_at = counted, review, now
    if review == Review.CONFIRMED and actor_id is not None and att.reviewed_by is None:
        att.reviewed_by, att.reviewed_at = actor_id, now  # the organizer's own record
    if counted > 0:
        entry = minutes.book_minutes(
            s, town_id=act.town_id, person_id=att.person_id, minutes=counted,
            certified=certified, attendance_id=att.id, actor_id=actor_id,
            details=minutes_details(act, att), shards=settings.budget_shards, now=now)
        att.minutes_entry_id = entry.id
    # The rule decides what an attendance earns: a per-occurrence item pays for being there,
    # a per-hour item refuses a stay of no whole minute (`minutes_required`).
    if certified:
        awards.points_due(s, settings, act, att, now)
    else:
        att.points_state = PointsState.NONE
    s.flush()


def minutes_details(act: Activity, att: Attendance) -> dict:
    return {"activity_id": act.id, "attendance_id": att.id, "rule_item": act.rule_item_code,
            "source": att.source, "check_in_at": att.check_in_at.isoformat(),
            "check_out_at": att.check_out_at.isoformat() if att.check_out_at else None,
            "window": [act.starts_at.isoformat(), act.ends_at.isoformat()],
            "rounding_step_min": act.rounding_step_min, "max_minutes": act.max_minutes,
            "counted_minutes": att.counted_minutes, "in_method": att.in_method,
            "out_method": att.out_method}


MESSAGES = {
    "check_in": "签到成功",
    "check_out": "签退成功",
    "repeated": "已记录，无需重复扫码",
    "confirm": "已确认",
    "reject": "已驳回",
    "resolve": "已补签退",
    "organizer_added": "已补录",
    "self_reported": "已提交申报，待组织者确认",
    "imported": "已导入",
    "points_due": "，积分发放中",
}


def view(act: Activity, att: Attendance, *, action: str | None = None,
         repeated: bool = False) -> dict:
    return attendance_view(act, att, action=action, repeated=repeated)


def attendance_view(act: Activity, att: Attendance, *, action: str | None = None,
          repeated: bool = False) -> dict:
    certified = att.review in (Review.NOT_NEEDED, Review.CONFIRMED)
    m = att.counted_minutes
    status = None if m is None else ("certified" if certified else
                                     "rejected" if att.review == Review.REJECTED else "pending")
    msg = MESSAGES.get("repeated" if repeated else (action or "repeated"), "")
    if m is not None and not repeated:
        msg += f"，服务时长 {m} 分钟" + ("（待组织者确认）" if status == "pending" else "")
    return {"attendance_id": att.id, "activity_id": act.id, "activity_title": act.title,
            "person_id": att.person_id, "action": action, "repeated": repeated,
            "state": att.state, "source": att.source, "review": att.review,
            "walk_in": att.walk_in, "check_in_at": att.check_in_at.isoformat(),
            "check_out_at": att.check_out_at.isoformat() if att.check_out_at else None,
            "minutes": m, "minutes_status": status, "points_state": att.points_state,
            "points": att.points_result, "note": att.note, "reject_reason": att.reject_reason,
            "message": msg}
