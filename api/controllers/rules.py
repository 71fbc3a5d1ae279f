"""The rules API: catalogs (view, import, export), evaluation preview, recording, claims,
confirmation, review, public notice with objections, appeals, explanations and reports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from api.auth import (
    INSPECTOR,
    ORGANIZER,
    STAFF_ROLES,
    TOWN_ADMIN,
    VILLAGE_ADMIN,
    Principal,
    requires_role,
    signed_in,
)
from api.controllers import paged as pg
from api.deps import scoped_key
from ledger.config import Settings
from ledger.db import Database
from ledger.identity.actor import Actor
from ledger.rules import coins, explain, levels, store, thresholds, timebank
from ledger.rules import service as svc
from ledger.rules import workflow as wf
from ledger.rules.catalog_io import MAX_CATALOG_BYTES
from ledger.rules.schemas import (AppealView, AwardDetail, AwardView, CatalogImported,
                                  CatalogSummary, CatalogVersionView, Conversion, Currencies,
                                  DecisionView, EntryExplanation, ItemVersionView, Levels,
                                  LevelScheme, NoticesPosted, NoticeView, RecorderReport,
                                  Standing, TimeBankExchanged)

MAX_ID = 2**63 - 1  # BIGINT: larger ids name nothing
Id = Annotated[int, Parameter(ge=1, le=MAX_ID)]
Text = Annotated[str, msgspec.Meta(max_length=1000)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
RECORDERS = (TOWN_ADMIN, VILLAGE_ADMIN, INSPECTOR, ORGANIZER)
ADMINS = (TOWN_ADMIN, VILLAGE_ADMIN)


class Context(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    occurred_at: datetime | None = None
    channel: Literal["inspector", "organizer", "admin", "claim"] | None = None
    points: float | None = None
    level: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    minutes: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)] | None = None
    quantity: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    activity_ref: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    reason: Text | None = None
    note: Text | None = None
    photos: Annotated[list[Annotated[str, msgspec.Meta(max_length=300)]],
                      msgspec.Meta(max_length=9)] | None = None
    tags: Annotated[list[Annotated[str, msgspec.Meta(max_length=32)]],
                    msgspec.Meta(max_length=10)] | None = None
    village_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)] | None = None

    def as_dict(self) -> dict:
        d = msgspec.to_builtins(self)
        if self.occurred_at is not None:
            d["occurred_at"] = self.occurred_at.isoformat()
        return d


class AwardRequest(msgspec.Struct, forbid_unknown_fields=True):
    item: Annotated[str, msgspec.Meta(min_length=1, max_length=66)]
    holder_type: Literal["person", "household", "team"]
    holder_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
    context: Context = msgspec.field(default_factory=Context)
    catalog: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class CatalogImport(msgspec.Struct, forbid_unknown_fields=True):
    yaml: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CATALOG_BYTES)]
    approved_by: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    decision: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class ReasonBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class TimeBankExchange(msgspec.Struct, forbid_unknown_fields=True):
    receiver_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
    helper_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
    minutes: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)]
    note: Text = ""
    occurred_at: datetime | None = None


class CoinConversion(msgspec.Struct, forbid_unknown_fields=True):
    coin: Annotated[str, msgspec.Meta(min_length=1, max_length=10)]
    coins: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)]


class LevelSelection(msgspec.Struct, forbid_unknown_fields=True):
    catalog: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    level: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    reason: Reason
    selected: bool = True


class ReviewBody(msgspec.Struct, forbid_unknown_fields=True):
    uphold: bool
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class AppealDecision(msgspec.Struct, forbid_unknown_fields=True):
    upheld: bool
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


def actor(p: Principal) -> Actor:
    return p  # the caller is the engine's Actor


class RulesController(Controller):
    path = "/api/v1/rules"
    tags = ["rules"]

    # --- catalogs -------------------------------------------------------------------------
    @get("/catalogs", sync_to_thread=True, summary="Catalogs in force (public)")
    def catalogs(self, db: Database,
                 cursor: pg.Cursor = None,
                 limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[CatalogSummary]:
        return pg.page_of(store.catalog_list(db), cursor, limit, lambda c: c.code)

    @get("/catalogs/{code:str}", sync_to_thread=True, summary="One catalog (public)")
    def catalog(self, code: str, db: Database,
                version: Annotated[int | None, Parameter(ge=1, le=10**6)] = None
                ) -> CatalogVersionView:
        return store.catalog_version(db, code, version)

    @get("/catalogs/{code:str}/export.yaml", sync_to_thread=True, summary="Catalog as YAML",
         media_type="application/yaml")
    def export(self, code: str, db: Database,
               version: Annotated[int | None, Parameter(ge=1, le=10**6)] = None) -> Response:
        return Response(store.export_text(db, code, version), media_type="application/yaml",
                        headers={"Content-Disposition": f'attachment; filename="{code}.yaml"'})

    @get("/catalogs/{code:str}/items/{item:str}/versions", sync_to_thread=True)
    def item_versions(self, code: str, item: str, db: Database,
                      cursor: pg.Cursor = None,
                      limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[ItemVersionView]:
        return pg.page_of(store.item_versions(db, code, item), cursor, limit,
                          lambda v: v.version)

    @post("/catalogs", guards=[requires_role(TOWN_ADMIN)], status_code=201, sync_to_thread=True,
          summary="Import a catalog file as a new approved version")
    def import_catalog(self, data: CatalogImport, db: Database,
                       principal: Principal) -> CatalogImported:
        return store.import_catalog(db, data.yaml, actor_id=principal.user_id,
                                    approved_by=data.approved_by, decision=data.decision)

    # --- evaluation and recording ------------------------------------------------------------
    @post("/evaluate", guards=[requires_role(*STAFF_ROLES)], status_code=200,
          sync_to_thread=True, summary="Preview: what recording would do, or why not")
    def evaluate(self, data: AwardRequest, db: Database, settings: Settings,
                 principal: Principal) -> DecisionView:
        return svc.evaluate(db, settings, item_code=data.item, catalog=data.catalog,
                            holder=(data.holder_type, data.holder_id), recorder=actor(principal),
                            context=data.context.as_dict())

    @post("/awards", guards=[requires_role(*RECORDERS)], status_code=201, sync_to_thread=True,
          summary="Record an award or deduction under an item")
    def record(self, request: Request, data: AwardRequest, db: Database, settings: Settings,
               principal: Principal) -> AwardView:
        return svc.record_award(
            db, settings, item_code=data.item, catalog=data.catalog,
            holder=(data.holder_type, data.holder_id), recorder=actor(principal),
            context=data.context.as_dict(), key=scoped_key(request, principal))

    @post("/claims", guards=[signed_in], status_code=201, sync_to_thread=True,
          summary="A resident's own claim (申报) with evidence")
    def claim(self, request: Request, data: AwardRequest, db: Database, settings: Settings,
              principal: Principal) -> AwardView:
        ctx = {**data.context.as_dict(), "channel": "claim"}
        return svc.record_award(
            db, settings, item_code=data.item, catalog=data.catalog,
            holder=(data.holder_type, data.holder_id), recorder=actor(principal), context=ctx,
            key=scoped_key(request, principal))

    @get("/awards/{award_id:int}", guards=[requires_role(*explain.READERS)],
         sync_to_thread=True, summary="An award's details, for staff of its village")
    def award(self, award_id: Id, db: Database, principal: Principal) -> AwardDetail:
        return explain.award_detail_for(db, principal, award_id)

    @post("/awards/{award_id:int}/confirm", guards=[requires_role(*RECORDERS)], status_code=200,
          sync_to_thread=True, summary="Second person confirms a large deduction")
    def confirm(self, request: Request, award_id: Id, db: Database, settings: Settings,
                principal: Principal) -> AwardView:
        return wf.confirm_award(db, settings, award_id=award_id, confirmer=actor(principal),
                                key=scoped_key(request, principal))

    @post("/awards/{award_id:int}/verify", guards=[requires_role(*RECORDERS)], status_code=200,
          sync_to_thread=True, summary="Verify a claim")
    def verify(self, request: Request, award_id: Id, db: Database, settings: Settings,
               principal: Principal) -> AwardView:
        return wf.verify_claim(db, settings, award_id=award_id, verifier=actor(principal),
                               key=scoped_key(request, principal))

    @post("/awards/{award_id:int}/approve", guards=[requires_role(*ADMINS)], status_code=200,
          sync_to_thread=True, summary="Approve a verified claim or an item needing review")
    def approve(self, request: Request, award_id: Id, db: Database, settings: Settings,
                principal: Principal) -> AwardView:
        return wf.approve_award(db, settings, award_id=award_id, approver=actor(principal),
                                key=scoped_key(request, principal))

    @post("/awards/{award_id:int}/reject", guards=[signed_in], status_code=200,
          sync_to_thread=True, summary="Reject (or withdraw one's own) before it counts")
    def reject(self, request: Request, award_id: Id, data: ReasonBody, db: Database,
               settings: Settings, principal: Principal) -> AwardView:
        return wf.reject_award(db, settings, award_id=award_id, actor=actor(principal),
                               reason=data.reason, key=scoped_key(request, principal))

    @post("/awards/{award_id:int}/objections", guards=[signed_in], status_code=201,
          sync_to_thread=True, summary="Object during public notice (公示)")
    def object(self, request: Request, award_id: Id, data: ReasonBody, db: Database,
               principal: Principal) -> AwardView:
        return wf.object_to_award(db, award_id=award_id, actor=actor(principal),
                                  reason=data.reason, key=scoped_key(request, principal))

    @post("/awards/{award_id:int}/review", guards=[requires_role(*ADMINS)], status_code=200,
          sync_to_thread=True, summary="Decide the objections to an award")
    def review(self, request: Request, award_id: Id, data: ReviewBody, db: Database,
               settings: Settings, principal: Principal) -> AwardView:
        return wf.review_objections(db, settings, award_id=award_id, reviewer=actor(principal),
                                    uphold=data.uphold, note=data.note,
                                    key=scoped_key(request, principal))

    @post("/awards/{award_id:int}/appeals", guards=[signed_in], status_code=201,
          sync_to_thread=True, summary="Appeal a deduction (申诉)")
    def appeal(self, request: Request, award_id: Id, data: ReasonBody, db: Database,
               principal: Principal) -> AppealView:
        return wf.appeal(db, award_id=award_id, appellant=actor(principal), reason=data.reason,
                         key=scoped_key(request, principal))

    @post("/appeals/{appeal_id:int}/decision", guards=[requires_role(*ADMINS)], status_code=200,
          sync_to_thread=True, summary="Decide an appeal (not by the deduction's recorder)")
    def decide(self, request: Request, appeal_id: Id, data: AppealDecision, db: Database,
               settings: Settings, principal: Principal) -> AppealView:
        return wf.decide_appeal(db, settings, appeal_id=appeal_id, decider=actor(principal),
                                upheld=data.upheld, note=data.note,
                                key=scoped_key(request, principal))

    # --- reading ------------------------------------------------------------------------------
    @get("/villages/{village_id:int}/notices", sync_to_thread=True,
         summary="Awards and deductions on public notice in a village (public)")
    def notices(self, village_id: Id, db: Database,
                cursor: pg.Cursor = None,
                limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[NoticeView]:
        return pg.page_of(explain.notices(db, village_id), cursor, limit, lambda n: n.award_id)

    @get("/entries/{entry_id:int}/explanation", guards=[requires_role(*explain.READERS)],
         sync_to_thread=True, summary="Why an entry exists, down to its evidence (village staff)")
    def explanation(self, entry_id: Id, db: Database,
                    principal: Principal) -> EntryExplanation:
        return explain.explain_entry_for(db, principal, entry_id)

    @get("/reports/recorders", guards=[requires_role(*ADMINS)], sync_to_thread=True,
         summary="Each recorder's awards and deductions by village and item")
    def recorders(self, db: Database, principal: Principal,
                  village_id: Annotated[int | None, Parameter(query="village_id", ge=1,
                                                              le=MAX_ID)] = None,
                  since: datetime | None = None,
                  until: datetime | None = None) -> RecorderReport:
        return explain.recorder_report_for(db, principal, village_id=village_id, since=since,
                                           until=until)

    @get("/holders/{holder_type:str}/{holder_id:int}/standing", guards=[signed_in],
         sync_to_thread=True, summary="Balance, thresholds, sanctions, coming expiries")
    def standing(self, holder_type: str, holder_id: Id, db: Database,
                 principal: Principal) -> Standing:
        return thresholds.standing_for(db, principal, holder_type, holder_id)

    @get("/holders/{holder_type:str}/{holder_id:int}/levels", guards=[signed_in],
         sync_to_thread=True, summary="Levels under the catalogs' levels (or the national "
                                      "stars), what the next needs, and their history")
    def levels(self, holder_type: str, holder_id: Id, db: Database,
               principal: Principal) -> Levels:
        return levels.summary_for(db, principal, holder_type, holder_id)

    @post("/holders/{holder_type:str}/{holder_id:int}/levels/selection",
          guards=[requires_role(*ADMINS)],
          status_code=200, sync_to_thread=True,
          summary="An admin selects (or withdraws) a holder for a level that asks for it")
    def select_level(self, holder_type: str, holder_id: Id, data: LevelSelection,
                     db: Database, principal: Principal) -> LevelScheme:
        return levels.select_for(db, principal, holder_type, holder_id, catalog=data.catalog,
                                 level=data.level, selected=data.selected, reason=data.reason)

    @get("/holders/{holder_type:str}/{holder_id:int}/currencies", guards=[signed_in],
         sync_to_thread=True, summary="Coins earned per currency, their rates, banked hours")
    def currencies(self, holder_type: str, holder_id: Id, db: Database,
                   principal: Principal) -> Currencies:
        return coins.summary_for(db, principal, holder_type, holder_id)

    @post("/holders/{holder_type:str}/{holder_id:int}/coins/conversions", guards=[signed_in],
          status_code=201, sync_to_thread=True,
          summary="Convert a coin into points at the catalog's rate (the holder or its staff)")
    def convert(self, request: Request, holder_type: str, holder_id: Id, data: CoinConversion,
                db: Database, settings: Settings, principal: Principal) -> Conversion:
        return coins.convert(db, settings, holder_type=holder_type, holder_id=holder_id,
                             coin_code=data.coin, amount=data.coins,
                             recorder=actor(principal), key=scoped_key(request, principal))

    @post("/time-bank/exchanges", guards=[signed_in], status_code=201, sync_to_thread=True,
          summary="Banked hours from the receiver to the helper (the receiver or village staff)")
    def time_bank(self, request: Request, data: TimeBankExchange, db: Database,
                  settings: Settings, principal: Principal) -> TimeBankExchanged:
        return timebank.record(db, settings, timebank.Exchange(
            data.receiver_id, data.helper_id, data.minutes, data.note, data.occurred_at),
            recorder=actor(principal), key=scoped_key(request, principal))

    @post("/sweeps/notices", guards=[requires_role(TOWN_ADMIN)], status_code=200,
          sync_to_thread=True, summary="Post awards whose notice window has passed")
    def sweep(self, db: Database, settings: Settings) -> NoticesPosted:
        return NoticesPosted(posted=wf.post_due_notices(db, settings=settings))
