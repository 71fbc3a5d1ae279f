"""The registry's answers as types: what `lookup`'s views hold, so the API's schema documents
each body and a view that drifts from its type fails at the boundary (`msgspec.convert`), not in
a client. Fields that a view adds only sometimes (a village's household count, a household's
members, a person's teams) are left out of the JSON when absent, as the views leave them out;
the others are always there, null or not."""

from __future__ import annotations


from ledger.units import Points
from ledger.view import View


class TownView(View, omit_defaults=True):
    id: int
    name: str
    city: str | None
    prefecture: str | None


class VillageView(View, omit_defaults=True):
    id: int
    town_id: int
    name: str
    kind: str | None
    households: int | None = None


class TeamView(View, omit_defaults=True):
    id: int
    town_id: int
    village_id: int | None
    kind: str
    name: str
    standing: bool
    created_at: str | None
    members: int | None = None


class PersonView(View, omit_defaults=True):
    """A person; `phone` in full only for the roles that call residents, `id_number` masked."""
    id: int
    name: str
    village_id: int
    village: str
    household_id: int | None
    phone: str | None
    id_number: str | None
    is_volunteer: bool
    left: str | None  # why the person left the register (moved, died…), or null
    left_at: str | None
    created_at: str | None
    teams: list[TeamView] | None = None


class HouseholdView(View, omit_defaults=True):
    id: int
    village_id: int
    village: str
    plate_code: str
    head_name: str
    address: str
    created_at: str | None
    members: list[PersonView] | None = None


class TeamMemberView(View):
    team_id: int
    person_id: int
    is_leader: bool
    joined_at: str


class MemberRemoved(View):
    team_id: int
    person_id: int
    removed: bool


class PublicHousehold(View):
    """What a door plate shows anyone: the village and the points, no personal data. Points as
    people read them (`ledger.units`), the ledger's steps beside them, at `scale`."""
    plate_code: str
    town: str
    village: str
    balance_points: Points
    balance_steps: int
    score_this_year_points: Points
    score_this_year_steps: int
    scale: int


class RegistryImported(View):
    households_created: int
    people_created: int


class RegistryImportChecked(View):
    """A dry run: what the file would do, its first rows as read, and whether it (or the
    request's key) was imported before."""
    dry_run: bool
    rows: int
    households: int
    encoding: str | None
    preview: list[list[str]]
    already_imported: bool
