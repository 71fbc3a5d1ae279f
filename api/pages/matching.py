"""四单 pages: ordering a service (a resident for their household; station staff for a caller
or a visitor), my household's orders and my service tasks, one order with what the caller may
do to it (dispatch, accept or decline, show the service code, rate, cancel) and its history,
and a station's queue."""

from __future__ import annotations

from datetime import timedelta

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import Principal
from api.pages.common import (
    FormData,
    form_key,
    int_field,
    refusals_into,
    render,
    saved,
    t_for,
    to_signin,
)
from api.pages.filters import qr_svg
from api.pages.organizer import parse_local
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError, Forbidden
from ledger.matching import menu as matching_menu
from ledger.matching import service as matching
from ledger.matching import views as matching_views
from ledger.timeutil import LOCAL_TZ, utcnow

ORDER_FIELDS = {"need*": "need", "preferred*": "preferred_at", "service*": "service_code",
                "household*": "household_id", "photo*": "need", "phone*": "contact_phone",
                "too_many_open_orders": "_form"}


def _form_ctx(db: Database, p: Principal, station_id: int, t) -> dict:
    form = matching_views.order_form(db, p, station_id)
    households = [(h.id, f"{h.head_name} · {h.address}") for h in form.households]
    services = [(m.code, m.name) for m in form.menu if m.code != matching_menu.FREE_TEXT_CODE]
    return {"station": form.station, "staff": form.staff,
            "service_options": [*services, ("", t("ord.other"))],
            "household_options": [("", t("admin.choose")), *households],
            "channel_options": [("phone", t("ord.channel.phone")),
                                ("counter", t("ord.channel.counter"))],
            "max_need": matching.MAX_NEED_CHARS}


@get("/orders/new", name="order_new", sync_to_thread=True)
def order_new(request: Request, db: Database,
              maybe_principal: Principal | None) -> Template | Redirect:
    if maybe_principal is None:
        return to_signin(request)
    t = t_for(request)
    raw = request.query_params.get("station") or ""
    station_id = int(raw) if raw.isdigit() and len(raw) < 19 else 0  # 0: station_not_found
    soon = (utcnow() + timedelta(hours=2)).astimezone(LOCAL_TZ).replace(minute=0, second=0,
                                                                        microsecond=0)
    values = {"preferred_at": soon.strftime("%Y-%m-%dT%H:%M"), "service_code": "repair"}
    return render(request, "orders/new.html", values=values,
                  **_form_ctx(db, maybe_principal, station_id, t))


@post("/orders/new", name="order_create", sync_to_thread=True)
def order_create(request: Request, db: Database, maybe_principal: Principal | None,
                 data: FormData) -> Template | Redirect:
    p = maybe_principal
    if p is None:
        return to_signin(request)
    t = t_for(request)
    errors: dict[str, str] = {}
    station_id = int_field(data, "station_id", t, errors, lo=1) or 0
    preferred = parse_local(data.get("preferred_at"), t, errors, "preferred_at")
    household = int_field(data, "household_id", t, errors, lo=1, required=False)
    if not errors:
        d = matching.OrderDraft(
            village_id=station_id, need=str(data.get("need") or ""), preferred_at=preferred,
            service_code=data.get("service_code") or None, household_id=household,
            contact_phone=str(data.get("contact_phone") or "").strip()[:20],
            channel=data.get("channel") or "self")
        with refusals_into(errors, t, ORDER_FIELDS):
            o = matching.place_order(db, p, d, key=form_key(data, p, "order"))
            return Redirect(path=f"/orders/{o.id}", status_code=303)
    return render(request, "orders/new.html", status=422, errors=errors, values=data,
                  **_form_ctx(db, p, station_id, t))


@get("/orders", name="orders", sync_to_thread=True)
def orders_home(request: Request, db: Database,
                maybe_principal: Principal | None) -> Template | Redirect:
    if maybe_principal is None:
        return to_signin(request)
    mine = matching_views.list_orders(db, maybe_principal, mine=True)
    tasks = matching_views.list_orders(db, maybe_principal, tasks=True)
    return render(request, "orders/home.html", mine=mine, tasks=tasks)


@get("/station/{station_id:int}/orders", name="station_orders", sync_to_thread=True)
def station_orders(request: Request, station_id: int, db: Database,
                   maybe_principal: Principal | None) -> Template | Redirect:
    if maybe_principal is None:
        return to_signin(request)
    queue = matching_views.station_queue(db, maybe_principal, station_id)
    return render(request, "orders/queue.html", station=queue.station, orders=queue.orders)


def _detail(request: Request, db: Database, settings: Settings, p: Principal, order_id: int,
            *, status: int = 200, error: str | None = None) -> Template:
    t = t_for(request)
    o = matching_views.read_order(db, p, order_id)
    ctx: dict = {"o": o, "error": error}
    if "dispatch" in o.can:
        c = matching_menu.order_candidates(db, p, order_id)
        ctx["team_options"] = [("", t("admin.choose"))] + [(x.id, x.name) for x in c.teams]
        ctx["person_options"] = [("", t("admin.choose"))] + [(x.id, x.name) for x in c.people]
    if "show_code" in o.can:
        code = matching_views.service_code(db, settings.secret_key, settings.public_base_url, p,
                                           order_id)
        ctx["code"] = {"url": code.url, "qr": qr_svg(code.url, label=t("ord.code"))}
    ctx["rating_options"] = [(n, t("ord.stars_n", n=n)) for n in (5, 4, 3, 2, 1)]
    return render(request, "orders/detail.html", status=status, **ctx)


@get("/orders/{order_id:int}", name="order", sync_to_thread=True)
def order_page(request: Request, order_id: int, db: Database, settings: Settings,
               maybe_principal: Principal | None) -> Template | Redirect:
    if maybe_principal is None:
        return to_signin(request)
    return _detail(request, db, settings, maybe_principal, order_id)


def _act(request: Request, order_id: int, db: Database, settings: Settings,
         p: Principal | None, fn) -> Template | Redirect:
    """Run one action on the order; its refusal is shown on the order's page."""
    if p is None:
        return to_signin(request)
    try:
        fn(p)
    except Forbidden:
        raise
    except DomainError as exc:
        t = t_for(request)
        return _detail(request, db, settings, p, order_id, status=exc.status,
                       error=t("err." + exc.code, default=exc.detail))
    return saved(f"/orders/{order_id}")


def _int(raw) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


@post("/orders/{order_id:int}/dispatch", name="order_dispatch", sync_to_thread=True)
def order_dispatch(request: Request, order_id: int, db: Database, settings: Settings,
                   maybe_principal: Principal | None, data: FormData) -> Template | Redirect:
    return _act(request, order_id, db, settings, maybe_principal, lambda p: matching.dispatch(
        db, p, order_id, team_id=_int(data.get("team_id")),
        person_id=_int(data.get("person_id")), note=str(data.get("note") or "")[:500],
        key=form_key(data, p, "dispatch")))


@post("/orders/{order_id:int}/accept", name="order_accept", sync_to_thread=True)
def order_accept(request: Request, order_id: int, db: Database, settings: Settings,
                 maybe_principal: Principal | None, data: FormData) -> Template | Redirect:
    return _act(request, order_id, db, settings, maybe_principal, lambda p: matching.accept(
        db, p, order_id, key=form_key(data, p, "accept")))


@post("/orders/{order_id:int}/decline", name="order_decline", sync_to_thread=True)
def order_decline(request: Request, order_id: int, db: Database, settings: Settings,
                  maybe_principal: Principal | None, data: FormData) -> Template | Redirect:
    return _act(request, order_id, db, settings, maybe_principal, lambda p: matching.decline(
        db, p, order_id, str(data.get("reason") or ""), key=form_key(data, p, "decline")))


@post("/orders/{order_id:int}/rate", name="order_rate", sync_to_thread=True)
def order_rate(request: Request, order_id: int, db: Database, settings: Settings,
               maybe_principal: Principal | None, data: FormData) -> Template | Redirect:
    return _act(request, order_id, db, settings, maybe_principal, lambda p: matching.rate(
        db, p, order_id, _int(data.get("rating")) or 0, str(data.get("comment") or ""),
        key=form_key(data, p, "rate")))


@post("/orders/{order_id:int}/cancel", name="order_cancel", sync_to_thread=True)
def order_cancel(request: Request, order_id: int, db: Database, settings: Settings,
                 maybe_principal: Principal | None, data: FormData) -> Template | Redirect:
    return _act(request, order_id, db, settings, maybe_principal, lambda p: matching.cancel(
        db, p, order_id, str(data.get("cancel_reason") or ""),
        key=form_key(data, p, "cancel")))


handlers = [order_new, order_create, orders_home, station_orders, order_page, order_dispatch,
            order_accept, order_decline, order_rate, order_cancel]
