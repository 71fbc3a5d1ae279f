"""Builders shared by the rule-engine tests (no tests here). Catalogs, awards and workflows go
through the service functions users call; towns, villages, households and people through the
registry's own (`ledger.registry.service`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from ledger.db import Database
from ledger.identity.actor import Actor
from ledger.journal import service
from ledger.journal.models import Account
from ledger.registry import service as registry
from ledger.rules import store

SHARDS = 4
BUDGET = 1_000_000
# 2026-03-10 10:00 Beijing time: not an activity day (the 5th), mid-month, mid-quarter.
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


@dataclass
class World:
    town: int
    villages: dict[str, int]
    households: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)


def make_world(db: Database, villages=("塘后村", "坑东村", "塘边村"), budget: int = BUDGET
               ) -> World:
    with db.transaction() as s:
        town = registry.add_town(s, "宝盖镇", "石狮市", "泉州市")
        w = World(town.id, {n: registry.add_village(s, town.id, n).id for n in villages})
    for vid in w.villages.values():
        if budget:
            service.allocate(db, shards=SHARDS, town_id=w.town, village_id=vid, amount=budget,
                             actor_id=1, key=None)
    return w


def add_household(db: Database, w: World, name: str, village: str = "塘后村") -> int:
    with db.transaction() as s:
        h = registry.add_household(s, registry.HouseholdDraft(w.villages[village], name))
        w.households[name] = h.id
        return h.id


def add_person(db: Database, w: World, name: str, village: str = "塘后村",
               household: str | None = None) -> int:
    with db.transaction() as s:
        p = registry.add_person(s, registry.PersonDraft(
            w.villages[village], name,
            household_id=w.households[household] if household else None))
        w.people[name] = p.id
        return p.id


def family(db: Database, w: World, village: str = "塘后村", tag: str = "陈") -> tuple[int, int]:
    """A household with one member: (household id, person id)."""
    h = add_household(db, w, f"{tag}家", village)
    return h, add_person(db, w, f"{tag}一", village, f"{tag}家")


def staff(user_id: int, *roles: str, village_id: int | None = None,
          person_id: int | None = None) -> Actor:
    return Actor(user_id, roles=tuple((r, village_id) for r in roles), person_id=person_id)


def load(db: Database, *codes: str) -> None:
    for code in codes:
        store.load_shipped(db, code)


def balance(db: Database, holder_type: str, holder_id: int, unit: str = "points") -> int:
    with db.sessions() as s:
        return s.scalar(select(Account.balance).where(
            Account.holder_type == holder_type, Account.holder_id == holder_id,
            Account.purpose == "points", Account.unit == unit)) or 0


def pending_points(db: Database, village_id: int) -> int:
    with db.sessions() as s:
        return s.scalar(select(Account.balance).where(
            Account.holder_type == "village", Account.holder_id == village_id,
            Account.purpose == "transit")) or 0
