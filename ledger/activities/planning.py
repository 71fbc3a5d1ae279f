"""Creating, opening and closing activities, and who may manage one."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ledger.registry.models import Team, Village
from ledger.activities import tokens
from ledger.activities.minutes import MAX_ACTIVITY_MINUTES, ROUNDING_STEPS_MIN
from ledger.activities.models import Activity, ActivityStatus, ForgottenPolicy
from ledger.activities.schemas import ActivityView
from ledger.db import Database
from ledger.identity.actor import Actor, may, villages_of
from ledger.errors import Conflict, Forbidden, InvalidInput, NotFound
from ledger.journal import book
from ledger.timeutil import utcnow
from ledger.view import typed

# 一月一主题: the five monthly themes of Baogai's plan (ledger/registry/data/baogai.yaml).
MONTHLY_THEMES = ("学习实践科学理论", "宣传宣讲党的政策", "培育践行主流价值", "丰富活跃文化生活",
                  "持续深入移风易俗")
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 2000
MAX_PLACE_CHARS = 200
MAX_CAPACITY = 100_000
MIN_GEOFENCE_M, MAX_GEOFENCE_M = 20, 5_000
MAX_PLAN_AHEAD = timedelta(days=366)
MAX_MANAGED_SHOWN = 100  # the organizer's list of activities, newest first


def can_manage(actor: Actor, activity: Activity) -> bool:
    """The organizer of the activity, or an admin of its village or of the town."""
    return actor.user_id == activity.organizer_user_id or may(actor, "activity.manage",
                                                              activity.village_id)


def require_manager(actor: Actor, activity: Activity) -> None:
    if not can_manage(actor, activity):
        raise Forbidden(f"only the organizer or an admin of its village may manage activity "
                        f"{activity.id}", code="not_activity_manager")


def get_activity(s: Session, activity_id: int, *, lock: bool = False) -> Activity:
    q = select(Activity).where(Activity.id == activity_id)
    if lock:
        q = q.with_for_update()
    act = s.scalar(q)
    if act is None:
        raise NotFound(f"activity {activity_id} does not exist", code="activity_not_found")
    return act


@dataclass
class ActivityDraft:
    village_id: int
    title: str
    rule_item_code: str
    starts_at: datetime
    ends_at: datetime
    place: str = ""
    description: str = ""
    team_id: int | None = None
    geo_lat: float | None = None
    geo_lon: float | None = None
    geo_radius_m: int | None = None
    capacity: int | None = None
    theme: str | None = None
    walk_ins_allowed: bool = True
    needs_confirmation: bool = False
    forgotten_policy: str = ForgottenPolicy.CREDIT_NOTHING
    rotate_s: int = tokens.DEFAULT_ROTATE_S
    rounding_step_min: int = 1
    max_minutes: int | None = None


def _validate(d: ActivityDraft, now: datetime) -> None:
    def bad(msg: str, code: str, fld: str) -> InvalidInput:
        return InvalidInput(msg, code=code, field=fld)

    if not d.title.strip() or len(d.title) > MAX_TITLE_CHARS:
        raise bad(f"标题必填，最多 {MAX_TITLE_CHARS} 字", "title_invalid", "title")
    if len(d.description) > MAX_DESCRIPTION_CHARS or len(d.place) > MAX_PLACE_CHARS:
        raise bad("description or place too long", "text_too_long", "description")
    if d.starts_at.tzinfo is None or d.ends_at.tzinfo is None:
        raise bad("times need a time zone", "time_zone_missing", "starts_at")
    if d.ends_at <= d.starts_at:
        raise bad("活动结束时间须晚于开始时间", "window_invalid", "ends_at")
    if d.ends_at - d.starts_at > timedelta(minutes=MAX_ACTIVITY_MINUTES):
        raise bad("an activity lasts at most one day", "window_too_long", "ends_at")
    if d.starts_at > now + MAX_PLAN_AHEAD:
        raise bad("an activity starts within a year", "window_too_far", "starts_at")
    if d.theme is not None and d.theme not in MONTHLY_THEMES:
        raise bad(f"主题须为一月一主题之一：{'、'.join(MONTHLY_THEMES)}", "theme_unknown", "theme")
    if d.capacity is not None and not 1 <= d.capacity <= MAX_CAPACITY:
        raise bad(f"capacity must be 1..{MAX_CAPACITY}", "capacity_out_of_range", "capacity")
    geo = (d.geo_lat, d.geo_lon, d.geo_radius_m)
    if any(v is not None for v in geo):
        if any(v is None for v in geo):
            raise bad("a geofence needs latitude, longitude and radius", "geofence_incomplete",
                      "geo_radius_m")
        if not (-90 <= d.geo_lat <= 90 and -180 <= d.geo_lon <= 180):
            raise bad("latitude/longitude out of range", "geofence_invalid", "geo_lat")
        if not MIN_GEOFENCE_M <= d.geo_radius_m <= MAX_GEOFENCE_M:
            raise bad(f"geofence radius must be {MIN_GEOFENCE_M}..{MAX_GEOFENCE_M} m",
                      "geofence_radius_out_of_range", "geo_radius_m")
    if d.forgotten_policy not in set(ForgottenPolicy):
        raise bad("unknown forgotten check-out policy", "forgotten_policy_unknown",
                  "forgotten_policy")
    tokens.check_rotate_s(d.rotate_s)
    if d.rounding_step_min not in ROUNDING_STEPS_MIN:
        raise bad(f"rounding step must be one of {ROUNDING_STEPS_MIN}", "rounding_step_invalid",
                  "rounding_step_min")
    if d.max_minutes is not None and not 1 <= d.max_minutes <= MAX_ACTIVITY_MINUTES:
        raise bad(f"max_minutes must be 1..{MAX_ACTIVITY_MINUTES}", "max_minutes_out_of_range",
                  "max_minutes")


def create_activity(db: Database, actor: Actor, d: ActivityDraft, *, key: str | None = None,
                    now: datetime | None = None) -> ActivityView:
    """A draft activity; its organizer is the caller, who must organize for its village.
    With a key, a retried request answers with the activity it created."""
    now = now or utcnow()
    _validate(d, now)
    if not may(actor, "activity.create", d.village_id):
        raise Forbidden(f"no organizer role for village {d.village_id}",
                        code="forbidden_village")
    return typed(book.write(db, lambda s: _insert(s, actor, d, now), key=key,
                            request={"op": "create_activity", **asdict(d)}).result, ActivityView)


def insert_activity(s: Session, actor: Actor, d: ActivityDraft, now: datetime) -> dict:
    """`create_activity` inside the caller's transaction (a service order's activity is made
    with the order's dispatch): the same checks, the same row."""
    _validate(d, now)
    if not may(actor, "activity.create", d.village_id):
        raise Forbidden(f"no organizer role for village {d.village_id}",
                        code="forbidden_village")
    return _insert(s, actor, d, now)


def _insert(s: Session, actor: Actor, d: ActivityDraft, now: datetime) -> dict:
    village = s.get(Village, d.village_id)
    if village is None:
        raise NotFound(f"village {d.village_id} does not exist", code="village_not_found")
    if d.team_id is not None and s.get(Team, d.team_id) is None:
        raise NotFound(f"team {d.team_id} does not exist", code="team_not_found")
    needs_review = _check_rule_item(s, d.rule_item_code, village, actor.user_id, d.starts_at)
    e6 = (lambda v: None if v is None else round(v * 1_000_000))
    act = Activity(
        town_id=village.town_id, village_id=d.village_id, team_id=d.team_id,
        title=d.title.strip(), description=d.description, rule_item_code=d.rule_item_code,
        organizer_user_id=actor.user_id, starts_at=d.starts_at, ends_at=d.ends_at,
        place=d.place, geo_lat_e6=e6(d.geo_lat), geo_lon_e6=e6(d.geo_lon),
        geo_radius_m=d.geo_radius_m, capacity=d.capacity, status=ActivityStatus.DRAFT,
        theme=d.theme, walk_ins_allowed=d.walk_ins_allowed,
        needs_confirmation=d.needs_confirmation or needs_review, forgotten_policy=str(d.forgotten_policy),
        rotate_s=d.rotate_s, static_version=1, rounding_step_min=d.rounding_step_min,
        max_minutes=d.max_minutes, created_at=now, created_by=actor.user_id)
    s.add(act)
    s.flush()
    return activity_view(act)


def _check_rule_item(s: Session, code: str, village: Village, organizer_user_id: int,
                     on: datetime) -> bool:
    """The item must be in force for the village and pay attendance (an earning item the
    organizer may record, never a deduction: awards.check_item); an item that needs review
    makes every attendance wait for the organizer's confirmation."""
    from ledger.activities import awards
    return awards.check_item(s, code, village_id=village.id, village_name=village.name,
                             organizer_user_id=organizer_user_id, on=on)


def set_status(db: Database, actor: Actor, activity_id: int, status: str,
               now: datetime | None = None) -> ActivityView:
    """draft → open → closed; opening twice or closing twice answers with the activity."""
    now = now or utcnow()
    with db.transaction() as s:
        act = get_activity(s, activity_id, lock=True)
        require_manager(actor, act)
        if act.status == status:
            return typed(activity_view(act), ActivityView)
        allowed = {(ActivityStatus.DRAFT, ActivityStatus.OPEN),
                   (ActivityStatus.OPEN, ActivityStatus.CLOSED),
                   (ActivityStatus.DRAFT, ActivityStatus.CLOSED)}
        if (act.status, status) not in allowed:
            raise Conflict(f"activity {activity_id} is {act.status}; it cannot become {status}",
                           code="activity_status_conflict", status_now=act.status)
        act.status = status
        if status == ActivityStatus.OPEN:
            act.opened_at = now
        else:
            act.closed_at = now
        return typed(activity_view(act), ActivityView)


def reissue_static_code(db: Database, actor: Actor, activity_id: int) -> ActivityView:
    """Print a new static code: the old prints stop working at once."""
    with db.transaction() as s:
        act = get_activity(s, activity_id, lock=True)
        require_manager(actor, act)
        act.static_version += 1
        return typed(activity_view(act), ActivityView)


def activities_of(db: Database, actor: Actor, limit: int = MAX_MANAGED_SHOWN
                  ) -> list[ActivityView]:
    """The activities the actor organizes, or manages as an admin of their village (every
    one for a town-wide admin: `can_manage`), newest first."""
    if not 1 <= limit <= MAX_MANAGED_SHOWN:
        raise InvalidInput(f"limit must be 1..{MAX_MANAGED_SHOWN}", code="page_size_out_of_range")
    villages = villages_of(actor, "activity.manage")
    q = select(Activity)
    if villages is not None:
        q = q.where(or_(Activity.organizer_user_id == actor.user_id,
                        Activity.village_id.in_(sorted(villages))))
    with db.sessions() as s:
        rows = s.scalars(q.order_by(Activity.starts_at.desc()).limit(limit))
        return typed([activity_view(a) for a in rows], list[ActivityView])


def activity_view(a: Activity) -> dict:
    geo = None
    if a.geo_radius_m is not None:
        geo = {"lat": a.geo_lat_e6 / 1e6, "lon": a.geo_lon_e6 / 1e6, "radius_m": a.geo_radius_m}
    return {"id": a.id, "town_id": a.town_id, "village_id": a.village_id, "team_id": a.team_id,
            "title": a.title, "description": a.description, "rule_item_code": a.rule_item_code,
            "organizer_user_id": a.organizer_user_id, "starts_at": a.starts_at.isoformat(),
            "ends_at": a.ends_at.isoformat(), "place": a.place, "geofence": geo,
            "capacity": a.capacity, "status": a.status, "theme": a.theme,
            "walk_ins_allowed": a.walk_ins_allowed, "needs_confirmation": a.needs_confirmation,
            "forgotten_policy": a.forgotten_policy, "rotate_s": a.rotate_s,
            "rounding_step_min": a.rounding_step_min, "max_minutes": a.max_minutes}
