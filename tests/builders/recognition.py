"""Builders shared by the recognition and worker tests (no tests here). Points and minutes go
through the ledger's flows (book.award / book.deduct / the activities' minutes booking), as the
rule engine and check-ins post them; towns, villages, households, people and teams through the
registry's own functions (`ledger.registry.service`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ledger import outbox
from ledger.activities.minutes import book_minutes
from ledger.db import Database
from ledger.journal import book
from ledger.journal import service as journal
from ledger.recognition import leaderboards, rollups
from ledger.registry import service as registry
from ledger.timeutil import utcnow
from tests.builders import name_tag

SHARDS = 4
BUDGET = 10_000_000
ADMIN = 900


@dataclass
class World:
    town: int
    villages: list[int]
    people: list[int] = field(default_factory=list)
    households: list[int] = field(default_factory=list)
    teams: list[int] = field(default_factory=list)

    def village_of_person(self, i: int) -> int:
        return self.villages[i % len(self.villages)]


def make_world(db: Database, *, people: int = 6, households: int = 4, villages: int = 2,
               fund: bool = True) -> World:
    """A town with villages; people and households alternate between the villages."""
    outbox.attach(db, outbox.inline)  # the embedded default, whatever the environment says
    leaderboards.configure(db.engine, None)
    now = utcnow()
    with db.transaction() as s:
        town = registry.add_town(s, f"宝盖镇{name_tag()}", "石狮市", "泉州市", now)
        w = World(town.id, [registry.add_village(s, town.id, n, now=now).id
                            for n in ("塘边村", "坑东村", "前园村")[:villages]])
        w.households = registry.add_households(s, [registry.HouseholdDraft(
            w.villages[i % villages], f"陈{'一二三四五六七八'[i % 8]}明")
            for i in range(households)], now)
        w.people = registry.add_people(s, [registry.PersonDraft(
            w.villages[i % villages], f"林志{'甲乙丙丁戊己庚辛'[i % 8]}{i}", is_volunteer=True)
            for i in range(people)], now)
    if fund:
        for v in w.villages:
            journal.allocate(db, shards=SHARDS, town_id=w.town, village_id=v, amount=BUDGET,
                             actor_id=ADMIN, key=None)
    return w


def add_team(db: Database, w: World, name: str = "卫生环保志愿服务队", *,
             members: list[int] = (), village: int | None = None) -> int:
    with db.transaction() as s:
        t = registry.add_team(s, town_id=w.town, kind="卫生环保", name=name, village_id=village,
                              standing=True)
        if members:
            registry.add_members(s, t.id, list(members))
        w.teams.append(t.id)
        return t.id


def _followed(db: Database, entry_id: int, follow: bool) -> int:
    """The tests look right after a write: follow it now (the embedded default follows at
    most once a second, the worker every few seconds)."""
    if follow:
        rollups.catch_up(db, mode="new")
    return entry_id


def award(db: Database, village: int, holder_type: str, holder_id: int, amount: int, *,
          item: str = "A01", at: datetime | None = None, follow: bool = True) -> int:
    """Points from the village budget, explained like the rule engine explains them."""
    return _followed(db, book.write(db, lambda s: book.award(
        s, village_id=village, holder_type=holder_type, holder_id=holder_id, amount=amount,
        shards=SHARDS, source="rule", details={"item": item}, now=at).as_dict()
    ).result["entry_id"], follow)


def deduct(db: Database, village: int, holder_type: str, holder_id: int, amount: int, *,
           item: str = "C06", at: datetime | None = None) -> int:
    return _followed(db, book.write(db, lambda s: book.deduct(
        s, village_id=village, holder_type=holder_type, holder_id=holder_id, amount=amount,
        shards=SHARDS, source="rule", details={"item": item}, now=at).as_dict()
    ).result["entry_id"], True)


def reverse(db: Database, entry_id: int) -> int:
    return _followed(db, journal.reverse(db, entry_id=entry_id, reason="录入错误",
                                         actor_id=ADMIN, key=None).entry_id, True)


def serve(db: Database, w: World, person: int, minutes: int, *,
          at: datetime | None = None, follow: bool = True) -> int:
    """Certified service minutes, booked the way check-outs book them."""
    ref = uuid.uuid4().int % 10**9
    return _followed(db, book.write(db, lambda s: book_minutes(
        s, town_id=w.town, person_id=person, minutes=minutes, certified=True,
        attendance_id=ref, actor_id=ADMIN, details={"attendance_id": ref}, shards=SHARDS,
        now=at).as_dict()).result["entry_id"], follow)


def months_ago(n: int, now: datetime | None = None) -> datetime:
    """An instant n months before now, mid-month (safely inside that local month)."""
    now = now or utcnow()
    y, m = divmod(now.year * 12 + now.month - 1 - n, 12)
    return datetime(y, m + 1, 15, 4, 0, tzinfo=UTC)


def rebuild_equals_live(db: Database) -> tuple[dict, dict]:
    """(live rollups, rollups rebuilt from the journal)."""
    rollups.catch_up(db, mode="full")
    with db.sessions() as s:
        live = rollups.snapshot(s)
    rollups.rebuild(db)
    with db.sessions() as s:
        return live, rollups.snapshot(s)


def later(at: datetime, **kw) -> datetime:
    return at + timedelta(**kw)
