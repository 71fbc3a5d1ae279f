"""Stations as places (profile, liaisons, monthly plan) and teams' yearly targets. Writes check
the caller's scope: a station's own admin, or a town admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.activities.planning import MONTHLY_THEMES
from ledger.db import Database
from ledger.errors import InvalidInput, NotFound
from ledger.identity.actor import require
from ledger.identity.roles import REGISTRY_ADMINS
from ledger.recognition.stars import MIN_COLLECTIVE_SERVICES, collective_services
from ledger.registry.models import Team, TeamMember, Village
from ledger.stations.schemas import (LiaisonView, PlanView, ProfileView,
                                     StationSummary, TeamProgress)
from ledger.timeutil import LOCAL_TZ, utcnow
from ledger.view import typed

KIND_NAMES = {"institute": "新时代文明实践所", "point": "新时代文明实践点",
              "village": "新时代文明实践站", "community": "新时代文明实践站"}
CONCENTRATED_DAY = 5  # 每月5日为文明实践集中活动日 (baogai.yaml)
MAX_ROOMS = 20
MAX_ROOM_CHARS = 30
MAX_LIAISONS = 10
MAX_PLAN_LINES = 31
MAX_TEXT_CHARS = 200
MAX_HOURS_CHARS = 200


def _text(raw, what: str, max_chars: int = MAX_TEXT_CHARS, required: bool = False) -> str:
    v = str(raw or "").strip()
    if required and not v:
        raise InvalidInput(f"{what} 不能为空", code=f"{what}_required", field=what)
    if len(v) > max_chars or (v and not v.isprintable()):
        raise InvalidInput(f"{what}: at most {max_chars} printable characters",
                           code=f"{what}_too_long", field=what, max_chars=max_chars)
    return v


def station(s: Session, village_id: int) -> Village:
    v = s.get(Village, village_id)
    if v is None:
        raise NotFound(f"station {village_id} does not exist", code="station_not_found")
    return v


def month_start(d: date) -> date:
    return d.replace(day=1)


def local_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(LOCAL_TZ).date()


# ---- profile and liaisons ------------------------------------------------------------------

@dataclass(frozen=True)
class ProfileDraft:
    address: str = ""
    opening_hours: str = ""
    phone: str = ""
    rooms: tuple[str, ...] = ()


def set_profile(s: Session, village_id: int, d: ProfileDraft, *, actor_id: int | None,
                now: datetime | None = None) -> dict:
    from ledger.stations.models import StationProfile
    station(s, village_id)
    if len(d.rooms) > MAX_ROOMS:
        raise InvalidInput(f"at most {MAX_ROOMS} function rooms", code="rooms_too_many",
                           field="rooms", max_rooms=MAX_ROOMS)
    rooms = [_text(r, "rooms", MAX_ROOM_CHARS) for r in d.rooms if str(r).strip()]
    p = s.get(StationProfile, village_id) or StationProfile(village_id=village_id)
    p.address = _text(d.address, "address")
    p.opening_hours = _text(d.opening_hours, "opening_hours", MAX_HOURS_CHARS)
    p.phone = _text(d.phone, "phone", 20)
    p.rooms, p.updated_at, p.updated_by = rooms, now or utcnow(), actor_id
    s.add(p)
    s.flush()
    return profile_view(p)


def update_profile(db: Database, actor, village_id: int, d: ProfileDraft) -> ProfileView:
    require(actor, REGISTRY_ADMINS, village_id, "editing a station")
    with db.transaction() as s:
        return typed(set_profile(s, village_id, d, actor_id=actor.user_id), ProfileView)


def add_liaison(s: Session, village_id: int, name: str, title: str = "",
                user_id: int | None = None, now: datetime | None = None) -> dict:
    from ledger.stations.models import StationLiaison
    station(s, village_id)
    n = s.scalar(select(func.count()).select_from(StationLiaison)
                 .where(StationLiaison.village_id == village_id))
    if n >= MAX_LIAISONS:
        raise InvalidInput(f"a station has at most {MAX_LIAISONS} liaisons",
                           code="liaisons_too_many", max_liaisons=MAX_LIAISONS)
    li = StationLiaison(village_id=village_id, name=_text(name, "name", 100, required=True),
                        title=_text(title, "title", 100), user_id=user_id,
                        created_at=now or utcnow())
    s.add(li)
    s.flush()
    return {"id": li.id, "name": li.name, "title": li.title}


def profile_view(p) -> dict:
    return {"address": p.address, "opening_hours": p.opening_hours, "phone": p.phone,
            "rooms": list(p.rooms or [])}


# ---- monthly plan --------------------------------------------------------------------------

def publish_plan(s: Session, village_id: int, month: date, theme: str, lines: list[dict], *,
                 actor_id: int | None, activity_day: int = CONCENTRATED_DAY,
                 now: datetime | None = None) -> dict:
    """Publish (or replace) one month's plan: one theme a month, the concentrated day."""
    from ledger.stations.models import StationPlan
    station(s, village_id)
    if theme not in MONTHLY_THEMES:
        raise InvalidInput(f"主题须为一月一主题之一：{'、'.join(MONTHLY_THEMES)}",
                           code="theme_unknown", field="theme")
    if len(lines) > MAX_PLAN_LINES:
        raise InvalidInput(f"a plan has at most {MAX_PLAN_LINES} lines", code="plan_too_long")
    first = month_start(month)
    try:
        day = first.replace(day=activity_day)
    except ValueError:
        raise InvalidInput("no such day in that month", code="plan_day_invalid") from None
    clean = []
    for ln in lines:
        d = int(ln.get("day", activity_day))
        try:
            first.replace(day=d)
        except ValueError:
            raise InvalidInput(f"day {d} is not in that month", code="plan_day_invalid") from None
        clean.append({"day": d, "title": _text(ln.get("title"), "title", required=True),
                      "place": _text(ln.get("place"), "place")})
    clean.sort(key=lambda x: x["day"])
    p = s.scalar(select(StationPlan).where(StationPlan.village_id == village_id,
                                           StationPlan.month == first))
    if p is None:
        p = StationPlan(village_id=village_id, month=first)
        s.add(p)
    p.theme, p.activity_day, p.lines = theme, day, clean
    p.published_at, p.published_by = now or utcnow(), actor_id
    s.flush()
    return plan_view(p)


def publish_plan_as(db: Database, actor, village_id: int, month: date, theme: str,
                    lines: list[dict]) -> PlanView:
    require(actor, REGISTRY_ADMINS, village_id, "publishing a station's plan")
    with db.transaction() as s:
        return typed(publish_plan(s, village_id, month, theme, lines, actor_id=actor.user_id),
                     PlanView)


def plan_view(p) -> dict:
    return {"month": p.month.isoformat(), "theme": p.theme,
            "activity_day": p.activity_day.isoformat(), "lines": list(p.lines or []),
            "published_at": p.published_at.isoformat()}


def station_page(s: Session, village_id: int, *, today: date | None = None) -> dict:
    """Everything a station's public page shows: the place, liaisons, this month's and next
    month's plans, its teams."""
    from ledger.stations.models import StationLiaison, StationPlan, StationProfile
    v = station(s, village_id)
    today = today or local_today()
    prof = s.get(StationProfile, village_id)
    liaisons = s.scalars(select(StationLiaison).where(StationLiaison.village_id == village_id)
                         .order_by(StationLiaison.id))
    plans = s.scalars(select(StationPlan).where(StationPlan.village_id == village_id,
                                                StationPlan.month >= month_start(today))
                      .order_by(StationPlan.month).limit(2))
    teams = s.scalars(select(Team).where(Team.village_id == village_id).order_by(Team.id))
    return {"id": v.id, "name": v.name, "kind": v.kind, "kind_name": KIND_NAMES.get(v.kind, ""),
            "profile": profile_view(prof) if prof else None,
            "liaisons": [{"id": li.id, "name": li.name, "title": li.title} for li in liaisons],
            "plans": [plan_view(p) for p in plans],
            "teams": [{"id": t.id, "name": t.name, "kind": t.kind} for t in teams]}


def list_stations(s: Session, town_id: int | None = None) -> list[dict]:
    order = {"institute": 0, "point": 1, "community": 2, "village": 2}
    q = select(Village)
    if town_id is not None:
        q = q.where(Village.town_id == town_id)
    vs = sorted(s.scalars(q), key=lambda v: (order.get(v.kind, 3), v.id))
    return [{"id": v.id, "name": v.name, "kind": v.kind, "kind_name": KIND_NAMES.get(v.kind, "")}
            for v in vs]


# ---- teams ---------------------------------------------------------------------------------

def team_leaders(s: Session, team_id: int) -> list[int]:
    return list(s.scalars(select(TeamMember.person_id).where(
        TeamMember.team_id == team_id, TeamMember.is_leader.is_(True))))


def team_members(s: Session, team_id: int) -> list[int]:
    return list(s.scalars(select(TeamMember.person_id).where(TeamMember.team_id == team_id)
                          .order_by(TeamMember.person_id)))


def team_progress(s: Session, town_id: int, year: int, *, today: date | None = None) -> list[dict]:
    """Each standing team's collective services this year against the 12-a-year target, month
    by month; `behind_months`: the months (1..12, up to the last finished one) at whose end the
    team had held fewer than one a month so far. A collective service is what the team's stars
    count (ledger.recognition.stars.collective_services: an activity in the team's name that
    ended in the month with a certified attendance)."""
    today = today or local_today()
    teams = list(s.scalars(select(Team).where(Team.town_id == town_id, Team.standing.is_(True))
                           .order_by(Team.id)))
    ids = [t.id for t in teams]
    per = {t: [0] * 12 for t in ids}
    for m in range(12):
        start = date(year, m + 1, 1)
        end = date(year + (m + 1) // 12, (m + 1) % 12 + 1, 1)
        for tid, n in collective_services(s, ids, start, end).items():
            per[tid][m] = n
    last_done = 12 if year < today.year else (today.month - 1 if year == today.year else 0)
    out = []
    for t in teams:
        months = per[t.id]
        behind, total = [], 0
        for m in range(1, last_done + 1):
            total += months[m - 1]
            if total * 12 < MIN_COLLECTIVE_SERVICES * m:
                behind.append(m)
        out.append({"team_id": t.id, "name": t.name, "kind": t.kind, "by_month": months,
                    "done": sum(months), "target": MIN_COLLECTIVE_SERVICES,
                    "behind_months": behind,
                    "behind_now": bool(behind) and behind[-1] == last_done})
    return out


# ---- the API's answers (ledger/stations/schemas.py) ------------------------------------------

def stations(db: Database, town_id: int | None = None) -> list[StationSummary]:
    with db.sessions() as s:
        return typed(list_stations(s, town_id), list[StationSummary])


def add_liaison_as(db: Database, actor, village_id: int, name: str, title: str) -> LiaisonView:
    require(actor, REGISTRY_ADMINS, village_id, "adding a liaison")
    with db.transaction() as s:
        return typed(add_liaison(s, village_id, name, title), LiaisonView)


def progress(db: Database, town_id: int, year: int) -> list[TeamProgress]:
    with db.sessions() as s:
        return typed(team_progress(s, town_id, year), list[TeamProgress])
