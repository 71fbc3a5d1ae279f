"""Demo data for the practice network, on top of ledger/demo.py's town: each unit's public page
(address, hours, rooms, two liaison leaders with fake names), the station menu, the standing
teams' skills, this month's and next month's plans, a resident and a team leader who can sign
in (the demo password), Baogai's three courtesy benefits (礼遇); with `quarter`, two donors
of the volunteer fund with a donation each and a generated last full quarter of work
(generate.py).

Idempotent: each part is made only if missing."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from ledger.activities.planning import MONTHLY_THEMES
from ledger.identity.actor import Actor
from ledger.config import Settings
from ledger.db import Database
from ledger.identity import service as identity
from ledger.identity.models import AppUser
from ledger.matching import menu as matching_menu
from ledger.matching.models import MenuItem, ServiceOrder
from ledger.registry.models import Person, Team, TeamMember, Village
from ledger.stations import generate, reports
from ledger.stations.models import StationProfile
from ledger.stations.service import (
    CONCENTRATED_DAY,
    ProfileDraft,
    add_liaison,
    local_today,
    publish_plan,
    set_profile,
)

ROOMS = ("理论宣讲室", "文体活动室", "图书阅览室", "志愿服务室", "心理咨询室")
LIAISON_TITLES = ("镇党委委员", "镇人大副主席", "镇政府副镇长")
LIAISON_NAMES = "甲乙丙丁戊己庚辛壬癸"
# Which standing team kind offers which menu service.
TEAM_SKILLS = {"法律服务": ("legal",), "医疗健身": ("clinic", "escort"),
               "卫生环保": ("repair",), "文化文艺服务": ("haircut",), "科学普及": ("repair",)}
DEMO_QUARTER_ACTOR_ID = 1  # the town admin made first by ledger/demo.py
RESIDENT_LOGIN, LEADER_LOGIN = "tangbian.resident", "team.leader"


def _places(db: Database, town_id: int) -> int:
    made = 0
    with db.transaction() as s:
        for i, v in enumerate(s.scalars(select(Village).where(Village.town_id == town_id)
                                        .order_by(Village.id))):
            if s.get(StationProfile, v.id) is not None:
                continue
            set_profile(s, v.id, ProfileDraft(
                address=f"宝盖镇{v.name}演示路1号", opening_hours="周一至周五 8:30–17:30，每月5日全天",
                rooms=ROOMS[: 2 + i % 4]), actor_id=None)
            for j in range(2):
                k = (2 * i + j) % len(LIAISON_NAMES)
                add_liaison(s, v.id, f"联系领导{LIAISON_NAMES[k]}（演示）",
                            LIAISON_TITLES[(i + j) % len(LIAISON_TITLES)])
            made += 1
    return made


def _plans(db: Database, town_id: int, today: date) -> None:
    from ledger.stations.models import StationPlan
    months = [today.replace(day=1)]
    months.append(date(today.year + today.month // 12, today.month % 12 + 1, 1))
    with db.transaction() as s:
        for v in s.scalars(select(Village).where(Village.town_id == town_id)):
            for m in months:
                if s.scalar(select(StationPlan.id).where(StationPlan.village_id == v.id,
                                                         StationPlan.month == m)):
                    continue
                theme = MONTHLY_THEMES[(m.month - 1) % len(MONTHLY_THEMES)]
                publish_plan(s, v.id, m, theme, [
                    {"day": CONCENTRATED_DAY, "title": f"{theme}集中活动", "place": "实践站广场"},
                    {"day": 15, "title": "敬老助老上门服务", "place": "各户"},
                    {"day": 25, "title": "家园清洁志愿活动", "place": "村道"}], actor_id=None)


def _menu(db: Database, town_id: int) -> int:
    with db.transaction() as s:
        if s.scalar(select(MenuItem.id).where(MenuItem.town_id == town_id)):
            return 0
        for code, name, item in matching_menu.DEFAULT_MENU:
            matching_menu.add_menu_item(s, town_id, code, name, item)
        for t in s.scalars(select(Team).where(Team.town_id == town_id, Team.standing.is_(True))):
            for code in TEAM_SKILLS.get(t.kind, ()):
                matching_menu.add_skill(s, town_id, code, "team", t.id)
        return len(matching_menu.DEFAULT_MENU)


def _users(db: Database, villages: dict[str, int], password_hash: str | None) -> None:
    """A resident of 塘边村 (a household member who is no volunteer) and the leader of the
    standing 卫生环保 team, both signing in with the demo password."""
    with db.transaction() as s:
        if s.scalar(select(AppUser.id).where(AppUser.login == RESIDENT_LOGIN)) is not None:
            return
        leader = s.scalar(select(TeamMember.person_id).join(Team, Team.id == TeamMember.team_id)
                          .where(Team.kind == "卫生环保", TeamMember.is_leader.is_(True)))
        leader_hh = s.get(Person, leader).household_id if leader else None
        resident = s.scalar(select(Person).where(
            Person.village_id == villages["塘边村"], Person.household_id.is_not(None),
            Person.household_id != leader_hh, Person.is_volunteer.is_(False))
            .order_by(Person.id).limit(1))
        taken = set(s.scalars(select(AppUser.person_id).where(AppUser.person_id.is_not(None))))
        for login, person, name, roles in (
                (RESIDENT_LOGIN, resident, "塘边村居民（演示）", ()),
                (LEADER_LOGIN, s.get(Person, leader) if leader else None, "卫生环保队队长（演示）",
                 (("volunteer", s.get(Person, leader).village_id),) if leader else ())):
            if person is None or person.id in taken:
                continue
            u = identity.add_user(s, login=login, name=name, person_id=person.id, roles=roles)
            u.password_hash = password_hash


# Baogai's courtesies (礼遇, the Quanzhou reports): name, kind, partner, stars, uses a year, once.
DEMO_BENEFITS = (("星级志愿者观影回馈", "screening", "石狮某影院（演示）", 3, 2, False),
                 ("合作商户九折优惠", "discount", "宝盖某超市（演示）", 1, 12, False),
                 ("四星级以上志愿者一次性奖励金", "bonus", "", 4, 1, True))


def _benefits(db: Database, town_id: int, admin) -> None:
    from ledger.courtesy import service as courtesy
    from ledger.courtesy.models import Benefit
    if admin is None:
        return
    with db.sessions() as s:
        if s.scalar(select(Benefit.id).where(Benefit.town_id == town_id).limit(1)):
            return
    actor = Actor(admin.id, roles=(("town_admin", None),))
    for name, kind, partner, stars, uses, once in DEMO_BENEFITS:
        courtesy.add_benefit(db, actor, town_id=town_id, name=name, kind=kind, partner=partner,
                             min_stars=stars, uses_per_year=uses, once_ever=once)


DEMO_DONORS = (("石狮某鞋服有限公司（演示）", "business", "塘边村", 200_000),
               ("宝盖镇某商会（演示）", "group", "坑东村", 100_000))


def _donors(db: Database, settings: Settings, town_id: int, villages: dict[str, int],
            admin) -> None:
    """Two donors of the volunteer fund and a donation each, keyed: made once."""
    from ledger.fund import service as fund
    from ledger.fund.models import Donor
    if admin is None:
        return
    actor = Actor(admin.id, roles=(("town_admin", None),))
    with db.sessions() as s:
        if s.scalar(select(Donor.id).where(Donor.town_id == town_id).limit(1)):
            return
    for name, kind, village, fen in DEMO_DONORS:
        d = fund.add_donor(db, actor, town_id=town_id, name=name, kind=kind)
        fund.donate(db, actor, donor_id=d.id, village_id=villages[village], value_fen=fen,
                    shards=settings.budget_shards, note="演示捐赠",
                    key=f"demo:donation:{town_id}:{village}")


def load(db: Database, settings: Settings, town_id: int, villages: dict[str, int], *,
         quarter: bool = True) -> dict:
    today = local_today()
    places = _places(db, town_id)
    _plans(db, town_id, today)
    menu = _menu(db, town_id)
    with db.sessions() as s:
        admin = s.scalar(select(AppUser).where(AppUser.login == "admin"))
        hashed = admin.password_hash if admin else None
        has_orders = s.scalar(select(ServiceOrder.id).where(ServiceOrder.town_id == town_id)
                              .limit(1)) is not None
    _users(db, villages, hashed)
    _benefits(db, town_id, admin)
    generated = None
    if quarter:  # the demo's money: the fund's donations and a quarter of work
        _donors(db, settings, town_id, villages, admin)
    if quarter and not has_orders:
        q = reports.last_full_quarter(today)
        actor = Actor(admin.id if admin else DEMO_QUARTER_ACTOR_ID,
                      roles=(("town_admin", None),))
        generated = generate.generate_quarter(db, settings, town_id, q, actor=actor)["period"]
    return {"stations_described": places, "menu_items": menu, "quarter_generated": generated}
