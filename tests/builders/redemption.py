"""Builders shared by the redemption tests (no tests here). Points, providers and rewards are made
through the service functions users call; towns, villages, households and people through the
registry's own (`ledger.registry.service`)."""

from __future__ import annotations

from ledger.db import Database
from ledger.identity.actor import Actor
from ledger.journal import queries, service
from ledger.journal.accounts import open_account
from ledger.journal.posting import Line, post_entry
from ledger.redemption import catalog
from ledger.redemption.schemas import RewardView
from ledger.registry import service as registry
from tests.builders import name_tag

SHARDS = 4
ADMIN = 1
TOWN_ADMIN = Actor(ADMIN, roles=(("town_admin", None),))


def make_town(db: Database, villages: int = 2) -> dict:
    with db.transaction() as s:
        town = registry.add_town(s, f"宝盖镇{name_tag()}", "石狮市", "泉州市")
        ids = {"town": town.id, "villages": [registry.add_village(s, town.id, f"塘边村{i}").id
                                             for i in range(villages)]}
    for v in ids["villages"]:
        service.allocate(db, shards=SHARDS, town_id=ids["town"], village_id=v,
                         amount=1_000_000, actor_id=ADMIN, key=None)
    return ids


def make_household(db: Database, village_id: int) -> int:
    with db.transaction() as s:
        return registry.add_household(s, registry.HouseholdDraft(village_id, "陈家")).id


def make_people(db: Database, village_id: int, n: int, *, household_id: int | None = None,
                volunteer: bool = True) -> list[int]:
    with db.transaction() as s:
        return registry.add_people(s, [registry.PersonDraft(
            village_id, f"志愿者{i}", household_id=household_id, is_volunteer=volunteer)
            for i in range(n)])


def make_person(db: Database, village_id: int, **kw) -> int:
    return make_people(db, village_id, 1, **kw)[0]


def give_points(db: Database, holder_type: str, holder_id: int, village_id: int,
                amount: int) -> None:
    service.adjust(db, shards=SHARDS, village_id=village_id, holder_type=holder_type,
                   holder_id=holder_id, amount=amount, memo="测试奖励", actor_id=ADMIN, key=None)


def points(db: Database, holder_type: str, holder_id: int) -> dict:
    with db.transaction() as s:
        return queries.account_view(queries.get_account(s, open_account(
            s, holder_type=holder_type, holder_id=holder_id, purpose="points")))


def make_shop(db: Database, town_id: int, name: str = "塘边村积分超市",
              village_id: int | None = None, clerks: tuple[int, ...] = ()) -> int:
    p = catalog.create_provider(db, TOWN_ADMIN, town_id=town_id, name=name, kind="shop",
                                village_id=village_id, key=None)
    for user in clerks:
        catalog.assign_clerk(db, TOWN_ADMIN, provider_id=p.id, user_id=user, key=None)
    return p.id


def make_reward(db: Database, provider_id: int, *, stock: int | None = None,
                **fields) -> RewardView:
    base = {"name": "电影票", "kind": "film_ticket", "cost_points": 10}
    return catalog.create_reward(db, TOWN_ADMIN, provider_id=provider_id,
                                 fields={**base, **fields}, stock=stock, key=None)


def reward_row(db: Database, reward_id: int) -> dict:
    with db.sessions() as s:
        return catalog.reward_view(catalog.get_reward(s, reward_id))


def serve(db, town_id, person_id, minutes, at):
    """Certified service minutes, booked as the activities package books them."""
    with db.transaction() as s:
        source = open_account(s, holder_type="town", holder_id=town_id, purpose="service",
                              unit="minutes")
        mine = open_account(s, holder_type="person", holder_id=person_id, purpose="points",
                            unit="minutes")
        post_entry(s, unit="minutes", kind="service", lines=[Line.of(mine, minutes),
                                                             Line.of(source, -minutes)],
                   source="test", now=at)
