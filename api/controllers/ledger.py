"""The ledger's own API: budgets, manual adjustments, reversals, holds, balances, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import Parameter

from api.auth import TOWN_ADMIN, VILLAGE_ADMIN, Principal, requires_role
from api.controllers import paged as pg
from api.deps import scoped_key
from ledger.registry.lookup import refuse_self_award, require_holder_in_village
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import Forbidden, InvalidInput
from ledger.journal import queries, service
from ledger.journal.models import HolderType, Unit
from ledger.journal.posting import MAX_ABS_AMOUNT

MAX_ID = 2**63 - 1  # BIGINT ids
Amount = Annotated[int, msgspec.Meta(gt=0, le=MAX_ABS_AMOUNT)]
SignedAmount = Annotated[int, msgspec.Meta(ge=-MAX_ABS_AMOUNT, le=MAX_ABS_AMOUNT)]
Memo = Annotated[str, msgspec.Meta(max_length=500)]


class Allocation(msgspec.Struct, forbid_unknown_fields=True):
    amount: Amount
    town_id: int = 1
    memo: Memo = ""


class Adjustment(msgspec.Struct, forbid_unknown_fields=True):
    village_id: int
    holder_type: HolderType
    holder_id: int
    amount: SignedAmount
    memo: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class Reversal(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class HoldRequest(msgspec.Struct, forbid_unknown_fields=True):
    debit_account_id: int
    credit_account_id: int
    amount: Amount
    ttl_s: Annotated[int, msgspec.Meta(ge=1, le=90 * 24 * 3600)] = 900
    unit: Unit = Unit.POINTS
    memo: Memo = ""


def _check_village(p: Principal, village_id: int) -> None:
    if not p.has_any((TOWN_ADMIN, VILLAGE_ADMIN), village_id):
        raise Forbidden(f"no admin role for village {village_id}", code="forbidden_village")


class Statement(pg.Page[dict], kw_only=True):
    """An account's postings, newest first; `next_before_seq` is `next_cursor`'s old name."""
    account: dict = {}
    next_before_seq: int | None = None


class LedgerController(Controller):
    path = "/api/v1"
    tags = ["ledger"]

    @post("/villages/{village_id:int}/allocations", guards=[requires_role(TOWN_ADMIN)],
          status_code=201, sync_to_thread=True, summary="Allocate town funding to a village budget")
    def allocate(self, request: Request, village_id: int, data: Allocation, db: Database,
                 settings: Settings, principal: Principal) -> dict:
        return service.allocate(db, shards=settings.budget_shards, town_id=data.town_id,
                                village_id=village_id, amount=data.amount,
                                actor_id=principal.user_id, memo=data.memo,
                                key=scoped_key(request, principal)).result

    @post("/adjustments", guards=[requires_role(TOWN_ADMIN, VILLAGE_ADMIN)], status_code=201,
          sync_to_thread=True, summary="Manual award (+) or deduction (−) by an admin")
    def adjust(self, request: Request, data: Adjustment, db: Database, settings: Settings,
               principal: Principal) -> dict:
        _check_village(principal, data.village_id)
        if not (0 < data.village_id <= MAX_ID and 0 < data.holder_id <= MAX_ID):
            raise InvalidInput("ids are positive 64-bit integers", code="value_out_of_range")
        with db.sessions() as s:  # a village pays only its own people, households and teams
            require_holder_in_village(s, data.holder_type, data.holder_id, data.village_id)
            refuse_self_award(s, principal.person_id, data.holder_type, data.holder_id)
        return service.adjust(db, shards=settings.budget_shards, village_id=data.village_id,
                              holder_type=data.holder_type, holder_id=data.holder_id,
                              amount=data.amount, memo=data.memo, actor_id=principal.user_id,
                              key=scoped_key(request, principal)).result

    @post("/entries/{entry_id:int}/reversal", guards=[requires_role(TOWN_ADMIN)],
          status_code=201, sync_to_thread=True, summary="Reverse an entry (names the original)")
    def reverse(self, request: Request, entry_id: int, data: Reversal, db: Database,
                principal: Principal) -> dict:
        return service.reverse(db, entry_id=entry_id, reason=data.reason,
                               actor_id=principal.user_id, actor_person_id=principal.person_id,
                               key=scoped_key(request, principal)).result

    @post("/holds", guards=[requires_role(TOWN_ADMIN)], status_code=201, sync_to_thread=True)
    def hold(self, request: Request, data: HoldRequest, db: Database,
             principal: Principal) -> dict:
        return service.reserve(db, unit=data.unit, debit_account_id=data.debit_account_id,
                               credit_account_id=data.credit_account_id, amount=data.amount,
                               ttl_s=data.ttl_s, memo=data.memo,
                               key=scoped_key(request, principal)).result

    @post("/holds/{hold_id:int}/post", guards=[requires_role(TOWN_ADMIN)], status_code=200,
          sync_to_thread=True)
    def post_hold(self, request: Request, hold_id: int, db: Database,
                  principal: Principal) -> dict:
        return service.post_hold(db, hold_id=hold_id, actor_id=principal.user_id,
                                 key=scoped_key(request, principal)).result

    @post("/holds/{hold_id:int}/void", guards=[requires_role(TOWN_ADMIN)], status_code=200,
          sync_to_thread=True)
    def void_hold(self, request: Request, hold_id: int, db: Database,
                  principal: Principal) -> dict:
        return service.void_hold(db, hold_id=hold_id, key=scoped_key(request, principal)).result

    @get("/accounts/{account_id:int}", guards=[requires_role(TOWN_ADMIN)], sync_to_thread=True)
    def account(self, account_id: int, db: Database,
                as_of: Annotated[datetime | None, Parameter(query="as_of")] = None) -> dict:
        with db.sessions() as s:
            view = queries.account_view(queries.get_account(s, account_id))
            if as_of is not None:
                view["balance_as_of"] = queries.balance_as_of(s, account_id, as_of)
                view["as_of"] = as_of.isoformat()
            return view

    @get("/accounts/{account_id:int}/statement", guards=[requires_role(TOWN_ADMIN)],
         sync_to_thread=True)
    def statement(self, account_id: int, db: Database, cursor: pg.Cursor = None,
                  before_seq: pg.OldBeforeSeq = None,
                  limit: pg.Limit = pg.DEFAULT_PAGE) -> Statement:
        with db.sessions() as s:
            return pg.paged(queries.statement(s, account_id, limit=limit,
                                              before_seq=pg.either(cursor, before_seq)),
                            "next_before_seq", Statement)

    @get("/audit", guards=[requires_role(TOWN_ADMIN)], sync_to_thread=True,
         summary="Run the ledger audit now")
    def audit(self, db: Database) -> dict:
        return service.audit(db)
