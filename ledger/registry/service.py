"""Adding to the registry inside a caller's transaction: towns, villages, households, people
and teams, each holder with its points account opened in the same transaction, many at a time
for imports and the demo. Input is checked here (names, phones, ID numbers, limits); who may
do it is checked by the commands (ledger/registry/commands.py)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ledger.registry import lookup
from ledger.registry.models import Household, Person, Team, TeamMember, Town, Village
from ledger.registry.privacy import normalize_id_number, normalize_phone
from ledger.errors import Conflict, InvalidInput, LimitExceeded, NotFound
from ledger.journal.accounts import DEFAULT_OVERDRAFT, open_account
from ledger.journal.models import GENESIS_HASH, Account, HolderType, Purpose, Unit
from ledger.timeutil import utcnow

VILLAGE_KINDS = ("village", "community", "institute", "point")
MAX_NAME_CHARS = 50
MAX_ADDRESS_CHARS = 200
MAX_TEAM_NAME_CHARS = 100
MAX_MEMBERS_PER_HOUSEHOLD = 30
MAX_TEAM_MEMBERS = 5000
MAX_VILLAGES_PER_TOWN = 500
PLATE_CODE_BYTES = 12  # secrets.token_urlsafe → 16 characters, 96 random bits


def new_plate_code() -> str:
    return secrets.token_urlsafe(PLATE_CODE_BYTES)


def village_kind(name: str) -> str:
    return "community" if name.endswith("社区") else "village"


def clean_name(raw: str | None, what: str = "name", max_chars: int = MAX_NAME_CHARS) -> str:
    name = (raw or "").strip()
    if not name:
        raise InvalidInput(f"{what} 不能为空 (must not be empty)", code=f"{what}_required")
    if len(name) > max_chars or not name.isprintable():
        raise InvalidInput(f"{what}: at most {max_chars} printable characters",
                           code=f"{what}_invalid")
    return name


def check_address(raw: str | None) -> str:
    a = (raw or "").strip()
    if len(a) > MAX_ADDRESS_CHARS or not a.isprintable():
        raise InvalidInput(f"address: at most {MAX_ADDRESS_CHARS} printable characters",
                           code="address_invalid")
    return a


def check_phone(raw: str | None) -> str | None:
    try:
        return normalize_phone(raw)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="phone_invalid") from None


def check_id_number(raw: str | None) -> str | None:
    try:
        return normalize_id_number(raw)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="id_number_invalid") from None


@dataclass(frozen=True)
class PersonDraft:
    village_id: int
    name: str
    household_id: int | None = None
    phone: str | None = None
    id_number: str | None = None
    is_volunteer: bool = False


@dataclass(frozen=True)
class HouseholdDraft:
    village_id: int
    head_name: str
    address: str = ""
    plate_code: str | None = None  # kept when moving a registry between databases
    members: tuple[PersonDraft, ...] = field(default_factory=tuple)


# --- inside a caller's session ------------------------------------------------------------

def add_town(s: Session, name: str, city: str = "", prefecture: str = "",
             now: datetime | None = None) -> Town:
    t = Town(name=clean_name(name, "town_name"), city=city, prefecture=prefecture,
             created_at=now or utcnow())
    s.add(t)
    s.flush()
    open_account(s, holder_type=HolderType.TOWN, holder_id=t.id, purpose=Purpose.FUNDING)
    return t


def add_village(s: Session, town_id: int, name: str, kind: str | None = None,
                now: datetime | None = None) -> Village:
    name = clean_name(name, "village_name")
    kind = kind or village_kind(name)
    if kind not in VILLAGE_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(VILLAGE_KINDS)}",
                           code="village_kind_invalid")
    if s.get(Town, town_id) is None:
        raise NotFound(f"town {town_id} does not exist", code="town_not_found")
    if s.scalar(select(Village.id).where(Village.town_id == town_id, Village.name == name)):
        raise Conflict(f"{name} already exists in this town", code="village_exists")
    n = s.scalar(select(func.count()).select_from(Village).where(Village.town_id == town_id))
    if n >= MAX_VILLAGES_PER_TOWN:
        raise LimitExceeded(f"at most {MAX_VILLAGES_PER_TOWN} villages per town",
                            code="too_many_villages")
    v = Village(town_id=town_id, name=name, kind=kind, created_at=now or utcnow())
    s.add(v)
    s.flush()
    return v


def open_points_accounts(s: Session, holder_type: str, holder_ids: list[int],
                         now: datetime | None = None) -> None:
    """Open the points account of many new holders in one statement: the same rows
    `ledger.journal.accounts.open_account` makes, for imports and the demo. Existing accounts
    are left alone."""
    if not holder_ids:
        return
    if len(holder_ids) == 1:
        open_account(s, holder_type=holder_type, holder_id=holder_ids[0], purpose=Purpose.POINTS)
        return
    now = now or utcnow()
    row = {"unit": str(Unit.POINTS), "holder_type": str(holder_type),
           "purpose": str(Purpose.POINTS), "shard": 0,
           "overdraft": str(DEFAULT_OVERDRAFT[Purpose.POINTS]), "balance": 0, "pending_out": 0,
           "pending_in": 0, "posting_count": 0, "head_hash": GENESIS_HASH, "created_at": now}
    rows = [{**row, "holder_id": h} for h in holder_ids]
    ins = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    # On the Table, not the class: a Core executemany, without the ORM's bulk bookkeeping
    # (half the time of a 20,000-household import).
    s.execute(ins(Account.__table__).on_conflict_do_nothing(), rows)


def add_households(s: Session, drafts: list[HouseholdDraft], now: datetime | None = None
                   ) -> list[int]:
    """Add households (and their members), each with its points account."""
    now = now or utcnow()
    if not drafts:
        return []
    _villages_exist(s, {d.village_id for d in drafts})
    given = [d.plate_code for d in drafts if d.plate_code]
    if len(set(given)) != len(given):
        raise Conflict("one plate code given twice", code="plate_taken")
    if given and s.scalar(select(Household.id).where(Household.plate_code.in_(given)).limit(1)):
        raise Conflict("a plate code is taken", code="plate_taken")
    rows = [{"village_id": d.village_id, "plate_code": d.plate_code or new_plate_code(),
             "head_name": clean_name(d.head_name, "head_name"),
             "address": check_address(d.address), "created_at": now} for d in drafts]
    table = Household.__table__
    ids = list(s.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True)
                         .execution_options(render_nulls=True), rows))
    open_points_accounts(s, HolderType.HOUSEHOLD, ids, now)
    people = [PersonDraft(d.village_id, m.name, hid, m.phone, m.id_number, m.is_volunteer)
              for d, hid in zip(drafts, ids, strict=True) for m in d.members]
    add_people(s, people, now)
    return ids


def add_household(s: Session, d: HouseholdDraft, now: datetime | None = None) -> Household:
    return s.get(Household, add_households(s, [d], now)[0])


def _villages_exist(s: Session, ids: set[int]) -> None:
    found = set(s.scalars(select(Village.id).where(Village.id.in_(ids))))
    for vid in sorted(ids - found):
        raise NotFound(f"village {vid} does not exist", code="village_not_found")


def add_people(s: Session, drafts: list[PersonDraft], now: datetime | None = None, *,
               checked: bool = False) -> list[int]:
    """Add people, each with their points account. `checked` skips the uniqueness look-ups
    (the importer made them for the whole file); the database still enforces ID numbers."""
    now = now or utcnow()
    if not drafts:
        return []
    _villages_exist(s, {d.village_id for d in drafts})
    rows = [{"village_id": d.village_id, "household_id": d.household_id,
             "name": clean_name(d.name), "phone": check_phone(d.phone),
             "id_number": check_id_number(d.id_number), "is_volunteer": d.is_volunteer,
             "created_at": now} for d in drafts]
    check_households(s, drafts)
    if not checked:
        _check_unique_many(s, rows)
    table = Person.__table__
    ids = list(s.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True)
                         .execution_options(render_nulls=True), rows))
    open_points_accounts(s, HolderType.PERSON, ids, now)
    return ids


def add_person(s: Session, d: PersonDraft, now: datetime | None = None, *,
               checked: bool = False) -> Person:
    return s.get(Person, add_people(s, [d], now, checked=checked)[0])


def check_households(s: Session, drafts: list[PersonDraft]) -> None:
    adding: dict[int, int] = {}
    for d in drafts:
        if d.household_id is not None:
            adding[d.household_id] = adding.get(d.household_id, 0) + 1
    if not adding:
        return
    homes = dict(s.execute(select(Household.id, Household.village_id)
                           .where(Household.id.in_(adding))).all())
    counts = dict(s.execute(select(Person.household_id, func.count())
                            .where(Person.household_id.in_(adding))
                            .group_by(Person.household_id)).all())
    for d in drafts:
        if d.household_id is None:
            continue
        if d.household_id not in homes:
            raise NotFound(f"household {d.household_id} does not exist",
                           code="household_not_found")
        if homes[d.household_id] != d.village_id:
            raise InvalidInput("the household belongs to another village",
                               code="household_village_mismatch")
    for hid, n in adding.items():
        if counts.get(hid, 0) + n > MAX_MEMBERS_PER_HOUSEHOLD:
            raise LimitExceeded(f"at most {MAX_MEMBERS_PER_HOUSEHOLD} people per household",
                                code="household_full")


def _check_unique_many(s: Session, rows: list[dict]) -> None:
    ids = [r["id_number"] for r in rows if r["id_number"]]
    phones = [r["phone"] for r in rows if r["phone"] and r["is_volunteer"]]
    if len(set(ids)) != len(ids):
        raise Conflict("one ID number given twice", code="id_number_taken")
    if len(set(phones)) != len(phones):
        raise Conflict("two volunteers with one phone", code="phone_taken")
    for i in range(0, len(ids), 500):
        if s.scalar(select(Person.id).where(Person.id_number.in_(ids[i:i + 500])).limit(1)):
            raise Conflict("该身份证号已登记 (this ID number is registered already)",
                           code="id_number_taken")
    for i in range(0, len(phones), 500):
        if s.scalar(select(Person.id).where(Person.phone.in_(phones[i:i + 500]),
                                            Person.is_volunteer.is_(True)).limit(1)):
            raise Conflict("该手机号已被另一位志愿者使用 (another volunteer has this phone)",
                           code="phone_taken")


def check_unique(s: Session, id_number: str | None, volunteer_phone: str | None,
                  person_id: int | None) -> None:
    """For a change of one person: the ID number and volunteer phone are nobody else's."""
    if id_number:
        other = s.scalar(select(Person.id).where(Person.id_number == id_number))
        if other is not None and other != person_id:
            raise Conflict("该身份证号已登记 (this ID number is registered already)",
                           code="id_number_taken")
    if volunteer_phone:  # a volunteer signs in by phone: one volunteer per number
        other = s.scalar(select(Person.id).where(Person.phone == volunteer_phone,
                                                 Person.is_volunteer.is_(True)))
        if other is not None and other != person_id:
            raise Conflict("该手机号已被另一位志愿者使用 (another volunteer has this phone)",
                           code="phone_taken")


def add_team(s: Session, *, town_id: int, kind: str, name: str, village_id: int | None = None,
             standing: bool = False, now: datetime | None = None) -> Team:
    if s.get(Town, town_id) is None:
        raise NotFound(f"town {town_id} does not exist", code="town_not_found")
    if village_id is not None and lookup.village(s, village_id).town_id != town_id:
        raise InvalidInput("the village belongs to another town", code="village_town_mismatch")
    t = Team(town_id=town_id, village_id=village_id, kind=clean_name(kind, "team_kind"),
             name=clean_name(name, "team_name", MAX_TEAM_NAME_CHARS), standing=standing,
             created_at=now or utcnow())
    s.add(t)
    s.flush()
    open_account(s, holder_type=HolderType.TEAM, holder_id=t.id, purpose=Purpose.POINTS)
    return t


def add_members(s: Session, team_id: int, person_ids: list[int], *,
                leader_id: int | None = None, now: datetime | None = None) -> int:
    """Add people to a team (one statement); `leader_id` among them leads it."""
    if s.get(Team, team_id) is None:
        raise NotFound(f"team {team_id} does not exist", code="team_not_found")
    wanted = list(dict.fromkeys(person_ids))
    found = set(s.scalars(select(Person.id).where(Person.id.in_(wanted)))) if wanted else set()
    for pid in wanted:
        if pid not in found:
            raise NotFound(f"person {pid} does not exist", code="person_not_found")
    if wanted and s.scalar(select(TeamMember.person_id).where(
            TeamMember.team_id == team_id, TeamMember.person_id.in_(wanted)).limit(1)):
        raise Conflict("already a member of this team", code="team_member_exists")
    n = s.scalar(select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team_id))
    if n + len(wanted) > MAX_TEAM_MEMBERS:
        raise LimitExceeded(f"at most {MAX_TEAM_MEMBERS} members per team", code="team_full")
    now = now or utcnow()
    if wanted:
        s.execute(insert(TeamMember), [
            {"team_id": team_id, "person_id": pid, "is_leader": pid == leader_id, "joined_at": now}
            for pid in wanted])
    return len(wanted)


def add_member(s: Session, team_id: int, person_id: int, *, is_leader: bool = False,
               now: datetime | None = None) -> TeamMember:
    add_members(s, team_id, [person_id], leader_id=person_id if is_leader else None, now=now)
    return s.get(TeamMember, (team_id, person_id))
