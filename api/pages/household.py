"""Door plates and villages: a household's public page (/h/{plate}, no personal data), the
inspector's finding form on it, the inspector's scanner, and the village ranking."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from api.auth import Principal
from api.pages import pagecache
from api.pages.chart import bar_chart
from api.pages.common import (
    checked_form_key,
    field_errors,
    page_role,
    points_scale_of,
    render,
    t_for,
)
from api.pages.views import offered_option
from api.pages.workflow_views import evidence_field, finding_message
from ledger.activities import inspections
from ledger.activities.awards import inspection_channel
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError
from ledger.identity.actor import ACTIONS
from ledger.recognition import freshness
from ledger.recognition import public
from ledger.recognition.schemas import PageVersion

INSPECTORS = ACTIONS["household.inspect"]
MAX_UPLOAD_BYTES = 9 * 1024 * 1024
FINDING_FIELDS = {"item*": "item_code", "rule_item*": "item_code", "note*": "note",
                  "points*": "points", "range*": "points", "level*": "level",
                  "photo*": "photo", "evidence*": "note"}


def _page(request: Request, db: Database, plate_code: str, p: Principal | None, *,
          status: int = 200, version: PageVersion | None = None, **ctx) -> Template:
    t = t_for(request)
    plate = public.door_plate(db, plate_code, p,
                              channel=inspection_channel(p.roles) if p else "inspector",
                              catalog_stamp=version and version.catalog_stamp,
                              facts=version and version.plate)
    options = [offered_option(o, t) for o in plate.offered]
    return render(request, "household.html", status=status, house=plate.house,
                  plate=plate_code, item_options=[("", t("admin.choose")), *options],
                  standing=plate.standing, public=not plate.inspector, scale=plate.scale,
                  notices=plate.workflow.notices, deductions=plate.workflow.deductions, **ctx)


@get("/h/{plate_code:str}", name="household", sync_to_thread=True)
def household(request: Request, plate_code: str, db: Database,
              maybe_principal: Principal | None) -> Template | Response:
    if maybe_principal is None and pagecache.cacheable(request):  # a visitor: the read cache
        version = freshness.plate_version(db, plate_code)
        return pagecache.public(request, db, version, lambda: _page(
            request, db, plate_code, None, version=version))
    return _page(request, db, plate_code, maybe_principal)


@post("/h/{plate_code:str}/inspect", name="household_inspect",
      guards=[page_role(*INSPECTORS)], sync_to_thread=True,
      request_max_body_size=MAX_UPLOAD_BYTES)
def household_inspect(request: Request, plate_code: str, db: Database, settings: Settings,
                      principal: Principal,
                      data: Annotated[dict, Body(media_type=RequestEncodingType.MULTI_PART)]
                      ) -> Template | Redirect:
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
    key = checked_form_key(form, principal, f"inspect:{plate_code}", t, errors)
    if not errors:
        try:
            done = inspections.record(db, settings, principal, inspections.Finding(
                plate_code, form["item_code"], form.get("note", ""), points,
                form.get("level") or None, raw), key=key)
            outcome = finding_message(db, done, t, points_scale_of(request))
            return _page(request, db, plate_code, principal, done=done, outcome=outcome)
        except DomainError as exc:
            errors = field_errors(exc, t, FINDING_FIELDS)
            errors = evidence_field(exc, t) or errors
    return _page(request, db, plate_code, principal, status=422, errors=errors, values=form)


@get("/inspect", name="inspect", guards=[page_role(*INSPECTORS)], sync_to_thread=False)
def inspect_scan(request: Request) -> Template | Redirect:
    return render(request, "scan.html", accept="h", heading=t_for(request)("insp.scan"),
                  desk_link=True)


@get("/rank", name="rank", sync_to_thread=True)
def rank(request: Request, db: Database, maybe_principal: Principal | None,
         town_id: int | None = None) -> Template | Response:
    """One town's villages (the town chosen on the page, else the viewer's, else the first)."""
    if maybe_principal is None and pagecache.cacheable(request, ("town_id",)):
        return pagecache.public(request, db, freshness.ranking_version(db, town_id),
                                lambda: _rank(request, db, None, town_id))
    return _rank(request, db, maybe_principal, town_id)


def _rank(request: Request, db: Database, maybe_principal: Principal | None,
          town_id: int | None) -> Template:
    t = t_for(request)
    page = public.rank_page(db, maybe_principal, town_id)
    ranking = page.ranking
    texts = {float(r.average_points): r.average_text for r in ranking.villages}
    chart = bar_chart([(r.village, float(r.average_points)) for r in ranking.villages],
                      title=t("rank.chart"), fmt=lambda v: texts.get(v, str(v)))
    return render(request, "rank.html", ranking=ranking, chart=chart, towns=page.towns,
                  town_id=page.town_id, town_name=page.town_name, scale=ranking.scale)


handlers = [household, household_inspect, inspect_scan, rank]
