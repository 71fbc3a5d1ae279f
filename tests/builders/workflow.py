"""A village for the workflow page tests: Baogai's catalog, a village named 塘边村 (its
items go on public notice for 3 days) or another name (posted at once), a household with a
resident, and their plate."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.registry.models import Household, Village
from ledger.rules import store
from tests.builders.redemption import make_household, make_person, make_town


@dataclass
class World:
    town: int
    village: int
    household: int
    plate: str
    resident: int


def world(db, *, village_name: str = "塘边村") -> World:
    store.load_shipped(db)
    town = make_town(db, villages=1)
    v = town["villages"][0]
    with db.transaction() as s:
        s.get(Village, v).name = village_name
    hh = make_household(db, v)
    resident = make_person(db, v, household_id=hh)
    with db.sessions() as s:
        plate = s.get(Household, hh).plate_code
    return World(town["town"], v, hh, plate, resident)
