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
from ledger.config import Settings
from ledger.db import Database
from ledger.journal import queries, service
from ledger.journal.models import HolderType, Unit
from ledger.journal.posting import MAX_ABS_AMOUNT
from ledger.journal.schemas import AccountView, AuditView, EntryView, HoldView, Statement

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


class LedgerController(Controller):
    path = "/api/v1"
    tags = ["ledger"]

    @post("/villages/{village_id:int}/allocations", guards=[requires_role(TOWN_ADMIN)],
          status_code=201, sync_to_thread=True, summary="Allocate town funding to a village budget")
    def allocate(self, request: Request, village_id: int, data: Allocation, db: Database,
                 settings: Settings, principal: Principal) -> EntryView:
        return service.allocate(db, shards=settings.budget_shards, town_id=data.town_id,
                                village_id=village_id, amount=data.amount,
                                actor_id=principal.user_id, memo=data.memo,
                                key=scoped_key(request, principal))

    @post("/ledger/adjustments", guards=[requires_role(TOWN_ADMIN, VILLAGE_ADMIN)],
          status_code=201, sync_to_thread=True,
          summary="Manual award (+) or deduction (−) by an admin")
    def adjust(self, request: Request, data: Adjustment, db: Database, settings: Settings,
               principal: Principal) -> EntryView:
        return service.adjust_as(db, principal, shards=settings.budget_shards,
                                 village_id=data.village_id, holder_type=data.holder_type,
                                 holder_id=data.holder_id, amount=data.amount, memo=data.memo,
                                 key=scoped_key(request, principal))

    @post("/ledger/entries/{entry_id:int}/reversal", guards=[requires_role(TOWN_ADMIN)],
          status_code=201, sync_to_thread=True, summary="Reverse an entry (names the original)")
    def reverse(self, request: Request, entry_id: int, data: Reversal, db: Database,
                principal: Principal) -> EntryView:
        return service.reverse(db, entry_id=entry_id, reason=data.reason,
                               actor_id=principal.user_id, actor_person_id=principal.person_id,
                               key=scoped_key(request, principal))

    @post("/ledger/holds", guards=[requires_role(TOWN_ADMIN)], status_code=201,
          sync_to_thread=True)
    def hold(self, request: Request, data: HoldRequest, db: Database,
             principal: Principal) -> HoldView:
        return service.reserve(db, unit=data.unit, debit_account_id=data.debit_account_id,
                               credit_account_id=data.credit_account_id, amount=data.amount,
                               ttl_s=data.ttl_s, memo=data.memo,
                               key=scoped_key(request, principal))

    @post("/ledger/holds/{hold_id:int}/post", guards=[requires_role(TOWN_ADMIN)],
          status_code=200, sync_to_thread=True)
    def post_hold(self, request: Request, hold_id: int, db: Database,
                  principal: Principal) -> EntryView:
        return service.post_hold(db, hold_id=hold_id, actor_id=principal.user_id,
                                 key=scoped_key(request, principal))

    @post("/ledger/holds/{hold_id:int}/void", guards=[requires_role(TOWN_ADMIN)],
          status_code=200, sync_to_thread=True)
    def void_hold(self, request: Request, hold_id: int, db: Database,
                  principal: Principal) -> HoldView:
        return service.void_hold(db, hold_id=hold_id, key=scoped_key(request, principal))

    @get("/ledger/accounts/{account_id:int}", guards=[requires_role(TOWN_ADMIN)],
         sync_to_thread=True)
    def account(self, account_id: int, db: Database,
                as_of: Annotated[datetime | None, Parameter(query="as_of")] = None
                ) -> AccountView:
        return queries.account(db, account_id, as_of)

    @get("/ledger/accounts/{account_id:int}/statement", guards=[requires_role(TOWN_ADMIN)],
         sync_to_thread=True)
    def statement(self, account_id: int, db: Database, cursor: pg.Cursor = None,
                  before_seq: pg.OldBeforeSeq = None,
                  limit: pg.Limit = pg.DEFAULT_PAGE) -> Statement:
        return queries.statement_page(db, account_id, limit=limit,
                                      before_seq=pg.either(cursor, before_seq))

    @get("/ledger/audit", guards=[requires_role(TOWN_ADMIN)], sync_to_thread=True,
         summary="Run the ledger audit now")
    def audit(self, db: Database) -> AuditView:
        return service.audit_view(db)
