"""四单 over HTTP: the station menu (public), placing an order (a resident for their household,
station staff for a caller or a visitor), the station's queue, dispatching, accepting or
declining, the order's check-in code, rating and cancelling. Who may do each is decided by the
domain (ledger/matching/orders.py) from the order itself: the station's staff, the household,
the assigned team's leader."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import Parameter

from api.auth import Principal, signed_in
from api.controllers import paged as pg
from api.deps import scoped_key
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import InvalidInput
from ledger.matching import menu as matching_menu
from ledger.matching import orders as matching_orders
from ledger.matching import service as matching
from ledger.matching import views as matching_views
from ledger.matching.schemas import Candidates, MenuItemView, OrderDetail, OrderView, ServiceCode

Reason = Annotated[str, msgspec.Meta(max_length=matching_orders.MAX_REASON_CHARS)]


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    station_id: int
    preferred_at: datetime
    need: Annotated[str, msgspec.Meta(max_length=matching.MAX_NEED_CHARS)] = ""
    service_code: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    household_id: int | None = None
    contact_phone: Annotated[str, msgspec.Meta(max_length=20)] = ""
    channel: Annotated[str, msgspec.Meta(max_length=10)] = "self"
    photos: Annotated[list[str], msgspec.Meta(max_length=matching.MAX_PHOTOS)] = []


class DispatchIn(msgspec.Struct, forbid_unknown_fields=True):
    team_id: int | None = None
    person_id: int | None = None
    service_at: datetime | None = None
    note: Reason = ""


class ReasonIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class RatingIn(msgspec.Struct, forbid_unknown_fields=True):
    rating: int
    comment: Annotated[str, msgspec.Meta(max_length=matching.MAX_COMMENT_CHARS)] = ""


class MatchingController(Controller):
    path = "/api/v1/matching"
    tags = ["matching"]

    @get("/service-menu", sync_to_thread=True, summary="The stations' service menu (public)")
    def service_menu(self, db: Database, town_id: int = 1,
                     cursor: pg.Cursor = None,
                     limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[MenuItemView]:
        return pg.page_of(matching_menu.menu(db, town_id), cursor, limit, lambda m: m.id)

    @post("/orders", guards=[signed_in], sync_to_thread=True,
          summary="点单: order a service for a household (a resident's own; staff name one)")
    def place(self, request: Request, data: OrderIn, db: Database,
              principal: Principal) -> OrderView:
        d = matching.OrderDraft(
            village_id=data.station_id, need=data.need, preferred_at=data.preferred_at,
            service_code=data.service_code, household_id=data.household_id,
            contact_phone=data.contact_phone, channel=data.channel, photos=tuple(data.photos))
        return matching.place_order(db, principal, d, key=scoped_key(request, principal))

    @get("/orders", guards=[signed_in], sync_to_thread=True,
         summary="Orders: scope=mine (my household's), tasks (my team's or mine to serve), or "
                 "station (a station's queue, staff)")
    def list_orders(self, db: Database, principal: Principal,
                    which: Annotated[str, Parameter(query="scope", max_length=10)] = "mine",
                    station_id: int | None = None, cursor: pg.Cursor = None,
                    limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[OrderView]:
        if which not in ("mine", "tasks", "station"):
            raise InvalidInput("scope is mine, tasks or station", code="order_list_scope")
        if which == "station" and station_id is None:
            raise InvalidInput("name the station", code="station_required")
        rows = matching_views.list_orders(
            db, principal, village_id=station_id if which == "station" else None,
            mine=which == "mine", tasks=which == "tasks", limit=limit,
            before_id=pg.either(cursor, None))
        return pg.Page(rows, pg.cursor_of(pg.next_key(rows, limit, lambda o: o.id)))

    @get("/orders/{order_id:int}", guards=[signed_in], sync_to_thread=True,
         summary="One order with its history (who, when, why) and what the caller may do")
    def get_order(self, order_id: int, db: Database, principal: Principal) -> OrderDetail:
        return matching_views.read_order(db, principal, order_id)

    @get("/orders/{order_id:int}/candidates", guards=[signed_in], sync_to_thread=True,
         summary="Teams and volunteers with the skill, for 派单 (station staff)")
    def candidates(self, order_id: int, db: Database, principal: Principal) -> Candidates:
        return matching_menu.order_candidates(db, principal, order_id)

    @post("/orders/{order_id:int}/dispatch", guards=[signed_in], sync_to_thread=True,
          summary="派单: to a team or a volunteer with the skill (station staff)")
    def dispatch(self, request: Request, order_id: int, data: DispatchIn, db: Database,
                 principal: Principal) -> OrderView:
        return matching.dispatch(db, principal, order_id, team_id=data.team_id,
                                 person_id=data.person_id, service_at=data.service_at,
                                 note=data.note, key=scoped_key(request, principal))

    @post("/orders/{order_id:int}/accept", guards=[signed_in], sync_to_thread=True,
          summary="接单 (the assigned volunteer, or the team's leader), before the deadline")
    def accept(self, request: Request, order_id: int, db: Database,
               principal: Principal) -> OrderView:
        return matching.accept(db, principal, order_id, key=scoped_key(request, principal))

    @post("/orders/{order_id:int}/decline", guards=[signed_in], sync_to_thread=True,
          summary="Decline with a reason: the order goes back to the station")
    def decline(self, request: Request, order_id: int, data: ReasonIn, db: Database,
                principal: Principal) -> OrderView:
        return matching.decline(db, principal, order_id, data.reason,
                                key=scoped_key(request, principal))

    @get("/orders/{order_id:int}/code", guards=[signed_in], sync_to_thread=True,
         summary="The order's check-in code (the household or the station shows it)")
    def code(self, order_id: int, db: Database, settings: Settings,
             principal: Principal) -> ServiceCode:
        return matching_views.service_code(db, settings.secret_key, settings.public_base_url,
                                     principal, order_id)

    @post("/orders/{order_id:int}/rating", guards=[signed_in], sync_to_thread=True,
          summary="评单: 1–5 and a comment (the household, or staff from a phone call)")
    def rate(self, request: Request, order_id: int, data: RatingIn, db: Database,
             principal: Principal) -> OrderView:
        return matching.rate(db, principal, order_id, data.rating, data.comment,
                             key=scoped_key(request, principal))

    @post("/orders/{order_id:int}/cancel", guards=[signed_in], sync_to_thread=True,
          summary="Cancel with a reason (the household or station staff)")
    def cancel(self, request: Request, order_id: int, data: ReasonIn, db: Database,
               principal: Principal) -> OrderView:
        return matching.cancel(db, principal, order_id, data.reason,
                               key=scoped_key(request, principal))
