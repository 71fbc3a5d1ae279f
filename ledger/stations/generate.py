"""A generated quarter of a town's work, for the demo and for the reports' test: at most stations
a concentrated-day activity each month (the 5th, the month's theme, in a standing team's name)
and sometimes another; residents' service orders dispatched, served, most of them rated; a few
stations left with nothing (挂牌 only). Everything goes through the service functions users
call (activities, attendances recorded by the organizer, orders), so hours and points are
booked by the rule engine as for real work.

Returns what it made, per station, counted here independently of the reports.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from ledger import outbox
from ledger.activities import planning, review
from ledger.activities.planning import MONTHLY_THEMES, ActivityDraft
from ledger.identity.actor import Actor
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError
from ledger.matching import menu as matching_menu
from ledger.matching import orders as matching_orders
from ledger.matching import progress as matching_progress
from ledger.matching import service as matching
from ledger.matching.models import Channel
from ledger.registry.models import Household, Person, Team, Village
from ledger.stations.reports import Period
from ledger.stations.service import CONCENTRATED_DAY, team_leaders
from ledger.timeutil import LOCAL_TZ

ACTIVITY_ITEM = "A01"  # 参加志愿服务活动（按小时）
SIGN_ONLY_EVERY = 5  # every fifth village station does nothing in the quarter
ORDER_SERVICES = ("repair", "clinic", "legal")


def _at(d, hour: int, minute: int = 0) -> datetime:
    """A local time of day, in UTC: the journal hashes an entry's time as given and keeps it
    as UTC, so every `now` handed to it must already be UTC."""
    return datetime.combine(d, time(hour, minute), LOCAL_TZ).astimezone(UTC)


def generate_quarter(db: Database, settings: Settings, town_id: int, q: Period, *,
                     actor: Actor, seed: str = "jifen-quarter") -> dict:
    rng = random.Random(f"{seed}:{q.code}")
    with db.sessions() as s:
        stations = list(s.scalars(select(Village).where(Village.town_id == town_id)
                                  .order_by(Village.id)))
        teams = list(s.scalars(select(Team.id).where(Team.town_id == town_id,
                                                     Team.standing.is_(True))
                               .order_by(Team.id)))
        vols = defaultdict(list)
        for p in s.scalars(select(Person).where(Person.is_volunteer.is_(True))
                           .order_by(Person.id)):
            vols[p.village_id].append((p.id, p.household_id))
        homes = defaultdict(list)
        for h in s.scalars(select(Household).order_by(Household.id)):
            homes[h.village_id].append(h.id)
    made: dict[int, dict] = {v.id: {"activities": 0, "participations": 0, "people": set(),
                                    "minutes": 0, "orders_placed": 0, "orders_done": 0,
                                    "orders_overdue": 0, "orders_rated": 0, "rating_sum": 0,
                                    "themes": set(),
                                    "team_services": defaultdict(int)} for v in stations}
    villages = [v for v in stations if v.kind in ("village", "community")]
    sign_only = {v.id for i, v in enumerate(villages) if i % SIGN_ONLY_EVERY == SIGN_ONLY_EVERY - 1}
    with outbox.held(db):  # points, rollups and stars follow once, after the whole quarter
        for k, m in enumerate(q.months()):
            theme = MONTHLY_THEMES[(m.start.month - 1) % len(MONTHLY_THEMES)]
            for i, v in enumerate(stations):
                if v.id in sign_only:
                    if k == 1 and homes.get(v.id):  # a resident's order nobody took up: overdue
                        _unanswered(db, actor, made[v.id], v, m.start.replace(day=10), homes[v.id])
                    continue
                people = vols.get(v.id) or [p for pv in villages for p in vols.get(pv.id, [])][:40]
                team = teams[(i + k) % len(teams)] if teams else None
                _activity(db, settings, actor, made[v.id], v.id,
                          m.start.replace(day=CONCENTRATED_DAY), theme, team, people, rng)
                if rng.random() < 0.5:
                    _activity(db, settings, actor, made[v.id], v.id, m.start.replace(day=15), None,
                              None, people, rng)
                if v.kind in ("village", "community") and homes.get(v.id):
                    for j in range(2):
                        _order(db, settings, actor, made[v.id], v, m.start.replace(day=8 + 7 * j),
                               homes[v.id], vols.get(v.id, []), rng, rate_it=j == 0)
    for r in made.values():
        r["people"] = len(r["people"])
        r["themes"] = sorted(r["themes"])
        r["team_services"] = dict(r["team_services"])
    return {"period": q.code, "stations": made, "sign_only": sorted(sign_only)}


def _unanswered(db: Database, actor: Actor, out: dict, v: Village, day, homes: list[int]
                ) -> None:
    at = _at(day, 10)
    matching.place_order(db, actor, matching.OrderDraft(
        village_id=v.id, need="水管漏水，请帮忙看看", preferred_at=at, household_id=homes[0],
        channel=Channel.COUNTER), now=at - timedelta(days=1))
    out["orders_placed"] += 1
    out["orders_overdue"] += 1


def _activity(db: Database, settings: Settings, actor: Actor, out: dict, village_id: int,
              day, theme: str | None, team: int | None, people: list, rng: random.Random) -> None:
    starts, ends = _at(day, 9), _at(day, 11)
    title = f"{theme}主题活动" if theme else "志愿服务活动"
    act = planning.create_activity(db, actor, ActivityDraft(
        village_id=village_id, title=title, rule_item_code=ACTIVITY_ITEM, starts_at=starts,
        ends_at=ends, place="实践站", theme=theme, team_id=team),
        now=starts - timedelta(days=3))
    planning.set_status(db, actor, act.id, "open", now=starts - timedelta(days=2))
    chosen = rng.sample(people, min(len(people), rng.randint(3, 6)))
    for pid, _ in chosen:
        came, stay = rng.randint(0, 15), rng.randint(60, 100)
        r = review.add_attendance(db, settings, actor, review.Record(
            activity_id=act.id, person_id=pid, check_in_at=starts + timedelta(minutes=came),
            check_out_at=starts + timedelta(minutes=came + stay), note="签到表补录"),
            now=ends + timedelta(hours=1))
        assert r.minutes == stay, r  # inside the window: the whole stay counts
        out["participations"] += 1
        out["people"].add(pid)
        out["minutes"] += stay
    if chosen:
        out["activities"] += 1
        if theme:
            out["themes"].add(theme)
        if team is not None:
            out["team_services"][team] += 1
    planning.set_status(db, actor, act.id, "closed", now=ends + timedelta(hours=2))


def _order(db: Database, settings: Settings, actor: Actor, out: dict, v: Village, day,
           homes: list[int], vols: list, rng: random.Random, *, rate_it: bool) -> None:
    household = rng.choice(homes)
    servers = [pid for pid, hid in vols if hid != household]
    if not servers:
        return
    code = rng.choice(ORDER_SERVICES)
    server = rng.choice(servers)
    at = _at(day, 15)
    o = matching.place_order(db, actor, matching.OrderDraft(
        village_id=v.id, need="", preferred_at=at, service_code=code, household_id=household,
        channel=Channel.PHONE), now=at - timedelta(days=1))
    out["orders_placed"] += 1
    team = None
    with db.transaction() as s:
        teams = matching_menu.candidates(s, matching_orders.get_order(s, o.id))["teams"]
        if teams and rng.random() < 0.5:  # a standing team with the skill, led from outside
            team = rng.choice(teams)["id"]
            leader = team_leaders(s, team)[0]
            if s.get(Person, leader).household_id == household:
                team = None
            else:
                server = leader
        if team is None:
            matching_menu.add_skill(s, v.town_id, code, "person", server)
    try:
        matching.dispatch(db, actor, o.id, person_id=None if team else server, team_id=team,
                          now=at - timedelta(hours=20))
        matching.accept(db, Actor(0, person_id=server), o.id, now=at - timedelta(hours=19))
    except DomainError:  # left with the station: counted as placed, and overdue
        return
    stay = rng.randint(30, 90)
    review.add_attendance(db, settings, actor, review.Record(
        activity_id=_activity_of(db, o.id), person_id=server,
        check_in_at=at, check_out_at=at + timedelta(minutes=stay), note="上门服务"),
        now=at + timedelta(hours=5))
    matching_progress.refresh(db, o.id)
    out["orders_done"] += 1
    out["minutes"] += stay
    if rate_it:
        rating = rng.randint(3, 5)
        matching.rate(db, actor, o.id, rating, "电话回访", now=at + timedelta(days=1))
        out["orders_rated"] += 1
        out["rating_sum"] += rating


def _activity_of(db: Database, order_id: int) -> int:
    with db.sessions() as s:
        return matching_orders.get_order(s, order_id).activity_id
