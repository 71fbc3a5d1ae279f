"""Builders shared by the activities tests (no tests here). Activities, sign-ups and scans go
through the service functions users call; towns, villages, households and people through the
registry's own functions (`ledger.registry.service`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from ledger.activities import planning, tokens
from ledger.activities import service as checkin
from ledger.activities.planning import ActivityDraft, Actor
from ledger.db import Database
from ledger.journal import service as journal
from ledger.journal.models import Account, HolderType, Purpose, Unit
from ledger.registry import service as registry
from ledger.registry.models import Person
from ledger.registry.privacy import id_check_digit
from ledger.rules import store
from tests.builders import name_tag

SHARDS = 4
# 2026-03-05 09:00 in Baogai (UTC+8): the town's monthly activity day (每月5日).
T0 = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
ORGANIZER_ID = 700
ADMIN_ID = 800
BUDGET = 1_000_000
# The rule items the tests use. Per-hour items used by check-ins say `book_minutes: false`:
# the attendance books the minutes itself.
CATALOG = """
catalog:
  code: checkins
  name: 签到测试目录
  town: 宝盖镇
  effective_from: 2024-01-01
  approval: {approved_by: 测试单位, decision: 测试〔2026〕1号}
  subjects: [person, household]
  recorders: [inspector, organizer, admin]
categories:
  - code: A
    name: 志愿服务
    items:
      - {code: H1, name: 志愿服务（按小时）, per: hour, points: 2, book_minutes: false,
         max_minutes_per_activity: 180, subjects: [person]}
      - {code: P1, name: 参加理论宣讲, points: 3, subjects: [person]}
      - {code: R1, name: 参加应急救援, points: 5, review: true, subjects: [person]}
      - {code: M1, name: 按小时计时长的条目, per: hour, points: 1, subjects: [person]}
  - code: C
    name: 美丽家园
    items:
      - {code: C01, name: 庭院整洁（月度）, points: 5, once_per: month, subjects: [household]}
      - {code: C06, name: 房前屋后乱堆乱放, points: -2, subjects: [household]}
      - {code: C10, name: 生活污水乱排, points: -5, subjects: [household], evidence: [photo]}
"""


@dataclass
class World:
    town_id: int
    village_id: int
    other_village_id: int
    people: list[int]
    household_id: int
    plate_code: str
    organizer: Actor = field(init=False)
    admin: Actor = field(init=False)

    def __post_init__(self) -> None:
        self.organizer = Actor(ORGANIZER_ID, roles=(("organizer", self.village_id),))
        self.admin = Actor(ADMIN_ID, roles=(("village_admin", self.village_id),))

    def volunteer(self, i: int) -> Actor:
        return Actor(5000 + i, person_id=self.people[i], roles=(("volunteer", None),))


def _id_number(i: int) -> str:
    """A valid resident ID number of Shishi (350581), born 1990-01-01, the i-th of that day."""
    first17 = f"35058119900101{i:03d}"
    return first17 + id_check_digit(first17)


def make_world(db: Database, n_people: int = 6, *, fund: bool = True) -> World:
    with db.transaction() as s:
        town = registry.add_town(s, f"宝盖镇{name_tag()}", "石狮市", "泉州市")
        v1 = registry.add_village(s, town.id, "塘边村")
        v2 = registry.add_village(s, town.id, "坑东村")
        hh = registry.add_household(s, registry.HouseholdDraft(v1.id, "陈大明", "塘边村 1 号"))
        people = registry.add_people(s, [registry.PersonDraft(
            v1.id, f"林志愿{i}", household_id=hh.id if i == 0 else None,
            phone=f"1380000{i:04d}", id_number=_id_number(i), is_volunteer=True)
            for i in range(n_people)])
        w = World(town.id, v1.id, v2.id, people, hh.id, hh.plate_code)
    store.import_catalog(db, CATALOG, actor_id=ADMIN_ID, town_id=w.town_id)
    if fund:
        for v in (w.village_id, w.other_village_id):
            journal.allocate(db, shards=SHARDS, town_id=w.town_id, village_id=v, amount=BUDGET,
                             actor_id=ADMIN_ID, key=None)
    return w


def make_activity(db: Database, w: World, *, open_it: bool = True, start: datetime = T0,
                  hours: float = 2, now: datetime | None = None, **kw) -> dict:
    kw.setdefault("rule_item_code", "H1")
    d = ActivityDraft(village_id=w.village_id, title=kw.pop("title", "家园清洁志愿活动"),
                      starts_at=start, ends_at=start + timedelta(hours=hours),
                      place="塘边村文化广场", **kw)
    act = planning.create_activity(db, w.organizer, d, now=now or start - timedelta(days=1))
    if open_it:
        act = planning.set_status(db, w.organizer, act.id, "open",
                                  now=now or start - timedelta(days=1))
    return act


def rotating(settings, act: dict, at: datetime) -> str:
    return tokens.rotating_token(settings.secret_key, act.id, act.rotate_s, at)[0]


def static(settings, act: dict, version: int = 1) -> str:
    return tokens.static_token(settings.secret_key, act.id, version)


def scan(db: Database, settings, w: World, act: dict, i: int, at: datetime, *,
         token: str | None = None, limiter=None, **kw) -> dict:
    return checkin.scan(db, settings, checkin.Scan(
        token=token or rotating(settings, act, at), person_id=w.people[i], user_id=5000 + i,
        ip=kw.pop("ip", "10.0.0.1"), **kw), limiter=limiter, now=at)


def minutes_of(db: Database, person_id: int) -> dict:
    """Certified and pending minutes straight from the account rows."""
    with db.sessions() as s:
        rows = s.execute(select(Account.purpose, Account.balance).where(
            Account.unit == Unit.MINUTES, Account.holder_type == HolderType.PERSON,
            Account.holder_id == person_id)).all()
    by = dict(rows)
    return {"certified": by.get(Purpose.POINTS, 0), "pending": by.get(Purpose.TRANSIT, 0)}


def people(db: Database) -> list[Person]:
    with db.sessions() as s:
        return list(s.scalars(select(Person)))


def points_of(db: Database, holder_type: str, holder_id: int) -> int:
    with db.sessions() as s:
        return s.scalar(select(Account.balance).where(
            Account.unit == Unit.POINTS, Account.holder_type == holder_type,
            Account.holder_id == holder_id, Account.purpose == Purpose.POINTS)) or 0


def attendance(db: Database, attendance_id: int):
    from ledger.activities.models import Attendance
    with db.sessions() as s:
        return s.get(Attendance, attendance_id)
