"""The admin console's recognition pages: honor lists (define → draft → review → publish →
poster) and the star thresholds."""

from __future__ import annotations

import itertools

from litestar import Request, get, post
from litestar.response import Redirect, Template
from msgspec import to_builtins

from api.auth import TOWN_ADMIN, Principal
from api.pages.common import (
    FormData,
    exc_text,
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
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError, Forbidden
from ledger.identity.actor import ACTIONS, may
from ledger.recognition import honor, service
from ledger.recognition.stars import MAX_LEVEL
from ledger.registry.lookup import villages

ADMINS = ACTIONS["village.admin"]
API_LIST = "/api/v1/recognition/honor-lists/"  # the published list's JSON
DEFINITION_FIELDS = {"honor_name*": "name", "honor_scope*": "scope_id",
                     "honor_period*": "period", "honor_metric*": "metric",
                     "honor_size*": "size", "honor_minimum*": "minimum",
                     "forbidden_scope": "scope_id"}
STAR_KINDS = ("volunteer", "household")
COMPUTING_REFRESH_S = 2


def _check_scope(p: Principal, scope: tuple[int, int | None]) -> None:
    """Town admins manage every list; a village admin, the lists of their village."""
    if not may(p, "village.admin", scope[1]):  # None: the whole town, a town admin's
        raise Forbidden("only this scope's admins may do this", code="forbidden_scope")


def _home(request: Request, db: Database, p: Principal, *, status: int = 200,
          **ctx) -> Template:
    t = t_for(request)
    every = villages(db, counts=False)
    town_wide = may(p, "village.admin", None)
    scope_options = ([(f"town:{town}", t("honor.whole_town")) for town in
                      sorted({v.town_id for v in every})] if town_wide else [])
    scope_options += [(f"village:{v.id}", v.name) for v in every
                      if may(p, "village.admin", v.id)]
    defs = service.list_definitions(db, town_id=None, village_id=None)
    return render(request, "admin/honors.html", status=status, definitions=to_builtins(defs),
                  published=to_builtins(service.published(db, town_id=None, village_id=None)),
                  scope_options=scope_options, names={v.id: v.name for v in every},
                  metric_options=[(m, t("metric." + m)) for m in honor.METRICS],
                  period_options=[(x, t("period." + x)) for x in honor.PERIODS if x != "custom"],
                  **ctx)


@get("/admin/honors", name="admin_honors", guards=[page_role(*ADMINS)], sync_to_thread=True)
def honors_home(request: Request, db: Database,
                principal: Principal) -> Template | Redirect:
    return _home(request, db, principal)


@post("/admin/honors", name="admin_honor_define", guards=[page_role(*ADMINS)], sync_to_thread=True)
def honor_define(request: Request, db: Database, principal: Principal,
                 data: FormData) -> Template | Redirect:
    t = t_for(request)
    errors: dict[str, str] = {}
    name = require_field(data, "name", t, errors, max_chars=honor.MAX_NAME_CHARS)
    size = int_field(data, "size", t, errors, lo=1, hi=honor.MAX_SIZE)
    minimum = int_field(data, "minimum", t, errors, lo=0, hi=10**9)
    scope, _, raw_id = (data.get("scope_id") or "").partition(":")
    if scope not in honor.SCOPES or not raw_id.isdigit():
        errors["scope_id"] = t("err.required")
    if not errors:
        fields = {"name": name, "scope": scope, "scope_id": int(raw_id),
                  "period": data.get("period", ""), "metric": data.get("metric", ""),
                  "size": size, "minimum": minimum, "mask_names": data.get("mask_names") == "1"}
        with refusals_into(errors, t, DEFINITION_FIELDS):
            _check_scope(principal, (0, None) if scope == "town" else (0, int(raw_id)))
            service.create_definition(db, fields=fields, actor_id=principal.user_id,
                                      key=form_key(data, principal, "honor_def"))
            return saved("/admin/honors")
    return _home(request, db, principal, status=422, errors=errors, values=data)


@post("/admin/honors/{def_id:int}/drafts", name="admin_honor_draft",
      guards=[page_role(*ADMINS)], sync_to_thread=True)
def honor_draft(request: Request, def_id: int, db: Database, principal: Principal,
                data: FormData) -> Template | Redirect:
    t = t_for(request)
    _check_scope(principal, service.scope_of_definition(db, def_id))
    try:
        hl = service.request_draft(db, def_id=def_id, period=(data.get("period") or "").strip(),
                                   until=None, actor_id=principal.user_id,
                                   key=form_key(data, principal, f"honor_draft:{def_id}"))
    except DomainError as exc:
        return _home(request, db, principal, status=422, draft_errors={
            def_id: field_errors(exc, t, {"honor_period*": "period"})},
            draft_values={def_id: data})
    return Redirect(path=f"/admin/honors/lists/{hl.id}", status_code=303)


@get("/admin/honors/lists/{list_id:int}", name="admin_honor_list",
     guards=[page_role(*ADMINS)], sync_to_thread=True)
def honor_list(request: Request, list_id: int, db: Database, settings: Settings,
               principal: Principal) -> Template | Redirect:
    _check_scope(principal, service.scope_of_list(db, list_id))
    view = to_builtins(service.get_list(db, list_id, admin=True))  # the template's dict
    return render(request, "admin/honor_list.html", hl=view, refresh_s=COMPUTING_REFRESH_S,
                  public_url=f"{settings.public_base_url}{API_LIST}{list_id}")


@post("/admin/honors/lists/{list_id:int}/{action:str}", name="admin_honor_action",
      guards=[page_role(*ADMINS)],
      sync_to_thread=True)
def honor_action(request: Request, list_id: int, action: str, db: Database,
                 settings: Settings, principal: Principal,
                 data: FormData) -> Template | Redirect:
    """review (draft → review), exclude (leave a candidate off, with a reason), publish."""
    _check_scope(principal, service.scope_of_list(db, list_id))
    key = form_key(data, principal, f"honor_{action}:{list_id}")
    t = t_for(request)
    try:
        if action == "review":
            service.start_review(db, list_id=list_id, actor_id=principal.user_id, key=key)
        elif action == "publish":
            service.publish(db, list_id=list_id, actor_id=principal.user_id,
                            poster_dir=str(settings.data_dir / "posters"),
                            base_url=settings.public_base_url, key=key)
        elif action == "exclude":
            errors: dict[str, str] = {}
            holder = int_field(data, "holder_id", t, errors, lo=1)
            if errors:
                raise DomainError(errors["holder_id"], code="honor_candidate_not_found")
            service.exclude(db, list_id=list_id, holder_id=holder,
                            reason=(data.get("reason") or "").strip(), actor_id=principal.user_id,
                            key=key)
        else:
            raise DomainError("unknown action", code="not_found", status=404)
    except DomainError as exc:
        view = to_builtins(service.get_list(db, list_id, admin=True))  # the template's dict
        return render(request, "admin/honor_list.html", status=exc.status, hl=view,
                      refresh_s=COMPUTING_REFRESH_S, public_url="",
                      errors=field_errors(exc, t, {"exclusion*": "reason"}), values=data)
    return saved(f"/admin/honors/lists/{list_id}")


def _stars_page(request: Request, db: Database, *, status: int = 200, **ctx) -> Template:
    configs = {k: service.star_config(db, 1, k) for k in STAR_KINDS}
    values = ctx.pop("values", None) or {
        k: "，".join(str(x) for x in configs[k].thresholds) for k in STAR_KINDS}
    return render(request, "admin/stars.html", status=status, configs=configs, values=values,
                  **ctx)


@get("/admin/stars", name="admin_stars", guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def stars_page(request: Request, db: Database) -> Template | Redirect:
    return _stars_page(request, db)


def parse_thresholds(raw: str) -> list[int] | None:
    """Five rising whole numbers, separated by commas (either width) or spaces."""
    parts = [x for x in raw.replace("，", ",").replace(" ", ",").split(",") if x]
    try:
        nums = [int(x) for x in parts]
    except ValueError:
        return None
    ok = len(nums) == MAX_LEVEL and all(a < b for a, b in itertools.pairwise(nums)) and nums[0] > 0
    return nums if ok else None


@post("/admin/stars/{kind:str}", name="admin_stars_save",
      guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def stars_save(request: Request, kind: str, db: Database, principal: Principal,
               data: FormData) -> Template | Redirect:
    t = t_for(request)
    nums = parse_thresholds(data.get(kind) or "") if kind in STAR_KINDS else None
    if nums is None:
        return _stars_page(request, db, status=422, errors={kind: t("err.thresholds")},
                           values={**{k: "" for k in STAR_KINDS}, **data})
    try:
        service.set_star_config(db, town_id=1, kind=kind, body={"thresholds": nums},
                                actor_id=principal.user_id,
                                key=form_key(data, principal, f"stars:{kind}"))
    except DomainError as exc:
        return _stars_page(request, db, status=422,
                           errors={kind: exc_text(t, exc)},
                           values={**{k: "" for k in STAR_KINDS}, **data})
    return saved("/admin/stars")


handlers = [honors_home, honor_define, honor_draft, honor_list, honor_action, stars_page,
            stars_save]
