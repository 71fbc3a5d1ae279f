"""Builders shared by the stations and matching tests (no tests here): the activities tests'
world (a town, two villages, a household, people, a catalog and budgets) plus a service menu
paying under its items, a team with a leader and the skill, through the service functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ledger.activities.models import Activity
from ledger.activities.planning import Actor
from ledger.db import Database
from ledger.matching import menu as matching_menu
from ledger.matching import orders as matching_orders
from ledger.matching import service as matching
from ledger.matching.schemas import OrderView
from ledger.registry import service as registry
from tests.builders.activities import T0, World, make_world

MENU = (("repair", "家电维修", "P1"), ("haircut", "爱心理发", "H1"),
        (matching_menu.FREE_TEXT_CODE, "其他服务", "P1"))
STAFF_ID = 810


@dataclass
class Town:
    w: World
    team_id: int
    leader: Actor  # person 1 leads the team; people 1..3 are its members
    member: Actor  # person 2
    resident: Actor  # person 0, of the household
    staff: Actor  # the station's admin

    def now(self, minutes: float = 0) -> datetime:
        return T0 - timedelta(hours=2) + timedelta(minutes=minutes)


def make_town(db: Database) -> Town:
    w = make_world(db, n_people=6)
    with db.transaction() as s:
        for code, name, item in MENU:
            matching_menu.add_menu_item(s, w.town_id, code, name, item)
        team = registry.add_team(s, town_id=w.town_id, kind="卫生环保", name="卫生环保志愿服务队",
                                 standing=True)
        registry.add_members(s, team.id, w.people[1:4], leader_id=w.people[1])
        matching_menu.add_skill(s, w.town_id, "repair", "team", team.id)
        matching_menu.add_skill(s, w.town_id, "haircut", "person", w.people[4])
    return Town(w, team.id,
                leader=Actor(6001, person_id=w.people[1], roles=(("volunteer", w.village_id),)),
                member=Actor(6002, person_id=w.people[2], roles=(("volunteer", w.village_id),)),
                resident=Actor(6000, person_id=w.people[0]),
                staff=Actor(STAFF_ID, roles=(("village_admin", w.village_id),)))


def place(db: Database, t: Town, *, code: str | None = "repair", need: str = "电视机没有信号",
          now: datetime | None = None, actor: Actor | None = None, **kw) -> OrderView:
    d = matching.OrderDraft(village_id=t.w.village_id, need=need, preferred_at=T0,
                            service_code=code, **kw)
    return matching.place_order(db, actor or t.resident, d, now=now or t.now())


def scan(db: Database, settings, t: Town, order_id: int, person_index: int, at: datetime,
         action: str | None = None) -> dict:
    """A volunteer scans the order's code (the static code the resident's page shows)."""
    from ledger.activities import service as checkin
    from ledger.activities import tokens
    with db.sessions() as s:
        act = s.get(Activity, matching_orders.get_order(s, order_id).activity_id)
        token = tokens.static_token(settings.secret_key, act.id, act.static_version)
    return checkin.scan(db, settings, checkin.Scan(
        token=token, person_id=t.w.people[person_index], user_id=6000 + person_index,
        action=action), now=at)
