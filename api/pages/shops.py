"""Shop set-up for the town admin (/admin/shops): the providers (village points shops, the
cinema, partners) — opening one, its settlement value, closing and reopening — and their
clerks (a staff account by its login, given the clerk role for the shop's village when it has
none); rewards and stock stay on /admin/rewards. The settlement page (/admin/settlement)
shows what each provider redeemed in a period, from ledger.redemption.settlement."""

from __future__ import annotations

from datetime import date

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import CLERK, TOWN_ADMIN, Principal
from api.pages.common import (
    FormData,
    field_errors,
    form_key,
    int_field,
    page_role,
    refusals_into,
    render,
    require_field,
    saved,
    t_for,
)
from ledger.db import Database
from ledger.errors import DomainError, Forbidden, NotFound
from ledger.redemption import answers, catalog, settlement
from ledger.registry.lookup import villages
from ledger.rules.periods import local_date
from ledger.timeutil import utcnow

PROVIDER_FIELDS = {"provider_name*": "name", "invalid_kind": "kind", "village*": "village_id",
                   "invalid_fen*": "fen_per_point", "town*": "village_id"}


def _page(request: Request, db: Database, *, status: int = 200, **ctx) -> Template:
    t = t_for(request)
    providers = answers.providers(db)
    clerks = answers.clerks(db)
    names = {v.id: v.name for v in villages(db)}
    kinds = [(k, t("shop_kind." + k)) for k in catalog.PROVIDER_KINDS]
    village_options = [("", t("shop.town_wide")), *((str(v), n) for v, n in names.items())]
    return render(request, "shops/shops.html", status=status, providers=providers,
                  clerks=clerks, names=names, kind_options=kinds,
                  village_options=village_options, **ctx)


@get("/admin/shops", name="admin_shops", guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_shops(request: Request, db: Database) -> Template | Redirect:
    return _page(request, db)


@post("/admin/shops", name="admin_shop_new", guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_shop_new(request: Request, db: Database, principal: Principal,
                   data: FormData) -> Template | Redirect:
    t = t_for(request)
    errors: dict[str, str] = {}
    name = require_field(data, "name", t, errors, max_chars=catalog.MAX_NAME_CHARS)
    village = int_field(data, "village_id", t, errors, lo=1, required=False)
    fen = int_field(data, "fen_per_point", t, errors, lo=0, hi=catalog.MAX_FEN_PER_POINT)
    if not errors:
        with refusals_into(errors, t, PROVIDER_FIELDS):
            answers.create_shop(db, principal, name=name, kind=data.get("kind", ""),
                                village_id=village, fen_per_point=fen,
                                key=form_key(data, principal, "provider"))
            return saved("/admin/shops")
    return _page(request, db, status=422, errors=errors, values=data)


@post("/admin/shops/{provider_id:int}/{action:str}", name="admin_shop_action",
      guards=[page_role(TOWN_ADMIN)],
      sync_to_thread=True)
def admin_shop_action(request: Request, provider_id: int, action: str, db: Database,
                      principal: Principal, data: FormData) -> Template | Redirect:
    """active (close or reopen), clerk (add a clerk by login), unclerk (remove one)."""
    t = t_for(request)
    key = form_key(data, principal, f"shop_{action}:{provider_id}")
    try:
        if action == "active":
            catalog.update_provider(db, principal, provider_id,
                                    changes={"active": data.get("active") == "1"}, key=key)
        elif action == "clerk":
            answers.add_clerk(db, principal, provider_id, str(data.get("login") or ""), key=key)
        elif action == "unclerk":
            errors: dict[str, str] = {}
            user_id = int_field(data, "user_id", t, errors, lo=1)
            if errors:
                raise NotFound("no such clerk", code="clerk_not_found")
            catalog.remove_clerk(db, principal, provider_id=provider_id, user_id=user_id)
        else:
            raise NotFound(f"no action {action}", code="not_found")
        return saved("/admin/shops")
    except DomainError as exc:
        errors = field_errors(exc, t, {"user_not_found": "login"})
        return _page(request, db, status=exc.status, failed=provider_id, errors={
            "_form": "；".join(errors.values())})


@get("/admin/settlement", name="admin_settlement",
     guards=[page_role(TOWN_ADMIN, CLERK)], sync_to_thread=True)
def admin_settlement(request: Request, db: Database, principal: Principal,
                     start: date | None = None, end: date | None = None
                     ) -> Template | Redirect:
    """Every shop's settlement for a town admin; a clerk's own shop's."""
    today = local_date(utcnow())
    start = start or today.replace(day=1)
    end = end or today
    t = t_for(request)
    try:
        report = settlement.report_for(db, principal, start=start, end=end, with_lines=False)
        errors = {}
    except Forbidden:
        raise
    except DomainError as exc:
        report, errors = None, field_errors(exc, t, {"settlement*": "end", "invalid_period": "end",
                                                   "period_too_long": "end"})
    return render(request, "shops/settlement.html", status=422 if errors else 200,
                  report=report, errors=errors,
                  values={"start": start.isoformat(), "end": end.isoformat()})


handlers = [admin_shops, admin_shop_new, admin_shop_action, admin_settlement]
