"""礼遇 over HTTP: benefits (town admins configure), my benefits and passes, claiming a pass,
checking a pass by its code (public), marking it used (a clerk or staff)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, get, post

from api.auth import TOWN_ADMIN, Principal, requires_role, signed_in
from api.deps import scoped_key
from ledger.courtesy import service as courtesy
from ledger.courtesy.schemas import BenefitView, MyCourtesy, PassCheck, PassView
from ledger.db import Database
from ledger.errors import Forbidden


class BenefitIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    kind: Annotated[str, msgspec.Meta(max_length=12)]
    min_stars: int
    uses_per_year: int = 1
    once_ever: bool = False
    partner: Annotated[str, msgspec.Meta(max_length=100)] = ""
    town_id: int = 1


class CourtesyController(Controller):
    path = "/api/v1/courtesy"
    tags = ["courtesy"]

    @post("/benefits", guards=[requires_role(TOWN_ADMIN)], sync_to_thread=True,
          summary="Configure a courtesy benefit (by star level; costs no points)")
    def add_benefit(self, request: Request, data: BenefitIn, db: Database,
                    principal: Principal) -> BenefitView:
        return courtesy.add_benefit(db, principal, town_id=data.town_id, name=data.name,
                                    kind=data.kind, min_stars=data.min_stars,
                                    uses_per_year=data.uses_per_year, once_ever=data.once_ever,
                                    partner=data.partner, key=scoped_key(request, principal))

    @get("/mine", guards=[signed_in], sync_to_thread=True,
         summary="My stars, the benefits open to me, my passes")
    def mine(self, db: Database, principal: Principal) -> MyCourtesy:
        if principal.person_id is None:
            raise Forbidden("请以志愿者身份登录", code="volunteer_required")
        return courtesy.mine(db, principal.person_id)

    @post("/benefits/{benefit_id:int}/claim", guards=[signed_in], sync_to_thread=True,
          summary="Claim a pass for a benefit")
    def claim(self, request: Request, benefit_id: int, db: Database,
              principal: Principal) -> PassView:
        return courtesy.claim(db, principal, benefit_id, key=scoped_key(request, principal))

    @get("/passes/{code:str}", sync_to_thread=True,
         summary="Check a pass by its code (what its QR opens; masked name)")
    def check(self, code: str, db: Database) -> PassCheck:
        return courtesy.check(db, code)

    @post("/passes/{code:str}/use", guards=[signed_in], sync_to_thread=True,
          summary="Mark a pass used (a clerk or staff), once")
    def use(self, code: str, db: Database, principal: Principal) -> PassCheck:
        return courtesy.use(db, principal, code)
