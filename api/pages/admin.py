"""The admin console's ledger and shop pages: the reward catalog and its stock, village budgets,
and the audit."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import TOWN_ADMIN, Principal
from api.pages.common import (
    FormData,
    form_key,
    int_field,
    page_role,
    points_scale_of,
    refusals_into,
    render,
    require_field,
    saved,
    t_for,
)
from ledger.config import Settings
from ledger.db import Database
from ledger.identity.actor import ACTIONS, villages_of
from ledger.journal import service as journal
from ledger.journal.posting import MAX_ABS_AMOUNT
from ledger.journal.queries import budgets as village_budgets
from ledger.redemption import answers, catalog
from ledger.redemption.catalog import REWARD_KINDS
from ledger.registry.lookup import villages

ADMINS = ACTIONS["village.admin"]
REWARD_FIELDS = {"invalid_name": "name", "invalid_cost_points": "cost_points",
                 "invalid_kind": "kind", "invalid_stock": "stock", "invalid_stock_add": "add",
                 "stock_below_committed": "add", "stock_unlimited": "add",
                 "invalid_description": "description", "provider_not_found": "provider_id"}
ADMIN_LIST = 200
SECTIONS = [("/admin/rules", "admin.rules"), ("/admin/rewards", "admin.rewards"),
            ("/admin/budgets", "admin.budgets"), ("/admin/households", "va.households"),
            ("/admin/users", "va.users"), ("/admin/registry", "admin.registry"),
            ("/admin/honors", "admin.honors"), ("/admin/stars", "admin.stars"),
            ("/admin/audit", "admin.audit"), ("/review", "desk.desk"),
            ("/notices", "notice.title")]
# The town's own: today's attention list, shops and settlement, lucky draws.
TOWN_SECTIONS = [("/town", "town.title"), ("/admin/shops", "shop.title"),
                 ("/admin/settlement", "shop.settlement"), ("/admin/draws", "draw.title")]


@get("/admin", name="admin", guards=[page_role(*ADMINS)], sync_to_thread=False)
def admin_home(request: Request, principal: Principal) -> Template | Redirect:
    town = TOWN_SECTIONS if principal.is_town_admin else []
    return render(request, "admin/home.html", sections=[*town[:1], *SECTIONS, *town[1:]])


def _rewards_page(request: Request, db: Database, p: Principal, *, status: int = 200,
                  **ctx) -> Template:
    items = answers.rewards(db, p, include_unavailable=True, limit=ADMIN_LIST).items
    t = t_for(request)
    ctx.setdefault("stock_errors", {})
    return render(request, "admin/rewards.html", status=status, rewards=items,
                  provider_options=[("", t("admin.choose"))] + [(x.id, x.name)
                                                               for x in answers.providers(db)],
                  kind_options=[(k, t("reward_kind." + k)) for k in REWARD_KINDS], **ctx)


@get("/admin/rewards", name="admin_rewards", guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_rewards(request: Request, db: Database,
                  principal: Principal) -> Template | Redirect:
    return _rewards_page(request, db, principal)


@post("/admin/rewards", name="admin_reward_create",
      guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_reward_create(request: Request, db: Database, principal: Principal,
                        data: FormData) -> Template | Redirect:
    t = t_for(request)
    errors: dict[str, str] = {}
    name = require_field(data, "name", t, errors, max_chars=catalog.MAX_NAME_CHARS)
    cost = int_field(data, "cost_points", t, errors, lo=1, hi=catalog.MAX_COST_POINTS)
    stock = int_field(data, "stock", t, errors, lo=0, hi=catalog.MAX_STOCK, required=False)
    provider_id = int_field(data, "provider_id", t, errors, lo=1)
    kind = data.get("kind") or ""
    if kind not in REWARD_KINDS:
        errors["kind"] = t("err.required")
    scale = points_scale_of(request)
    fields = {"name": name, "cost_points": cost * scale if cost else cost, "kind": kind,
              "description": (data.get("description") or "").strip()}
    if not errors:
        with refusals_into(errors, t, REWARD_FIELDS):
            catalog.create_reward(db, principal, provider_id=provider_id, fields=fields,
                                  stock=stock, key=form_key(data, principal, "reward"))
            return saved("/admin/rewards")
    return _rewards_page(request, db, principal, status=422, errors=errors, values=data)


@post("/admin/rewards/{reward_id:int}/stock", name="admin_reward_stock",
      guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_reward_stock(request: Request, reward_id: int, db: Database,
                       principal: Principal, data: FormData) -> Template | Redirect:
    t = t_for(request)
    errors: dict[str, str] = {}
    add = int_field(data, "add", t, errors, lo=-catalog.MAX_STOCK, hi=catalog.MAX_STOCK)
    if not errors:
        with refusals_into(errors, t, REWARD_FIELDS):
            catalog.change_stock(db, principal, reward_id, add=add,
                                 key=form_key(data, principal, f"stock:{reward_id}"))
            return saved("/admin/rewards")
    return _rewards_page(request, db, principal, status=422, stock_errors={reward_id: errors})


@post("/admin/rewards/{reward_id:int}/active", name="admin_reward_active",
      guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_reward_active(request: Request, reward_id: int, db: Database,
                        principal: Principal, data: FormData) -> Redirect:
    catalog.update_reward(db, principal, reward_id,
                          changes={"active": data.get("active") == "1"},
                          key=form_key(data, principal, f"active:{reward_id}"))
    return saved("/admin/rewards")


def _budgets_page(request: Request, db: Database, p: Principal, *, status: int = 200,
                  **ctx) -> Template:
    scope = villages_of(p, ADMINS)  # None: every village (a town admin)
    budgets = village_budgets(db, within=scope)
    names = {v.id: v.name for v in villages(db, counts=False, within=scope)}
    options = [("", t_for(request)("admin.choose"))] + list(names.items())
    return render(request, "admin/budgets.html", status=status, budgets=budgets, names=names,
                  village_options=options, can_allocate=p.is_town_admin, **ctx)


@get("/admin/budgets", name="admin_budgets", guards=[page_role(*ADMINS)], sync_to_thread=True)
def admin_budgets(request: Request, db: Database,
                  principal: Principal) -> Template | Redirect:
    return _budgets_page(request, db, principal)


@post("/admin/budgets", name="admin_allocate", guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_allocate(request: Request, db: Database, settings: Settings,
                   principal: Principal, data: FormData) -> Template | Redirect:
    t = t_for(request)
    errors: dict[str, str] = {}
    village_id = int_field(data, "village_id", t, errors, lo=1)
    amount = int_field(data, "amount", t, errors, lo=1, hi=MAX_ABS_AMOUNT)
    memo = (data.get("memo") or "").strip()[:500]
    if not errors:
        with refusals_into(errors, t, {"village*": "village_id", "amount*": "amount"}):
            town_id = next((v.town_id for v in villages(db, counts=False,
                                                        within={village_id})), 1)
            journal.allocate(db, shards=settings.budget_shards, town_id=town_id,
                             village_id=village_id, amount=amount * points_scale_of(request),
                             actor_id=principal.user_id,
                             key=form_key(data, principal, "allocate"), memo=memo)
            return saved("/admin/budgets")
    return _budgets_page(request, db, principal, status=422, errors=errors, values=data)


@get("/admin/audit", name="admin_audit", guards=[page_role(TOWN_ADMIN)], sync_to_thread=False)
def admin_audit(request: Request) -> Template | Redirect:
    return render(request, "admin/audit.html",
                                                         report=None)


@post("/admin/audit", name="admin_audit_run", guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def admin_audit_run(request: Request, db: Database,
                    data: FormData) -> Template | Redirect:
    """Runs the whole audit (can take a while on a big journal: the form shows progress)."""
    return render(request, "admin/audit.html", report=journal.audit(db))


handlers = [admin_home, admin_rewards, admin_reward_create, admin_reward_stock,
            admin_reward_active, admin_budgets, admin_allocate, admin_audit, admin_audit_run]
