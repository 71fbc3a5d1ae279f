"""Builders shared by the registry and auth tests (no tests here). Everything is made through
the registry's and identity's own service functions."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

from ledger.db import Database
from ledger.identity import service as identity
from ledger.journal import service as journal
from ledger.registry import service as registry
from ledger.registry.privacy import id_check_digit
from tests.builders import name_tag

SHARDS = 4
BUDGET = 1_000_000
_seq = itertools.count(1)


def fake_id(n: int | None = None) -> str:
    """A valid-looking resident ID number in the nonexistent region 999999."""
    n = next(_seq) if n is None else n
    first17 = f"999999{1950 + n % 50}0101{n % 1000:03d}"
    return first17 + id_check_digit(first17)


def fake_phone(n: int | None = None) -> str:
    return f"1700000{(next(_seq) if n is None else n) % 10000:04d}"


@dataclass
class World:
    town_id: int
    own: int  # the village the scoped roles hold
    other: int
    own_name: str
    other_name: str


def make_world(db: Database, *, fund: bool = True) -> World:
    tag = name_tag()
    with db.transaction() as s:
        town = registry.add_town(s, f"宝盖镇{tag}", "石狮市", "泉州市")
        v1 = registry.add_village(s, town.id, f"塘边村{tag}")
        v2 = registry.add_village(s, town.id, f"坑东村{tag}")
        w = World(town.id, v1.id, v2.id, v1.name, v2.name)
    if fund:
        for v in (w.own, w.other):
            journal.allocate(db, shards=SHARDS, town_id=w.town_id, village_id=v, amount=BUDGET,
                             actor_id=None, key=None)
    return w


def make_household(db: Database, village_id: int, *, members: int = 2,
                   volunteer_phone: str | None = None) -> dict:
    """A household with `members` people; the first is a volunteer (with a phone if given)."""
    with db.transaction() as s:
        people = tuple(registry.PersonDraft(
            village_id, f"陈某{'甲乙丙丁戊己'[i % 6]}", phone=volunteer_phone if i == 0 else None,
            id_number=fake_id(), is_volunteer=i == 0) for i in range(members))
        h = registry.add_household(s, registry.HouseholdDraft(village_id, "陈某甲", "演示路1号",
                                                              members=people))
        from sqlalchemy import select

        from ledger.registry.models import Person
        ids = list(s.scalars(select(Person.id).where(Person.household_id == h.id)
                             .order_by(Person.id)))
        return {"id": h.id, "plate_code": h.plate_code, "people": ids}


def make_person(db: Database, village_id: int, **kw) -> int:
    kw.setdefault("id_number", fake_id())
    with db.transaction() as s:
        return registry.add_person(s, registry.PersonDraft(village_id, kw.pop("name", "林某乙"),
                                                           **kw)).id


def make_team(db: Database, w: World, village_id: int | None) -> int:
    with db.transaction() as s:
        return registry.add_team(s, town_id=w.town_id, kind="卫生环保",
                                 name=f"卫生环保志愿服务队{name_tag(6)}",
                                 village_id=village_id).id


def make_user(db: Database, roles=(), *, password: str | None = "correct-horse-9",
              login: str | None = None, person_id: int | None = None) -> int:
    with db.transaction() as s:
        return identity.add_user(s, login=login or f"u{uuid.uuid4().hex[:10]}", name="测试用户",
                                 password=password, roles=roles, person_id=person_id).id
