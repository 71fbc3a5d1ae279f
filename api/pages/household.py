"""Door plates and villages: a household's public page (/h/{plate}, no personal data), the
inspector's finding form on it, the inspector's scanner, and the village ranking."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from api.auth import INSPECTOR, TOWN_ADMIN, VILLAGE_ADMIN, Principal
from api.pages.chart import bar_chart
from api.pages.common import field_errors, form_key, need_role, points_scale_of, render, t_for
from api.pages.filters import pts
from api.pages.views import household_public, rule_items, village_ranking
from ledger.activities import inspections
from ledger.activities.planning import Actor
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError

INSPECTORS = (INSPECTOR, VILLAGE_ADMIN, TOWN_ADMIN)
MAX_UPLOAD_BYTES = 9 * 1024 * 1024
FINDING_FIELDS = {"item*": "item_code", "rule_item*": "item_code", "note*": "note",
                  "points*": "points", "range*": "points", "level*": "level",
                  "photo*": "photo", "evidence*": "note"}


def _may_inspect(p: Principal | None, village_id: int) -> bool:
    return p is not None and p.has_any(INSPECTORS, village_id)


def _page(request: Request, db: Database, plate_code: str, p: Principal | None, *,
          status: int = 200, **ctx) -> Template:
    t = t_for(request)
    with db.sessions() as s:
        hh = inspections.household_by_plate(db, plate_code)
        house = household_public(s, hh, t)
        from ledger.rules.thresholds import standing  # the standing block (schemes)
        held = standing(s, "household", hh.id)
        items = (rule_items(s, channel="inspector")
                 if _may_inspect(p, house["village_id"]) else [])
    options = [(it.code, f"{it.code} {it.name}（{_points_text(c, it)}）") for c, it in items
               if "household" in (it.subjects or c.subjects)]
    return render(request, "household.html", status=status, house=house, plate=plate_code,
                  item_options=[("", t("admin.choose")), *options], standing=held,
                  public=not _may_inspect(p, house["village_id"]), **ctx)


def _points_text(c, it) -> str:
    if it.range_steps is not None:
        return f"{c.points(it.range_steps[0])}~{c.points(it.range_steps[1])}"
    if it.levels:
        return "/".join(f"{name}{c.points(v)}" for name, v in it.levels)
    return f"{c.points(it.points_steps or 0):+}"


@get("/h/{plate_code:str}", name="household", sync_to_thread=True)
def household(request: Request, plate_code: str, db: Database,
              maybe_principal: Principal | None) -> Template:
    return _page(request, db, plate_code, maybe_principal)


@post("/h/{plate_code:str}/inspect", name="household_inspect", sync_to_thread=True,
      request_max_body_size=MAX_UPLOAD_BYTES)
def household_inspect(request: Request, plate_code: str, db: Database, settings: Settings,
                      maybe_principal: Principal | None,
                      data: Annotated[dict, Body(media_type=RequestEncodingType.MULTI_PART)]
                      ) -> Template | Redirect:
    p = need_role(request, maybe_principal, *INSPECTORS)
    if not isinstance(p, Principal):
        return p
    t = t_for(request)
    form = {k: v for k, v in data.items() if isinstance(v, str)}
    photo = data.get("photo")
    raw = photo.file.read() if isinstance(photo, UploadFile) and photo.filename else None
    errors: dict[str, str] = {}
    if not form.get("item_code"):
        errors["item_code"] = t("err.required")
    points = None
    if form.get("points"):
        try:
            points = float(form["points"])
        except ValueError:
            errors["points"] = t("err.not_number")
    key = form_key(form, p, f"inspect:{plate_code}")
    if key is None:
        errors["_form"] = t("err.bad_form_key")
    if not errors:
        actor = Actor(user_id=p.user_id, person_id=p.person_id, roles=p.roles)
        try:
            done = inspections.record(db, settings, actor, inspections.Finding(
                plate_code, form["item_code"], form.get("note", ""), points,
                form.get("level") or None, raw), key=key)
            return _page(request, db, plate_code, p, done=done)
        except DomainError as exc:
            errors = field_errors(exc, t, FINDING_FIELDS)
    return _page(request, db, plate_code, p, status=422, errors=errors, values=form)


@get("/inspect", name="inspect", sync_to_thread=False)
def inspect_scan(request: Request, maybe_principal: Principal | None) -> Template | Redirect:
    p = need_role(request, maybe_principal, *INSPECTORS)
    if not isinstance(p, Principal):
        return p
    return render(request, "scan.html", accept="h", heading=t_for(request)("insp.scan"))


@get("/rank", name="rank", sync_to_thread=True)
def rank(request: Request, db: Database) -> Template:
    t = t_for(request)
    with db.sessions() as s:
        ranking = village_ranking(s)
    scale = points_scale_of(request)
    chart = bar_chart([(r["village"], r["average"]) for r in ranking["villages"]],
                      title=t("rank.chart"), fmt=lambda v: pts(v, scale))
    return render(request, "rank.html", ranking=ranking, chart=chart)


handlers = [household, household_inspect, inspect_scan, rank]
