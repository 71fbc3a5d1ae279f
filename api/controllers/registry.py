"""The registry over HTTP: villages, households, people, teams, door plates (QR as PNG/SVG, a
village's printable PDF sheet), CSV import and export, personal data export, and the public
door-plate summary. Guards check the role at the door; the service checks the village of the
record itself (a household's, a person's), so no village-scoped role reaches another village."""

from __future__ import annotations

import functools
from typing import Annotated

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter

from api.auth import TOWN_ADMIN, Principal, requires_role, signed_in
from api.controllers import paged as pg
from api.deps import scoped_key
from ledger.registry import commands, csvio, lookup, plates
from ledger.registry.schemas import (HouseholdView, MemberRemoved, PersonView, PublicHousehold,
                                     RegistryImportChecked, RegistryImported, TeamMemberView,
                                     TeamView, TownView, VillageView)
from ledger.sheets import tabular
from ledger.registry.service import MAX_ADDRESS_CHARS, MAX_NAME_CHARS, HouseholdDraft, PersonDraft
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import InvalidInput
from ledger.identity import export
from ledger.identity.schemas import PersonExport
from ledger.identity.roles import REGISTRY_ADMINS, REGISTRY_READERS

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_CHARS)]
Address = Annotated[str, msgspec.Meta(max_length=MAX_ADDRESS_CHARS)]
Short = Annotated[str, msgspec.Meta(max_length=32)]
UNSET = msgspec.UNSET
NO_STORE = {"Cache-Control": "no-store"}
PNG, SVG, PDF, CSV = "image/png", "image/svg+xml", "application/pdf", "text/csv"


class VillageIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    town_id: int = 1
    kind: Annotated[str, msgspec.Meta(max_length=16)] | None = None


class MemberIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    phone: Short | None = None
    id_number: Short | None = None
    is_volunteer: bool = False


class HouseholdIn(msgspec.Struct, forbid_unknown_fields=True):
    head_name: Name
    address: Address = ""
    members: Annotated[list[MemberIn], msgspec.Meta(max_length=30)] = []


class PersonIn(MemberIn, forbid_unknown_fields=True):
    household_id: int | None = None


class PersonPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = UNSET
    phone: Short | None | msgspec.UnsetType = UNSET
    id_number: Short | None | msgspec.UnsetType = UNSET
    is_volunteer: bool | msgspec.UnsetType = UNSET
    household_id: int | None | msgspec.UnsetType = UNSET


class HouseholdPatch(msgspec.Struct, forbid_unknown_fields=True):
    head_name: Name | msgspec.UnsetType = UNSET
    address: Address | msgspec.UnsetType = UNSET


class TeamIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: Name
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    town_id: int = 1
    village_id: int | None = None
    standing: bool = False


class MemberAdd(msgspec.Struct, forbid_unknown_fields=True):
    person_id: int
    is_leader: bool = False


def _changes(data: msgspec.Struct) -> dict:
    return {f: getattr(data, f) for f in data.__struct_fields__
            if getattr(data, f) is not UNSET}


def _ascii_name(text: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in text) or "file"


def _attachment(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type, headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="{_ascii_name(filename)}"'})


class RegistryController(Controller):
    path = "/api/v1"
    tags = ["registry"]

    @get("/towns", guards=[signed_in], sync_to_thread=True)
    def towns(self, db: Database, cursor: pg.Cursor = None,
              limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[TownView]:
        return pg.page_of(lookup.towns(db), cursor, limit, _id)

    @get("/villages", guards=[signed_in], sync_to_thread=True,
         summary="Villages, communities, the institute and points, with household counts")
    def villages(self, db: Database, town_id: int | None = None, cursor: pg.Cursor = None,
                 limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[VillageView]:
        return pg.page_of(lookup.villages(db, town_id), cursor, limit, _id)

    @post("/villages", guards=[requires_role(TOWN_ADMIN)], status_code=201, sync_to_thread=True)
    def add_village(self, request: Request, data: VillageIn, db: Database,
                    principal: Principal) -> VillageView:
        return commands.create_village(db, principal, town_id=data.town_id, name=data.name,
                                       kind=data.kind, key=scoped_key(request, principal))

    @get("/villages/{village_id:int}/households",
         guards=[requires_role(*REGISTRY_READERS, scope_param="village_id")], sync_to_thread=True)
    def households(self, village_id: int, db: Database, principal: Principal,
                   cursor: pg.Cursor = None, after_id: pg.OldAfterId = None,
                   limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.AfterIdPage[HouseholdView]:
        return pg.paged(lookup.households(
            db, principal, village_id, after_id=pg.either(cursor, after_id), limit=limit),
            "next_after_id", item=HouseholdView)

    @post("/villages/{village_id:int}/households", status_code=201, sync_to_thread=True,
          guards=[requires_role(*REGISTRY_ADMINS, scope_param="village_id")],
          summary="Add a household (its plate code and points account come with it)")
    def add_household(self, request: Request, village_id: int, data: HouseholdIn,
                      db: Database, principal: Principal) -> HouseholdView:
        members = tuple(PersonDraft(village_id, m.name, None, m.phone, m.id_number,
                                    m.is_volunteer) for m in data.members)
        return commands.create_household(
            db, principal, HouseholdDraft(village_id, data.head_name, data.address,
                                          members=members), key=scoped_key(request, principal))

    @get("/villages/{village_id:int}/people",
         guards=[requires_role(*REGISTRY_READERS, scope_param="village_id")], sync_to_thread=True)
    def people(self, village_id: int, db: Database, principal: Principal,
               q: Annotated[str | None, Parameter(max_length=lookup.MAX_QUERY_CHARS)] = None,
               volunteers: bool = False, cursor: pg.Cursor = None,
               after_id: pg.OldAfterId = None,
               limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.AfterIdPage[PersonView]:
        return pg.paged(lookup.people(
            db, principal, village_id, q=q, after_id=pg.either(cursor, after_id), limit=limit,
            volunteers_only=volunteers), "next_after_id", item=PersonView)

    @post("/villages/{village_id:int}/people", status_code=201, sync_to_thread=True,
          guards=[requires_role(*REGISTRY_ADMINS, scope_param="village_id")])
    def add_person(self, request: Request, village_id: int, data: PersonIn, db: Database,
                   principal: Principal) -> PersonView:
        return commands.create_person(db, principal, PersonDraft(
            village_id, data.name, data.household_id, data.phone, data.id_number,
            data.is_volunteer), key=scoped_key(request, principal))

    @get("/villages/{village_id:int}/plates.pdf", sync_to_thread=True, media_type=PDF,
         guards=[requires_role(*REGISTRY_ADMINS, scope_param="village_id")],
         summary="A printable A4 sheet of the village's door plates")
    def plates_pdf(self, village_id: int, db: Database, settings: Settings) -> Response:
        return _attachment(lookup.plates_sheet(db, village_id, settings.public_base_url), PDF,
                           f"plates-{village_id}.pdf")

    @get("/households/{household_id:int}", guards=[signed_in], sync_to_thread=True)
    def household(self, household_id: int, db: Database,
                  principal: Principal) -> HouseholdView:
        return lookup.household(db, principal, household_id)

    @patch("/households/{household_id:int}", guards=[requires_role(*REGISTRY_ADMINS)],
           sync_to_thread=True)
    def change_household(self, request: Request, household_id: int, data: HouseholdPatch,
                         db: Database, principal: Principal) -> HouseholdView:
        return commands.update_household(db, principal, household_id, _changes(data),
                                         key=scoped_key(request, principal))

    @get("/households/{household_id:int}/plate.png", guards=[signed_in], sync_to_thread=True,
         media_type=PNG,
         summary="The door plate's QR code as PNG (pointing at the household's public page)")
    def plate_png(self, household_id: int, db: Database, settings: Settings,
                  principal: Principal,
                  box_px: Annotated[int, Parameter(ge=plates.MIN_BOX_PX, le=plates.MAX_BOX_PX)]
                  = plates.DEFAULT_BOX_PX) -> Response:
        url = lookup.plate_url(db, principal, household_id, settings.public_base_url)
        return Response(plates.qr_png(url, box_px), media_type=PNG)

    @get("/households/{household_id:int}/plate.svg", guards=[signed_in], sync_to_thread=True,
         media_type=SVG,
         summary="The door plate's QR code as SVG")
    def plate_svg(self, household_id: int, db: Database, settings: Settings,
                  principal: Principal) -> Response:
        url = lookup.plate_url(db, principal, household_id, settings.public_base_url)
        return Response(plates.qr_svg(url), media_type=SVG)

    @get("/people/{person_id:int}", guards=[signed_in], sync_to_thread=True)
    def person(self, person_id: int, db: Database, principal: Principal) -> PersonView:
        return lookup.person(db, principal, person_id)

    @patch("/people/{person_id:int}", guards=[requires_role(*REGISTRY_ADMINS)],
           sync_to_thread=True)
    def change_person(self, request: Request, person_id: int, data: PersonPatch, db: Database,
                      principal: Principal) -> PersonView:
        return commands.update_person(db, principal, person_id, _changes(data),
                                      key=scoped_key(request, principal))

    @get("/people/{person_id:int}/export", guards=[signed_in], sync_to_thread=True,
         summary="Everything kept about one person (for them, or an admin of their village)")
    def person_export(self, person_id: int, db: Database,
                      principal: Principal) -> Response[PersonExport]:
        return _json_attachment(export.export_person(db, principal, person_id), person_id)

    @get("/me/export", guards=[signed_in], sync_to_thread=True,
         summary="Everything kept about the signed-in volunteer")
    def my_export(self, db: Database, principal: Principal) -> Response[PersonExport]:
        if principal.person_id is None:
            raise InvalidInput("this user is not linked to a person", code="no_person")
        return _json_attachment(export.export_person(db, principal, principal.person_id),
                                principal.person_id)

    @get("/teams", guards=[signed_in], sync_to_thread=True)
    def teams(self, db: Database, town_id: int | None = None, village_id: int | None = None,
              cursor: pg.Cursor = None,
              limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[TeamView]:
        return pg.page_of(lookup.teams(db, town_id=town_id, village_id=village_id), cursor,
                          limit, _id)

    @post("/teams", guards=[requires_role(*REGISTRY_ADMINS)], status_code=201,
          sync_to_thread=True)
    def add_team(self, request: Request, data: TeamIn, db: Database,
                 principal: Principal) -> TeamView:
        return commands.create_team(db, principal, town_id=data.town_id, kind=data.kind,
                                    name=data.name, village_id=data.village_id,
                                    standing=data.standing, key=scoped_key(request, principal))

    @post("/teams/{team_id:int}/members", guards=[requires_role(*REGISTRY_ADMINS)],
          status_code=201, sync_to_thread=True)
    def add_member(self, request: Request, team_id: int, data: MemberAdd, db: Database,
                   principal: Principal) -> TeamMemberView:
        return commands.add_team_member(db, principal, team_id, data.person_id,
                                        is_leader=data.is_leader,
                                        key=scoped_key(request, principal))

    @delete("/teams/{team_id:int}/members/{person_id:int}", status_code=200,
            guards=[requires_role(*REGISTRY_ADMINS)], sync_to_thread=True)
    def remove_member(self, request: Request, team_id: int, person_id: int, db: Database,
                      principal: Principal) -> MemberRemoved:
        return commands.remove_team_member(db, principal, team_id, person_id,
                                           key=scoped_key(request, principal))

    @post("/registry/import", guards=[requires_role(*REGISTRY_ADMINS)], status_code=201,
          request_max_body_size=csvio.MAX_IMPORT_BYTES,
          summary="Import households and people from .xlsx or CSV (UTF-8 or GB18030); all rows "
                  "or none; the same file again changes nothing")
    async def import_csv(self, request: Request, db: Database, principal: Principal,
                         dry_run: bool = False) -> RegistryImported | RegistryImportChecked:
        data = await request.body()
        key = None if dry_run else scoped_key(request, principal)
        return await anyio.to_thread.run_sync(functools.partial(
            csvio.import_csv, db, principal, data, dry_run=dry_run, key=key))

    @get("/registry/export.csv", guards=[requires_role(*REGISTRY_ADMINS)], sync_to_thread=True,
         media_type=CSV,
         summary="Households and people as CSV (the import's columns)")
    def export_csv(self, db: Database, principal: Principal,
                   village_id: int | None = None) -> Response:
        return _attachment(csvio.export_csv(db, principal, village_id), CSV,
                           f"registry-{village_id or 'all'}.csv")

    @get("/registry/export.xlsx", guards=[requires_role(*REGISTRY_ADMINS)], sync_to_thread=True,
         media_type=tabular.XLSX_MEDIA_TYPE,
         summary="Households and people as .xlsx (the import's columns)")
    def export_xlsx(self, db: Database, principal: Principal,
                    village_id: int | None = None) -> Response:
        return _attachment(csvio.export_xlsx(db, principal, village_id), tabular.XLSX_MEDIA_TYPE,
                           f"registry-{village_id or 'all'}.xlsx")

    @get("/registry/template.xlsx", guards=[requires_role(*REGISTRY_ADMINS)],
         sync_to_thread=False, media_type=tabular.XLSX_MEDIA_TYPE,
         summary="The import's template: the Chinese header row and an example row")
    def import_template(self) -> Response:
        return _attachment(csvio.template_xlsx(), tabular.XLSX_MEDIA_TYPE, "registry-template.xlsx")

    @get("/public/households/{plate_code:str}", sync_to_thread=True,
         summary="A door plate's public summary: village and points, no personal data")
    def public_household(self, plate_code: str, db: Database) -> PublicHousehold:
        return lookup.public_summary(db, plate_code)


def _id(row: TownView | VillageView | TeamView) -> int:
    return row.id


def _json_attachment(body: PersonExport, person_id: int) -> Response[PersonExport]:
    return Response(body, media_type="application/json", headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="person-{person_id}.json"'})
