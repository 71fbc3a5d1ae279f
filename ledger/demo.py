"""Demo data: Baogai town (宝盖镇) with its 20 villages and communities, its practice institute and
three practice points (facts in ledger/registry/data/baogai.yaml), generated households and
people with clearly fake names (陈某甲), phones (1700000xxxx) and ID numbers (region 999999),
the seven standing volunteer teams, staff users with a documented demo password, Baogai's rule
catalog and each unit's budget for the year.

Idempotent: each part is made only if missing, allocations carry fixed idempotency keys, so a
second run adds nothing. Every row goes through the same service functions users call.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import yaml
from sqlalchemy import func, select

from ledger.registry import service as registry
from ledger.registry.models import Household, Team, Town, Village
from ledger.registry.privacy import id_check_digit
from ledger.config import Settings
from ledger.db import Database
from ledger.identity import passwords
from ledger.identity import service as identity
from ledger.identity.models import AppUser
from ledger.journal import service as journal

FACTS = Path(__file__).resolve().parent / "registry" / "data" / "baogai.yaml"
DEMO_VILLAGE_BUDGET = 100_000
HOUSEHOLDS_PER_VILLAGE = 12
MEMBERS_PER_HOUSEHOLD = (2, 5)
TEAM_SIZE = 12
DEMO_PASSWORD = "baogai-demo-2026"  # every demo staff user; documented in docs/registry.md
FAKE_ID_REGION = "999999"  # no such region: these ID numbers are visibly not real
FAKE_PHONE_PREFIX = "1700000"
SURNAMES = "陈林黄蔡王吴许施李张洪郑苏杨庄"
GIVEN = "甲乙丙丁戊己庚辛壬癸"


def facts() -> dict:
    return yaml.safe_load(FACTS.read_text(encoding="utf-8"))


def _staff(tangbian: int, kengdong: int) -> list[tuple[str, str, tuple]]:
    return [
        ("admin", "镇管理员（演示）", (("town_admin", None),)),
        ("tangbian.admin", "塘边村管理员（演示）", (("village_admin", tangbian),)),
        ("kengdong.admin", "坑东村管理员（演示）", (("village_admin", kengdong),)),
        ("tangbian.organizer", "塘边村活动组织者（演示）", (("organizer", tangbian),)),
        ("tangbian.inspector", "塘边村评议员（演示）", (("inspector", tangbian),)),
        ("clerk", "积分超市店员（演示）", (("clerk", None),)),
    ]


def _fake_id(n: int) -> str:
    """A birth date that differs for every n below 20075 (7919 is prime to 55 × 365)."""
    born = date(1950, 1, 1).toordinal() + (n * 7919) % (55 * 365)
    first17 = f"{FAKE_ID_REGION}{date.fromordinal(born):%Y%m%d}{n % 1000:03d}"
    return first17 + id_check_digit(first17)


def _town(db: Database, f: dict) -> int:
    with db.transaction() as s:
        t = s.scalar(select(Town).where(Town.name == f["town"]["name"]))
        if t is None:
            t = registry.add_town(s, f["town"]["name"], f["town"]["city"],
                                  f["town"]["prefecture"])
        return t.id


def _villages(db: Database, town_id: int, f: dict) -> dict[str, int]:
    wanted = ([(n, "institute") for n in f["institute"]] + [(n, "point") for n in f["points"]]
              + [(n, None) for n in f["stations"]])
    with db.transaction() as s:
        have = dict(s.execute(select(Village.name, Village.id)
                              .where(Village.town_id == town_id)).all())
        for name, kind in wanted:
            if name not in have:
                have[name] = registry.add_village(s, town_id, name, kind).id
        return have


def _people(db: Database, village_id: int, vname: str, index: int) -> int:
    """Households and people of one station, generated once (one transaction)."""
    with db.transaction() as s:
        if s.scalar(select(func.count()).select_from(Household)
                    .where(Household.village_id == village_id)):
            return 0
        rng = random.Random(f"jifen-demo:{vname}")
        n = index * 100  # a number range per village keeps phones and ID numbers unique
        made, drafts = 0, []
        for k in range(HOUSEHOLDS_PER_VILLAGE):
            surname = rng.choice(SURNAMES)
            members = []
            for j in range(rng.randint(*MEMBERS_PER_HOUSEHOLD)):
                n += 1
                members.append(registry.PersonDraft(
                    village_id, f"{surname}某{GIVEN[(k + j) % len(GIVEN)]}",
                    phone=f"{FAKE_PHONE_PREFIX}{n:04d}" if j < 2 else None,
                    id_number=_fake_id(n), is_volunteer=j == 0 or rng.random() < 0.3))
            drafts.append(registry.HouseholdDraft(
                village_id, members[0].name, f"{vname}演示路{k + 1}号", members=tuple(members)))
            made += len(members)
        registry.add_households(s, drafts)
        return made


def _teams(db: Database, town_id: int, f: dict) -> int:
    from ledger.registry.models import Person
    made = 0
    with db.transaction() as s:
        volunteers = list(s.scalars(select(Person.id).where(Person.is_volunteer.is_(True))
                                    .join(Village, Village.id == Person.village_id)
                                    .where(Village.town_id == town_id).order_by(Person.id)))
        rng = random.Random("jifen-demo:teams")
        for kind in f["standing_team_kinds"]:
            name = f"{f['town']['name']}{kind}志愿服务队"
            if s.scalar(select(Team.id).where(Team.town_id == town_id, Team.name == name)):
                continue
            team = registry.add_team(s, town_id=town_id, kind=kind, name=name, standing=True)
            members = rng.sample(volunteers, min(TEAM_SIZE, len(volunteers)))
            registry.add_members(s, team.id, members, leader_id=members[0] if members else None)
            made += 1
    return made


def _users(db: Database, villages: dict[str, int]) -> int:
    made = 0
    with db.transaction() as s:
        hashed = None  # one argon2 hash (with its salt) serves all demo users: the demo loads fast
        for login, name, roles in _staff(villages["塘边村"], villages["坑东村"]):
            if s.scalar(select(AppUser.id).where(AppUser.login == login)) is None:
                u = identity.add_user(s, login=login, name=name, roles=roles)
                u.password_hash = hashed = hashed or passwords.hash_password(DEMO_PASSWORD)
                made += 1
    return made


def load_demo(db: Database, settings: Settings, console=None, *, quarter: bool = True) -> dict:
    f = facts()
    town_id = _town(db, f)
    villages = _villages(db, town_id, f)
    people = sum(_people(db, villages[name], name, i + 1)
                 for i, name in enumerate(f["stations"]))
    teams = _teams(db, town_id, f)
    users = _users(db, villages)
    allocated = 0
    for name, vid in sorted(villages.items(), key=lambda kv: kv[1]):
        r = journal.write_allocation(db, shards=settings.budget_shards, town_id=town_id,
                                     village_id=vid, amount=DEMO_VILLAGE_BUDGET, actor_id=None,
                                     key=f"demo:allocate:{town_id}:{vid}",
                                     memo=f"{name} 演示年度预算")
        allocated += 0 if r.replayed else 1
    from ledger.rules import store
    catalog = store.load_shipped(db)
    summary = {"town_id": town_id, "villages": len(villages), "people_created": people,
               "teams_created": teams, "users_created": users,
               "villages_allocated": allocated, "catalog_version": catalog.version}
    from ledger.stations import demo as stations_demo  # places, menu, plans, a generated quarter
    summary.update(stations_demo.load(db, settings, town_id, villages, quarter=quarter))
    if console is not None and users:
        console.print(f"demo staff logins: {', '.join(u for u, _, _ in _staff(0, 0))}; "
                      f"password [bold]{DEMO_PASSWORD}[/bold] (demo only — change it)")
    return summary
