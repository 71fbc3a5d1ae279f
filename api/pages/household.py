"""Door plates and villages: a household's public page (/h/{plate}, no personal data), the
inspector's finding form on it, the inspector's scanner, and the village ranking."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlalchemy import select

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
from api.pages.views import household_public, item_points_text, village_ranking
from api.pages.workflow_views import evidence_field, finding_message, plate_workflow
from ledger.activities import inspections
from ledger.activities.awards import inspection_channel
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError, NotFound
from ledger.identity.actor import ACTIONS, may
from ledger.recognition import freshness
from ledger.registry.models import Person, Town, Village
from ledger.rules import service as rules
from ledger.rules import standing as standing_states
from ledger.rules.thresholds import standing
from ledger.rules.store import scale_in_force

INSPECTORS = ACTIONS["household.inspect"]
MAX_UPLOAD_BYTES = 9 * 1024 * 1024
FINDING_FIELDS = {"item*": "item_code", "rule_item*": "item_code", "note*": "note",
                  "points*": "points", "range*": "points", "level*": "level",
                  "photo*": "photo", "evidence*": "note"}


def _page(request: Request, db: Database, plate_code: str, p: Principal | None, *,
          status: int = 200, **ctx) -> Template:
    t = t_for(request)
    with db.sessions() as s:
        hh = inspections.household_by_plate(db, plate_code)
        inspector = may(p, "household.inspect", hh.village_id)
        # states of standing: read once, for the stars and for the public block
        states = None if inspector else standing_states.refresh(s, "household", hh.id)
        house = household_public(s, hh, t, standing=states)
        # exactly what the engine accepts from this person for this household
        items = rules.offered_items(
            s, p, channel=inspection_channel(p.roles),
            subject="household", villages={house["village_id"]: house["village"]},
        ) if inspector else []
        wf_ctx = plate_workflow(s, hh.id, p)
        held = (standing(s, "household", hh.id) if inspector  # the whole standing
                else {"states": [x.as_dict() for x in states.states]})  # what the block shows
        scale = scale_in_force(s)
    options = [(it.code, f"{it.code} {it.name}（{item_points_text(c, it, t, sign=True)}）")
               for c, it in items]
    return render(request, "household.html", status=status, house=house, plate=plate_code,
                  item_options=[("", t("admin.choose")), *options], standing=held,
                  public=not inspector, scale=scale, **wf_ctx, **ctx)


@get("/h/{plate_code:str}", name="household", sync_to_thread=True)
def household(request: Request, plate_code: str, db: Database,
              maybe_principal: Principal | None) -> Template | Response:
    if maybe_principal is None and pagecache.cacheable(request):  # a visitor: the read cache
        return pagecache.public(request, db, freshness.plate_version(db, plate_code),
                                lambda: _page(request, db, plate_code, None))
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
            with db.sessions() as s:
                outcome = finding_message(s, done, t, points_scale_of(request))
            return _page(request, db, plate_code, principal, done=done, outcome=outcome)
        except DomainError as exc:
            errors = field_errors(exc, t, FINDING_FIELDS)
            errors = evidence_field(exc, t) or errors
    return _page(request, db, plate_code, principal, status=422, errors=errors, values=form)


@get("/inspect", name="inspect", guards=[page_role(*INSPECTORS)], sync_to_thread=False)
def inspect_scan(request: Request) -> Template | Redirect:
    return render(request, "scan.html", accept="h", heading=t_for(request)("insp.scan"),
                  desk_link=True)


MAX_TOWNS_LISTED = 200  # the town select on /rank


def _viewer_town(s, p: Principal | None) -> int | None:
    """The town of the village the viewer works in or lives in; None for a visitor or a
    town-wide role (they choose)."""
    village = next((v for _, v in (p.roles if p else ()) if v is not None), None)
    if village is None and p is not None and p.person_id is not None:
        village = s.scalar(select(Person.village_id).where(Person.id == p.person_id))
    if village is None:
        return None
    return s.scalar(select(Village.town_id).where(Village.id == village))


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
    with db.sessions() as s:
        towns = s.execute(select(Town.id, Town.name).order_by(Town.id)
                          .limit(MAX_TOWNS_LISTED)).all()
        known = {tid for tid, _ in towns}
        if town_id is not None and town_id not in known:
            raise NotFound(f"town {town_id} does not exist", code="town_not_found")
        town = town_id or _viewer_town(s, maybe_principal) or (towns[0][0] if towns else 0)
        ranking = village_ranking(s, town)
    town_name = dict(towns).get(town, "")
    texts = {float(r["average_points"]): r["average_text"] for r in ranking["villages"]}
    chart = bar_chart([(r["village"], float(r["average_points"])) for r in ranking["villages"]],
                      title=t("rank.chart"), fmt=lambda v: texts.get(v, str(v)))
    return render(request, "rank.html", ranking=ranking, chart=chart, towns=towns,
                  town_id=town, town_name=town_name, scale=ranking["scale"])


handlers = [household, household_inspect, inspect_scan, rank]
