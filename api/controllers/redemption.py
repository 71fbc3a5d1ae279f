"""Redemption API: the catalog (admins manage, everyone signed in browses), orders and vouchers
(holders see their own), the counter (clerks fulfil), draws and settlement (town admins)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post

from api.auth import CLERK, TOWN_ADMIN, VILLAGE_ADMIN, Principal, requires_role, signed_in
from api.controllers import paged as pg
from api.deps import scoped_key
from ledger.config import Settings
from ledger.db import Database
from ledger.ratelimit import Limit
from ledger.redemption import answers, catalog, draws, service, settlement
from ledger.redemption.catalog import DEFAULT_VOUCHER_TTL_S
from ledger.redemption.models import HolderKinds, ProviderKind, RewardKind
from ledger.redemption.schemas import (
    ClerkRemoved,
    ClerkView,
    CounterView,
    DrawCheck,
    DrawRun,
    DrawView,
    DrawWinners,
    OrderView,
    ProviderView,
    RewardView,
    SettlementReport,
    Swept,
)
from ledger.redemption.vouchers import qr_png, qr_svg, voucher_url

ADMINS = (TOWN_ADMIN, VILLAGE_ADMIN)
UNSET = msgspec.UNSET
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=catalog.MAX_NAME_CHARS)]


class ProviderIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    kind: ProviderKind
    town_id: int = 1
    village_id: int | None = None
    fen_per_point: int = 100


class ProviderPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str | msgspec.UnsetType = UNSET
    fen_per_point: int | msgspec.UnsetType = UNSET
    active: bool | msgspec.UnsetType = UNSET


class ClerkIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: int


class RewardIn(msgspec.Struct, forbid_unknown_fields=True):
    provider_id: int
    name: Name
    kind: RewardKind
    cost_points: int
    stock: int | None = None
    description: str = ""
    limit_per_month: int | None = None
    limit_per_year: int | None = None
    min_star_level: int = 0
    village_id: int | None = None
    holder_kinds: HolderKinds = HolderKinds.ANY
    available_from: datetime | None = None
    available_until: datetime | None = None
    voucher_ttl_s: int = DEFAULT_VOUCHER_TTL_S
    active: bool = True


class RewardPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str | msgspec.UnsetType = UNSET
    description: str | msgspec.UnsetType = UNSET
    kind: RewardKind | msgspec.UnsetType = UNSET
    cost_points: int | msgspec.UnsetType = UNSET
    limit_per_month: int | None | msgspec.UnsetType = UNSET
    limit_per_year: int | None | msgspec.UnsetType = UNSET
    min_star_level: int | msgspec.UnsetType = UNSET
    village_id: int | None | msgspec.UnsetType = UNSET
    holder_kinds: HolderKinds | msgspec.UnsetType = UNSET
    available_from: datetime | None | msgspec.UnsetType = UNSET
    available_until: datetime | None | msgspec.UnsetType = UNSET
    voucher_ttl_s: int | msgspec.UnsetType = UNSET
    active: bool | msgspec.UnsetType = UNSET


class StockIn(msgspec.Struct, forbid_unknown_fields=True):
    add: int | None = None
    set_to: int | None = None
    unlimited: bool = False


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    reward_id: int
    quantity: int = 1
    household: bool = False  # redeem from my household's account instead of my own


class DrawIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    reward_id: int
    winners_count: int
    population: dict
    town_id: int = 1


class RunDrawIn(msgspec.Struct, forbid_unknown_fields=True):
    seed: str | None = None


def _links(order: OrderView, settings: Settings) -> OrderView:
    """The holder's answer names where its voucher opens and its QR images (the API's paths)."""
    code = order.voucher.code
    base = f"/api/v1/redemption/vouchers/{code}"
    return msgspec.structs.replace(order, voucher=msgspec.structs.replace(
        order.voucher, url=voucher_url(settings.public_base_url, code), qr_png=f"{base}/qr.png",
        qr_svg=f"{base}/qr.svg"))


VOUCHER_SCANS = Limit("voucher_scan", max_hits=30, window_s=60)  # per clerk


class RedemptionController(Controller):
    path = "/api/v1/redemption"
    tags = ["redemption"]

    # -- catalog ---------------------------------------------------------------------------

    @get("/providers", guards=[signed_in], sync_to_thread=True)
    def providers(self, db: Database, town_id: int | None = None, cursor: pg.Cursor = None,
                  limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[ProviderView]:
        return pg.page_of(answers.providers(db, town_id), cursor, limit, lambda p: p.id)

    @post("/providers", guards=[requires_role(*ADMINS)], status_code=201, sync_to_thread=True,
          summary="Add a shop or partner (its redeemed account opens with it)")
    def create_provider(self, request: Request, data: ProviderIn, db: Database,
                        principal: Principal) -> ProviderView:
        return catalog.create_provider(
            db, principal, town_id=data.town_id, name=data.name, kind=data.kind,
            village_id=data.village_id, fen_per_point=data.fen_per_point,
            key=scoped_key(request, principal))

    @patch("/providers/{provider_id:int}", guards=[requires_role(*ADMINS)],
           sync_to_thread=True, summary="Rename, revalue, or close a provider")
    def update_provider(self, request: Request, provider_id: int, data: ProviderPatch,
                        db: Database, principal: Principal) -> ProviderView:
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not UNSET}
        return catalog.update_provider(db, principal, provider_id, changes=changes,
                                       key=scoped_key(request, principal))

    @post("/providers/{provider_id:int}/clerks", guards=[requires_role(*ADMINS)],
          status_code=201, sync_to_thread=True, summary="Make a user a clerk of this shop")
    def assign_clerk(self, request: Request, provider_id: int, data: ClerkIn, db: Database,
                     principal: Principal) -> ClerkView:
        return catalog.assign_clerk(db, principal, provider_id=provider_id,
                                    user_id=data.user_id, key=scoped_key(request, principal))

    @delete("/providers/{provider_id:int}/clerks/{user_id:int}",
            guards=[requires_role(*ADMINS)], status_code=200, sync_to_thread=True)
    def remove_clerk(self, provider_id: int, user_id: int, db: Database,
                     principal: Principal) -> ClerkRemoved:
        return catalog.remove_clerk(db, principal, provider_id=provider_id, user_id=user_id)

    @get("/rewards", guards=[signed_in], sync_to_thread=True,
         summary="The catalog; admins may ask for withdrawn and out-of-window rewards too")
    def rewards(self, db: Database, principal: Principal, provider_id: int | None = None,
                include_unavailable: bool = False,
                cursor: pg.Cursor = None, after_id: pg.OldAfterId = None,
                limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.AfterIdPage[RewardView]:
        return pg.paged(msgspec.structs.asdict(answers.rewards(
            db, principal, provider_id=provider_id, include_unavailable=include_unavailable,
            limit=limit, after_id=pg.either(cursor, after_id))), "next_after_id")

    @get("/rewards/{reward_id:int}", guards=[signed_in], sync_to_thread=True)
    def reward(self, reward_id: int, db: Database) -> RewardView:
        return answers.reward(db, reward_id)

    @post("/rewards", guards=[requires_role(*ADMINS)], status_code=201, sync_to_thread=True)
    def create_reward(self, request: Request, data: RewardIn, db: Database,
                      principal: Principal) -> RewardView:
        fields = msgspec.structs.asdict(data)
        provider_id, stock = fields.pop("provider_id"), fields.pop("stock")
        return catalog.create_reward(db, principal, provider_id=provider_id, fields=fields,
                                     stock=stock, key=scoped_key(request, principal))

    @patch("/rewards/{reward_id:int}", guards=[requires_role(*ADMINS)], sync_to_thread=True)
    def update_reward(self, request: Request, reward_id: int, data: RewardPatch, db: Database,
                      principal: Principal) -> RewardView:
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not UNSET}
        return catalog.update_reward(db, principal, reward_id, changes=changes,
                                     key=scoped_key(request, principal))

    @post("/rewards/{reward_id:int}/stock", guards=[requires_role(*ADMINS)], status_code=200,
          sync_to_thread=True, summary="Restock, write off, set the total, or make unlimited")
    def stock(self, request: Request, reward_id: int, data: StockIn, db: Database,
              principal: Principal) -> RewardView:
        return catalog.change_stock(db, principal, reward_id, add=data.add, set_to=data.set_to,
                                    unlimited=data.unlimited,
                                    key=scoped_key(request, principal))

    # -- orders and vouchers (holders) -----------------------------------------------------

    @post("/orders", guards=[signed_in], status_code=201, sync_to_thread=True,
          summary="Redeem: points are held, a voucher with a QR code is issued")
    def redeem(self, request: Request, data: OrderIn, db: Database, settings: Settings,
               principal: Principal) -> OrderView:
        return _links(answers.redeem_for(db, principal, reward_id=data.reward_id,
                                         household=data.household, quantity=data.quantity,
                                         key=scoped_key(request, principal)), settings)

    @get("/orders", guards=[signed_in], sync_to_thread=True, summary="My orders, newest first")
    def my_orders(self, db: Database, settings: Settings, principal: Principal,
                  status: str | None = None,
                  cursor: pg.Cursor = None, before_id: pg.OldBeforeId = None,
                  limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.BeforeIdPage[OrderView]:
        page = answers.orders_of(db, principal, status=status, limit=limit,
                                 before_id=pg.either(cursor, before_id))
        return pg.paged({"items": [_links(o, settings) for o in page.items],
                         "next_before_id": page.next_before_id}, "next_before_id",
                        pg.BeforeIdPage)

    @get("/orders/{order_id:int}", guards=[signed_in], sync_to_thread=True)
    def order(self, order_id: int, db: Database, settings: Settings,
              principal: Principal) -> OrderView:
        return _links(answers.order_of(db, principal, order_id), settings)

    @post("/orders/{order_id:int}/cancel", guards=[signed_in], status_code=200,
          sync_to_thread=True, summary="Cancel an unused voucher (its holder or a town admin)")
    def cancel(self, request: Request, order_id: int, db: Database, settings: Settings,
               principal: Principal) -> OrderView:
        return _links(answers.cancel_for(db, principal, order_id,
                                         key=scoped_key(request, principal)), settings)

    @get("/vouchers/{code:str}/qr.png", guards=[signed_in], sync_to_thread=True,
         media_type="image/png")
    def voucher_png(self, code: str, db: Database, settings: Settings,
                    principal: Principal) -> Response:
        code = answers.voucher_code_of(db, principal, code)
        return Response(qr_png(settings.public_base_url, code), media_type="image/png",
                        headers={"Cache-Control": "private, no-store"})

    @get("/vouchers/{code:str}/qr.svg", guards=[signed_in], sync_to_thread=True,
         media_type="image/svg+xml")
    def voucher_svg(self, code: str, db: Database, settings: Settings,
                    principal: Principal) -> Response:
        code = answers.voucher_code_of(db, principal, code)
        return Response(qr_svg(settings.public_base_url, code), media_type="image/svg+xml",
                        headers={"Cache-Control": "private, no-store"})

    # -- the counter (clerks) --------------------------------------------------------------

    @get("/vouchers/{code:str}", guards=[requires_role(CLERK)], sync_to_thread=True,
         summary="What the counter sees after scanning a voucher")
    def scan(self, request: Request, code: str, db: Database,
             principal: Principal) -> CounterView:
        # Voucher codes are unguessable; this limit makes guessing at a counter hopeless too.
        request.app.state.limiter.check(VOUCHER_SCANS, f"user:{principal.user_id}")
        return answers.at_counter(db, code, principal.user_id)

    @post("/vouchers/{code:str}/fulfil", guards=[requires_role(CLERK)], status_code=200,
          sync_to_thread=True, summary="Hand the reward over: the voucher is used once")
    def fulfil(self, request: Request, code: str, db: Database,
               principal: Principal) -> OrderView:
        return service.fulfil(db, code=code, clerk_user_id=principal.user_id,
                              key=scoped_key(request, principal))

    # -- draws, settlement, sweep (town admins) --------------------------------------------

    @post("/draws", guards=[requires_role(TOWN_ADMIN)], status_code=201, sync_to_thread=True)
    def create_draw(self, request: Request, data: DrawIn, db: Database,
                    principal: Principal) -> DrawView:
        return draws.create_draw(db, town_id=data.town_id, name=data.name,
                                 reward_id=data.reward_id, winners_count=data.winners_count,
                                 population_def=data.population, actor_id=principal.user_id,
                                 key=scoped_key(request, principal))

    @post("/draws/{draw_id:int}/run", guards=[requires_role(TOWN_ADMIN)], status_code=200,
          sync_to_thread=True, summary="Draw the winners (once) from a recorded seed")
    def run_draw(self, request: Request, draw_id: int, data: RunDrawIn, db: Database,
                 principal: Principal) -> DrawRun:
        return draws.run_draw(db, draw_id, seed=data.seed, actor_id=principal.user_id,
                              actor_person_id=principal.person_id,
                              key=scoped_key(request, principal))

    @get("/draws/{draw_id:int}", guards=[requires_role(TOWN_ADMIN)], sync_to_thread=True)
    def draw(self, draw_id: int, db: Database) -> DrawWinners:
        return draws.winners(db, draw_id)

    @get("/draws/{draw_id:int}/verify", guards=[requires_role(TOWN_ADMIN)],
         sync_to_thread=True, summary="Recompute the winners from the recorded seed")
    def verify_draw(self, draw_id: int, db: Database) -> DrawCheck:
        return draws.check(db, draw_id)

    @get("/settlement", guards=[requires_role(TOWN_ADMIN)], sync_to_thread=True,
         summary="Points redeemed per provider in a period, with the entries behind them")
    def settlement(self, db: Database, start: date, end: date, provider_id: int | None = None,
                   lines: bool = True) -> SettlementReport:
        return settlement.report(db, start=start, end=end, provider_id=provider_id,
                                 with_lines=lines)

    @get("/settlement.csv", guards=[requires_role(TOWN_ADMIN)], sync_to_thread=True,
         media_type="text/csv")
    def settlement_csv(self, db: Database, start: date, end: date,
                       provider_id: int | None = None) -> Response:
        name = f"settlement-{start.isoformat()}_{end.isoformat()}.csv"
        return Response(settlement.csv_report(db, start=start, end=end,
                                              provider_id=provider_id).encode("utf-8"),
                        media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @post("/sweep", guards=[requires_role(TOWN_ADMIN)], status_code=200, sync_to_thread=True,
          summary="Expire overdue vouchers now (the worker does this on a schedule)")
    def sweep(self, db: Database) -> Swept:
        return Swept(expired=service.sweep_expired_vouchers(db))
