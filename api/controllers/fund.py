"""The volunteer fund over HTTP: donors and donations (town admins), the public thank-you list,
a donor's settlement statement."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, get, post

from api.auth import TOWN_ADMIN, Principal, requires_role
from api.controllers import paged as pg
from api.deps import scoped_key
from ledger.config import Settings
from ledger.db import Database
from ledger.fund import service as fund
from ledger.fund.schemas import DonationView, DonorStatement, DonorThanks, DonorView


class DonorIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=fund.MAX_NAME_CHARS)]
    kind: Annotated[str, msgspec.Meta(max_length=12)]
    town_id: int = 1
    thank_publicly: bool = True


class DonationIn(msgspec.Struct, forbid_unknown_fields=True):
    donor_id: int
    village_id: int
    value_fen: Annotated[int, msgspec.Meta(ge=1, le=fund.MAX_DONATION_FEN)]
    note: Annotated[str, msgspec.Meta(max_length=fund.MAX_NOTE_CHARS)] = ""


class FundController(Controller):
    path = "/api/v1/fund"
    tags = ["fund"]

    @get("/thanks", sync_to_thread=True, summary="Donors thanked in public, with their totals")
    def thanks(self, db: Database, town_id: int = 1,
               cursor: pg.Cursor = None,
               limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[DonorThanks]:
        return pg.page_of(fund.thanks(db, town_id), cursor, limit, lambda d: d.id)

    @post("/donors", guards=[requires_role(TOWN_ADMIN)], sync_to_thread=True,
          summary="Add a donor (a business, group or person): an account in the ledger")
    def add_donor(self, request: Request, data: DonorIn, db: Database,
                  principal: Principal) -> DonorView:
        return fund.add_donor(db, principal, town_id=data.town_id, name=data.name,
                              kind=data.kind, thank_publicly=data.thank_publicly,
                              key=scoped_key(request, principal))

    @post("/donations", guards=[requires_role(TOWN_ADMIN)], sync_to_thread=True,
          summary="Record a money donation into a village's budget at its stated value")
    def donate(self, request: Request, data: DonationIn, db: Database, settings: Settings,
               principal: Principal) -> DonationView:
        return fund.donate(db, principal, donor_id=data.donor_id, village_id=data.village_id,
                           value_fen=data.value_fen, shards=settings.budget_shards,
                           note=data.note, key=scoped_key(request, principal))

    @get("/donors/{donor_id:int}/statement", guards=[requires_role(TOWN_ADMIN)],
         sync_to_thread=True, summary="A donor's settlement statement")
    def statement(self, donor_id: int, db: Database) -> DonorStatement:
        return fund.statement(db, donor_id)
