"""Candidates for the town's honours for organisations and organisers, drawn from the same
figures as the reports: 优秀志愿服务组织 (teams by collective services held and residents'
ratings of their orders), 优秀志愿服务组织者 (organisers by activities held and people who came),
优秀志愿服务项目 (menu services by orders done and their ratings). They are candidates for the
town's committee, ranked with the figures shown: the honour lists themselves are made, put on
notice and published through ledger/recognition/honor.py."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.activities.models import Activity, ActivityStatus, Attendance
from ledger.db import Database
from ledger.identity.models import AppUser
from ledger.matching.models import MenuItem, OrderStatus, ServiceOrder
from ledger.recognition.stars import collective_services
from ledger.registry.models import Team
from ledger.stations.reports import Period, order_activity_ids, parse_period
from ledger.stations.schemas import HonourCandidates
from ledger.view import typed

MAX_CANDIDATES = 10
MIN_ORGANISER_ACTIVITIES = 3
MIN_PROJECT_ORDERS = 3


def candidates(s: Session, town_id: int, p: Period, limit: int = MAX_CANDIDATES) -> dict:
    limit = max(1, min(limit, MAX_CANDIDATES))
    lo, hi = p.bounds
    orders_acts = order_activity_ids(s, town_id)
    held = select(Attendance.id).where(Attendance.activity_id == Activity.id).exists()
    acts = [(a, team, org) for a, team, org in s.execute(
        select(Activity.id, Activity.team_id, Activity.organizer_user_id).where(
            Activity.town_id == town_id, Activity.starts_at >= lo, Activity.starts_at < hi,
            Activity.status != ActivityStatus.DRAFT, held)) if a not in orders_acts]
    people = dict(s.execute(select(Attendance.activity_id, func.count(Attendance.id)).where(
        Attendance.activity_id.in_([a for a, _, _ in acts])).group_by(Attendance.activity_id))
        .all())
    orders = list(s.execute(select(ServiceOrder.assignee_team_id, ServiceOrder.service_code,
                                   ServiceOrder.rating, ServiceOrder.status).where(
        ServiceOrder.town_id == town_id, ServiceOrder.done_at >= lo, ServiceOrder.done_at < hi)))

    names = dict(s.execute(select(Team.id, Team.name).where(Team.town_id == town_id)).all())
    teams: dict[int, dict] = {}
    for team, n in collective_services(s, list(names), p.start, p.end).items():
        teams[team] = {"services": n, "participations": 0, "ratings": []}
    for a, team, _ in acts:
        if team in teams:
            teams[team]["participations"] += people.get(a, 0)
    for team, _, rating, _ in orders:
        if team is not None:
            t = teams.setdefault(team, {"services": 0, "participations": 0, "ratings": []})
            if rating is not None:
                t["ratings"].append(rating)
    org_rows = [{"team_id": k, "name": names.get(k, str(k)), **_score(v)}
                for k, v in teams.items()]
    org_rows.sort(key=lambda r: (-r["services"], -(r["rating_avg"] or 0), r["team_id"]))

    organisers: dict[int, dict] = {}
    for a, _, org in acts:
        o = organisers.setdefault(org, {"activities": 0, "participations": 0})
        o["activities"] += 1
        o["participations"] += people.get(a, 0)
    users = dict(s.execute(select(AppUser.id, AppUser.name)
                           .where(AppUser.id.in_(list(organisers)))).all())
    org_people = sorted(({"user_id": u, "name": users.get(u, f"#{u}"), **v}
                         for u, v in organisers.items()
                         if v["activities"] >= MIN_ORGANISER_ACTIVITIES),
                        key=lambda r: (-r["activities"], -r["participations"], r["user_id"]))

    projects: dict[str, dict] = {}
    for _, code, rating, status in orders:
        if code is None:
            continue
        pj = projects.setdefault(code, {"orders_done": 0, "ratings": []})
        pj["orders_done"] += int(status in (OrderStatus.DONE, OrderStatus.RATED))
        if rating is not None:
            pj["ratings"].append(rating)
    menu = dict(s.execute(select(MenuItem.code, MenuItem.name)
                          .where(MenuItem.town_id == town_id)).all())
    proj_rows = sorted(({"service_code": k, "name": menu.get(k, k),
                         "orders_done": v["orders_done"], **_score(v)}
                        for k, v in projects.items() if v["orders_done"] >= MIN_PROJECT_ORDERS),
                       key=lambda r: (-(r["rating_avg"] or 0), -r["orders_done"],
                                      r["service_code"]))
    return {"period": p.code, "organisations": org_rows[:limit],
            "organisers": org_people[:limit], "projects": proj_rows[:limit]}


def _score(v: dict) -> dict:
    ratings = v.get("ratings", [])
    out = {k: x for k, x in v.items() if k != "ratings"}
    out["rated"] = len(ratings)
    out["rating_avg"] = round(sum(ratings) / len(ratings), 1) if ratings else None
    return out


def candidates_of(db: Database, town_id: int, period: str) -> HonourCandidates:
    """`candidates` for a period given as text (YYYY-MM or YYYYQn)."""
    with db.sessions() as s:
        return typed(candidates(s, town_id, parse_period(period)), HonourCandidates)
