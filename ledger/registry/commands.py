"""Registry commands for the edges (API, CLI): each checks the caller's scope, runs in one
transaction through `book.write` with the caller's idempotency key (a retry returns the first
result), and answers with the view the caller may see."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.registry import lookup
from ledger.registry.models import Team, TeamMember
from ledger.registry.service import (
    HouseholdDraft,
    PersonDraft,
    add_household,
    add_member,
    add_person,
    add_team,
    add_village,
    check_address,
    check_households,
    check_id_number,
    check_phone,
    check_unique,
    clean_name,
)
from ledger.db import Database
from ledger.errors import Conflict, InvalidInput, NotFound
from ledger.identity.actor import require
from ledger.identity.roles import REGISTRY_ADMINS, TOWN_ADMIN
from ledger.journal import book
from ledger.registry.schemas import (HouseholdView, MemberRemoved, PersonView, TeamMemberView,
                                     TeamView, VillageView)
from ledger.timeutil import utcnow
from ledger.view import typed


def keyed(db: Database, fn, *, key: str | None, request: dict) -> dict:
    """book.write, with a unique-constraint race (two requests adding the same ID number at
    once) answered as a conflict instead of a server error."""
    try:
        return book.write(db, fn, key=key, request=request).result
    except IntegrityError:
        raise Conflict("another request changed the same record; look again",
                       code="registry_conflict") from None


def create_village(db: Database, actor, *, town_id: int, name: str, kind: str | None,
                   key: str | None) -> VillageView:
    require(actor, (TOWN_ADMIN,), None, "adding a village")
    return typed(keyed(db, lambda s: lookup.village_view(add_village(s, town_id, name, kind)),
                       key=key, request={"op": "village", "town": town_id, "name": name,
                                         "kind": kind}), VillageView)


def create_household(db: Database, actor, d: HouseholdDraft, *, key: str | None
                     ) -> HouseholdView:
    require(actor, REGISTRY_ADMINS, d.village_id, "adding a household")

    def work(s: Session) -> dict:
        h = add_household(s, d)
        return lookup.get_household(s, actor, h.id)

    return typed(keyed(db, work, key=key, request={"op": "household", "draft": _plain(d)}),
                 HouseholdView)


def create_person(db: Database, actor, d: PersonDraft, *, key: str | None) -> PersonView:
    require(actor, REGISTRY_ADMINS, d.village_id, "adding a person")

    def work(s: Session) -> dict:
        p = add_person(s, d)
        return lookup.person_view(p, lookup.village(s, p.village_id), actor)

    return typed(keyed(db, work, key=key, request={"op": "person", "draft": _plain(d)}),
                 PersonView)


PERSON_FIELDS = frozenset({"name", "phone", "id_number", "is_volunteer", "household_id",
                           "left"})
LEFT_REASONS = ("deceased", "moved_away")  # a person who is no longer a resident
HOUSEHOLD_FIELDS = frozenset({"head_name", "address"})


def update_person(db: Database, actor, person_id: int, changes: dict, *, key: str | None
                  ) -> PersonView:
    unknown = set(changes) - PERSON_FIELDS
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", code="field_unknown")

    def work(s: Session) -> dict:
        p, v = lookup.person_with_village(s, person_id)
        require(actor, REGISTRY_ADMINS, v.id, "changing a person")
        if "name" in changes:
            p.name = clean_name(changes["name"])
        if "phone" in changes:
            p.phone = check_phone(changes["phone"])
        if "id_number" in changes:
            p.id_number = check_id_number(changes["id_number"])
        if "is_volunteer" in changes:
            p.is_volunteer = bool(changes["is_volunteer"])
        if "left" in changes and changes["left"] != p.left:
            if changes["left"] not in (None, *LEFT_REASONS):
                raise InvalidInput(f"left is one of {', '.join(LEFT_REASONS)} or empty",
                                   code="left_invalid", field="left")
            p.left, p.left_at = changes["left"], (utcnow() if changes["left"] else None)
            if p.left:  # no more sign-in by phone code, sign-ups or volunteer draws
                p.is_volunteer = False
        if "household_id" in changes and changes["household_id"] != p.household_id:
            if changes["household_id"] is not None:
                check_households(s, [PersonDraft(v.id, p.name, changes["household_id"])])
            p.household_id = changes["household_id"]
        check_unique(s, p.id_number, p.phone if p.is_volunteer else None, p.id)
        s.flush()
        return lookup.person_view(p, v, actor)

    return typed(keyed(db, work, key=key, request={"op": "person_update", "id": person_id,
                                                   "changes": changes}), PersonView)


def update_household(db: Database, actor, household_id: int, changes: dict, *,
                     key: str | None) -> HouseholdView:
    unknown = set(changes) - HOUSEHOLD_FIELDS
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", code="field_unknown")

    def work(s: Session) -> dict:
        h, v = lookup.household_with_village(s, household_id)
        require(actor, REGISTRY_ADMINS, v.id, "changing a household")
        if "head_name" in changes:
            h.head_name = clean_name(changes["head_name"], "head_name")
        if "address" in changes:
            h.address = check_address(changes["address"])
        s.flush()
        return lookup.get_household(s, actor, h.id)

    return typed(keyed(db, work, key=key, request={"op": "household_update",
                                                   "id": household_id, "changes": changes}),
                 HouseholdView)


def create_team(db: Database, actor, *, town_id: int, kind: str, name: str,
                village_id: int | None, standing: bool = False, key: str | None) -> TeamView:
    # A town-wide team is the town's; a village team its village admin's.
    require(actor, REGISTRY_ADMINS if village_id is not None else (TOWN_ADMIN,), village_id,
            "adding a team")
    return typed(keyed(db, lambda s: lookup.team_view(add_team(
        s, town_id=town_id, kind=kind, name=name, village_id=village_id, standing=standing), 0),
        key=key, request={"op": "team", "town": town_id, "kind": kind, "name": name,
                          "village": village_id, "standing": standing}), TeamView)


def add_team_member(db: Database, actor, team_id: int, person_id: int, *,
                    is_leader: bool = False, key: str | None) -> TeamMemberView:
    def work(s: Session) -> dict:
        t = s.get(Team, team_id)
        if t is None:
            raise NotFound(f"team {team_id} does not exist", code="team_not_found")
        require(actor, REGISTRY_ADMINS if t.village_id is not None else (TOWN_ADMIN,),
                t.village_id, "changing a team")
        _, v = lookup.person_with_village(s, person_id)
        require(actor, REGISTRY_ADMINS, v.id, "adding this person to a team")
        m = add_member(s, team_id, person_id, is_leader=is_leader)
        return {"team_id": m.team_id, "person_id": m.person_id, "is_leader": m.is_leader,
                "joined_at": m.joined_at.isoformat()}

    return typed(keyed(db, work, key=key, request={"op": "team_member", "team": team_id,
                                                   "person": person_id, "leader": is_leader}),
                 TeamMemberView)


def remove_team_member(db: Database, actor, team_id: int, person_id: int, *,
                       key: str | None) -> MemberRemoved:
    def work(s: Session) -> dict:
        t = s.get(Team, team_id)
        if t is None:
            raise NotFound(f"team {team_id} does not exist", code="team_not_found")
        require(actor, REGISTRY_ADMINS if t.village_id is not None else (TOWN_ADMIN,),
                t.village_id, "changing a team")
        m = s.get(TeamMember, (team_id, person_id))
        if m is None:
            raise NotFound("not a member of this team", code="team_member_not_found")
        s.delete(m)
        return {"team_id": team_id, "person_id": person_id, "removed": True}

    return typed(keyed(db, work, key=key, request={"op": "team_member_remove",
                                                   "team": team_id, "person": person_id}),
                 MemberRemoved)


def _plain(d) -> dict:
    return asdict(d)
