"""Reading the registry: a person, household or team with its village (for rule checks such as
"no one records points for their own household"), pages of households and people for a
village, and the views the API returns, masked as the caller's role requires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from ledger.registry.models import Household, Person, Team, TeamMember, Town, Village
from ledger.registry.privacy import mask_id_number, mask_phone, sees_phone
from ledger.registry.schemas import (HouseholdView, PersonView, PublicHousehold, TeamView,
                                     TownView, VillageView)
from ledger.view import typed
from ledger.db import Database
from ledger import paging
from ledger.errors import InvalidInput, NotFound
from ledger.identity.actor import is_self_or_household, require
from ledger.identity.roles import REGISTRY_READERS
from ledger.timeutil import LOCAL_TZ, utcnow

DEFAULT_PAGE = paging.DEFAULT_PAGE
MAX_QUERY_CHARS = 50
MAX_PLATE_CODE_CHARS = 64  # longer than any plate code: the rest is never read


@dataclass(frozen=True)
class HolderRef:
    """Where a holder belongs: its village (and town), and for a person the household."""

    holder_type: str
    holder_id: int
    village_id: int | None
    village_name: str
    town_id: int
    household_id: int | None


def village(s: Session, village_id: int) -> Village:
    v = s.get(Village, village_id)
    if v is None:
        raise NotFound(f"village {village_id} does not exist", code="village_not_found")
    return v


def person_with_village(s: Session, person_id: int) -> tuple[Person, Village]:
    row = s.execute(select(Person, Village).join(Village, Village.id == Person.village_id)
                    .where(Person.id == person_id)).first()
    if row is None:
        raise NotFound(f"person {person_id} does not exist", code="person_not_found")
    return row[0], row[1]


def household_with_village(s: Session, household_id: int) -> tuple[Household, Village]:
    row = s.execute(select(Household, Village).join(Village, Village.id == Household.village_id)
                    .where(Household.id == household_id)).first()
    if row is None:
        raise NotFound(f"household {household_id} does not exist", code="household_not_found")
    return row[0], row[1]


_BY_PLATE = (select(Household, Village).join(Village, Village.id == Household.village_id)
             .where(Household.plate_code == bindparam("plate")))  # built once: a public page's


def household_by_plate(s: Session, plate_code: str) -> tuple[Household, Village]:
    row = s.execute(_BY_PLATE, {"plate": plate_code}).first()
    if row is None:
        raise NotFound("没有这个门牌 (no such door plate)", code="plate_not_found")
    return row[0], row[1]


def household_of_plate(db: Database, plate_code: str) -> int:
    """The id of the household a door plate names (404 `plate_not_found`), for a form that
    moves a person by the plate on their door."""
    with db.sessions() as s:
        return household_by_plate(s, plate_code[:MAX_PLATE_CODE_CHARS])[0].id


def holder_ref(s: Session, holder_type: str, holder_id: int) -> HolderRef:
    """The village (and household) of any points holder: person, household or team."""
    if holder_type == "person":
        p, v = person_with_village(s, holder_id)
        return HolderRef("person", p.id, v.id, v.name, v.town_id, p.household_id)
    if holder_type == "household":
        h, v = household_with_village(s, holder_id)
        return HolderRef("household", h.id, v.id, v.name, v.town_id, h.id)
    if holder_type == "team":
        t = s.get(Team, holder_id)
        if t is None:
            raise NotFound(f"team {holder_id} does not exist", code="team_not_found")
        v = s.get(Village, t.village_id) if t.village_id is not None else None
        return HolderRef("team", t.id, t.village_id, v.name if v else "", t.town_id, None)
    raise InvalidInput(f"holder type must be person, household or team, not {holder_type!r}",
                       code="holder_type_invalid")


def _iso(dt) -> str | None:
    return dt.isoformat() if dt is not None else None


def person_view(p: Person, v: Village, actor=None) -> dict:
    """A person as a response shows them: the phone in full only for the roles that call
    residents (privacy.sees_phone), the ID number always masked."""
    return {"id": p.id, "name": p.name, "village_id": v.id, "village": v.name,
            "household_id": p.household_id,
            "phone": p.phone if sees_phone(actor, v.id) else mask_phone(p.phone),
            "id_number": mask_id_number(p.id_number), "is_volunteer": p.is_volunteer,
            "left": p.left, "left_at": _iso(p.left_at), "created_at": _iso(p.created_at)}


def household_view(h: Household, v: Village, members: list[dict] | None = None) -> dict:
    d = {"id": h.id, "village_id": v.id, "village": v.name, "plate_code": h.plate_code,
         "head_name": h.head_name, "address": h.address, "created_at": _iso(h.created_at)}
    if members is not None:
        d["members"] = members
    return d


def village_view(v: Village, households: int | None = None) -> dict:
    d = {"id": v.id, "town_id": v.town_id, "name": v.name, "kind": v.kind}
    if households is not None:
        d["households"] = households
    return d


def team_view(t: Team, members: int | None = None) -> dict:
    d = {"id": t.id, "town_id": t.town_id, "village_id": t.village_id, "kind": t.kind,
         "name": t.name, "standing": t.standing, "created_at": _iso(t.created_at)}
    if members is not None:
        d["members"] = members
    return d


def _page(limit: int, after_id: int | None) -> int:
    paging.check_limit(limit)
    if after_id is not None and after_id < 0:
        raise InvalidInput("after_id must not be negative", code="cursor_invalid")
    return limit


def villages(db: Database, town_id: int | None = None, *, counts: bool = True,
             within: set[int] | None = None) -> list[VillageView]:
    """Every village (of a town; of `within`, when given: say, `identity.actor.villages_of`
    for a form's choices), by id, with its household count unless `counts` is false."""
    if within is not None and not within:
        return []
    with db.sessions() as s:
        sizes = dict(s.execute(select(Household.village_id, func.count())
                               .group_by(Household.village_id)).all()) if counts else {}
        q = select(Village).order_by(Village.id)
        if town_id is not None:
            q = q.where(Village.town_id == town_id)
        if within is not None:
            q = q.where(Village.id.in_(sorted(within)))
        return typed([village_view(v, sizes.get(v.id, 0) if counts else None)
                      for v in s.scalars(q)], list[VillageView])


def towns(db: Database) -> list[TownView]:
    with db.sessions() as s:
        return [TownView(id=t.id, name=t.name, city=t.city, prefecture=t.prefecture)
                for t in s.scalars(select(Town).order_by(Town.id))]


def list_households(s: Session, actor, village_id: int, *, after_id: int | None = None,
                    limit: int = DEFAULT_PAGE) -> dict:
    require(actor, REGISTRY_READERS, village_id, "reading households")
    v = village(s, village_id)
    rows = list(s.scalars(select(Household).where(
        Household.village_id == village_id, Household.id > (after_id or 0))
        .order_by(Household.id).limit(_page(limit, after_id))))
    return {"items": [household_view(h, v) for h in rows],
            "next_after_id": rows[-1].id if len(rows) == limit else None}


def households(db: Database, actor, village_id: int, *, after_id: int | None = None,
               limit: int = DEFAULT_PAGE) -> dict:
    """A page of a village's households (`list_households`), in a session of its own."""
    with db.sessions() as s:
        return list_households(s, actor, village_id, after_id=after_id, limit=limit)


def people(db: Database, actor, village_id: int, *, after_id: int | None = None,
           limit: int = DEFAULT_PAGE, q: str | None = None,
           volunteers_only: bool = False) -> dict:
    """A page of a village's people (`{items, next_after_id}`), found by name or volunteers."""
    require(actor, REGISTRY_READERS, village_id, "reading people")
    if q and len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(f"q: at most {MAX_QUERY_CHARS} characters", code="query_too_long")
    with db.sessions() as s:
        v = village(s, village_id)
        query = select(Person).where(Person.village_id == village_id,
                                     Person.id > (after_id or 0))
        if q:
            query = query.where(Person.name.contains(q, autoescape=True))
        if volunteers_only:
            query = query.where(Person.is_volunteer.is_(True))
        rows = list(s.scalars(query.order_by(Person.id).limit(_page(limit, after_id))))
        return {"items": [person_view(p, v, actor) for p in rows],
                "next_after_id": rows[-1].id if len(rows) == limit else None}


def person(db: Database, actor, person_id: int) -> PersonView:
    """A person with their teams: for themself, or the registry's readers of their village."""
    with db.sessions() as s:
        p, v = person_with_village(s, person_id)
        if getattr(actor, "person_id", None) != p.id:
            require(actor, REGISTRY_READERS, v.id, "reading a person")
        view = person_view(p, v, actor)
        view["teams"] = [team_view(t) for t in s.scalars(
            select(Team).join(TeamMember, TeamMember.team_id == Team.id)
            .where(TeamMember.person_id == p.id).order_by(Team.id))]
        return typed(view, PersonView)


def get_household(s: Session, actor, household_id: int) -> dict:
    h, v = household_with_village(s, household_id)
    require(actor, REGISTRY_READERS, v.id, "reading a household")
    members = [person_view(p, v, actor) for p in s.scalars(
        select(Person).where(Person.household_id == h.id).order_by(Person.id))]
    return household_view(h, v, members)


def household(db: Database, actor, household_id: int) -> HouseholdView:
    """A household with its members (`get_household`), in a session of its own."""
    with db.sessions() as s:
        return typed(get_household(s, actor, household_id), HouseholdView)


def teams(db: Database, *, town_id: int | None = None, village_id: int | None = None
          ) -> list[TeamView]:
    """Every team (of a town, of a village), with its member count."""
    with db.sessions() as s:
        counts = dict(s.execute(select(TeamMember.team_id, func.count())
                                .group_by(TeamMember.team_id)).all())
        q = select(Team).order_by(Team.id)
        if town_id is not None:
            q = q.where(Team.town_id == town_id)
        if village_id is not None:
            q = q.where(Team.village_id == village_id)
        return typed([team_view(t, counts.get(t.id, 0)) for t in s.scalars(q)],
                     list[TeamView])


def public_summary(db: Database, plate_code: str, *, now: datetime | None = None
                   ) -> PublicHousehold:
    """What anyone who scans a door plate may see: the village and the household's points,
    this year's (from 1 January, Shishi time) beside the balance — no name, no address, no
    people."""
    local = (now or utcnow()).astimezone(LOCAL_TZ)
    since = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    with db.sessions() as s:
        return _public_summary(s, plate_code[:MAX_PLATE_CODE_CHARS], since=since)


def _public_summary(s: Session, plate_code: str, *, since: datetime) -> PublicHousehold:
    from ledger.journal.models import Account, Posting
    from ledger.rules.store import scale_in_force
    from ledger.units import points_of
    h, v = household_by_plate(s, plate_code)
    acct = s.scalar(select(Account).where(Account.holder_type == "household",
                                          Account.holder_id == h.id,
                                          Account.purpose == "points", Account.unit == "points",
                                          Account.shard == 0))
    year = 0
    if acct is not None:
        year = int(s.scalar(select(func.coalesce(func.sum(Posting.amount), 0)).where(
            Posting.account_id == acct.id, Posting.created_at >= since)))
    town = s.get(Town, v.town_id)
    scale = scale_in_force(s)
    balance = acct.balance if acct else 0
    # In points as people read them (ledger.units), the ledger's steps beside them.
    return PublicHousehold(
        plate_code=h.plate_code, town=town.name if town else "", village=v.name,
        balance_points=points_of(balance, scale), balance_steps=balance,
        score_this_year_points=points_of(year, scale), score_this_year_steps=year, scale=scale)


def plate_url(db: Database, actor, household_id: int, public_base_url: str) -> str:
    """The address a household's door plate points at, for the registry's readers of its
    village (the QR code's text)."""
    from ledger.registry.plates import plate_url as url_of
    with db.sessions() as s:
        h, v = household_with_village(s, household_id)
        require(actor, REGISTRY_READERS, v.id, "printing a door plate")
        return url_of(public_base_url, h.plate_code)


def plates_sheet(db: Database, village_id: int, public_base_url: str) -> bytes:
    """A village's printable A4 sheet of door plates (the caller's role checked at the door)."""
    from ledger.registry.plates import plates_pdf
    with db.sessions() as s:
        town, name, rows = village_plates(s, village_id)
    return plates_pdf(town=town, village=name, plates=rows, public_base_url=public_base_url)


def village_plates(s: Session, village_id: int) -> tuple[str, str, list]:
    """(town name, village name, plates in household order) for a village's plate sheet."""
    from ledger.registry.plates import Plate
    v = village(s, village_id)
    town = s.get(Town, v.town_id)
    rows = s.execute(select(Household.plate_code, Household.address)
                     .where(Household.village_id == village_id).order_by(Household.id))
    return town.name if town else "", v.name, [Plate(c, a) for c, a in rows]


def require_holder_in_village(s: Session, holder_type: str, holder_id: int,
                              village_id: int) -> HolderRef:
    """Refuse (403 forbidden_village) a write that names one village's budget for a holder of
    another: a village pays only its own people, households and teams."""
    from ledger.errors import Forbidden
    ref = holder_ref(s, holder_type, holder_id)
    if ref.village_id != village_id:
        raise Forbidden(f"{holder_type} {holder_id} does not belong to village {village_id}",
                        code="forbidden_village", village_id=village_id)
    return ref


SELF_AWARD_MESSAGE = "不能为本人或本户记分 (no one records points for themself or their household)"


def refuse_self_award(s: Session, person_id: int | None, holder_type: str,
                      holder_id: int) -> None:
    """Refuse (403 self_award_forbidden) a write by the user linked to `person_id` that moves
    points to or from themself or their household: adjustments, reversals, claims approved,
    draws. A user linked to no person has no self to favour."""
    from ledger.errors import Forbidden
    if person_id is None or holder_type not in ("person", "household"):
        return
    me = s.get(Person, person_id)
    household_id = me.household_id if me is not None else None
    ref = holder_ref(s, holder_type, holder_id)
    if is_self_or_household(person_id, household_id, holder_type, holder_id, ref.household_id):
        raise Forbidden(SELF_AWARD_MESSAGE, code="self_award_forbidden")


def village_names(s: Session, *, with_town: bool = False) -> dict:
    """Village id → name (or → (name, town id)), for labels and selects."""
    rows = s.execute(select(Village.id, Village.name, Village.town_id).order_by(Village.id))
    return {i: ((n, town) if with_town else n) for i, n, town in rows}


def person_names(s: Session, ids) -> dict[int, str]:
    ids = list(set(ids))
    if not ids:
        return {}
    return dict(s.execute(select(Person.id, Person.name).where(Person.id.in_(ids))).all())


def scopes_of(session: Session, holders: set[tuple[str, int]]) -> dict[tuple[str, int], tuple]:
    """(village_id, town_id) of each holder, from the registry (None where unknown)."""
    out: dict[tuple[str, int], tuple] = {}
    for htype in ("person", "household", "team"):
        ids = [i for t, i in holders if t == htype]
        if not ids:
            continue
        if htype == "team":
            q = text("SELECT t.id, t.village_id, t.town_id FROM team t WHERE t.id IN :ids")
        else:
            q = text(f"SELECT t.id, t.village_id, v.town_id FROM {htype} t "
                     "JOIN village v ON v.id = t.village_id WHERE t.id IN :ids")
        for hid, vid, tid in session.execute(q.bindparams(bindparam("ids", expanding=True)),
                                             {"ids": ids}):
            out[(htype, hid)] = (vid, tid)
    return out
