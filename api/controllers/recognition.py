"""Recognition API: stars (holders and admins read; town admins set thresholds), honor lists
(admins of the scope compute, review, exclude and publish; published lists and their posters
are public), live rankings (public, masked names) and exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.params import Parameter

from api.auth import (
    INSPECTOR,
    ORGANIZER,
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
from ledger.errors import Forbidden, InvalidInput, NotFound
from ledger.identity.actor import may
from ledger.recognition import honor, service
from ledger.recognition.leaderboards import MAX_TOP
from ledger.recognition.models import StarKind
from ledger.recognition.schemas import (DefinitionView, HonorListView, PublishedListView,
                                        RankingView, StarConfigView, StarSummary, TaskView)
from ledger.recognition.tasks import export_path

ADMINS = (TOWN_ADMIN, VILLAGE_ADMIN)
STAFF = (TOWN_ADMIN, VILLAGE_ADMIN, ORGANIZER, INSPECTOR)  # read anyone's stars (no clerks)
CACHE_PUBLISHED = "public, max-age=300"  # a published list never changes


class StarConfigIn(msgspec.Struct, forbid_unknown_fields=True):
    thresholds: list[int]
    town_id: int = 1
    period: str | None = None
    veto: dict[str, int] | None = None


class RecomputeIn(msgspec.Struct, forbid_unknown_fields=True):
    town_id: int | None = None


class DefinitionIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=honor.MAX_NAME_CHARS)]
    scope: str
    scope_id: int
    period: str
    metric: str
    size: int
    minimum: int = 1
    tie_break: str = "shared"
    mask_names: bool = False


class DraftIn(msgspec.Struct, forbid_unknown_fields=True):
    period: Annotated[str, msgspec.Meta(max_length=16)]
    until: Annotated[str, msgspec.Meta(max_length=16)] | None = None


class ExclusionIn(msgspec.Struct, forbid_unknown_fields=True):
    holder_id: int
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=honor.MAX_REASON_CHARS)]


class ExportIn(msgspec.Struct, forbid_unknown_fields=True):
    year: Annotated[int, msgspec.Meta(ge=2000, le=2100)]


def _check_scope(p: Principal, scope: tuple[int, int | None]) -> None:
    """Town admins manage everything; a village admin, the lists of their own village."""
    _, village = scope
    if may(p, "village.admin", village):
        return
    raise Forbidden("only the town's admins, or this village's admins, may do this",
                    code="forbidden_scope")


def _kind(kind: str) -> StarKind:
    try:
        return StarKind(kind)
    except ValueError:
        raise InvalidInput(f"star kind is one of {[k.value for k in StarKind]}",
                           code="star_kind_unknown") from None


def _is_admin(p: Principal | None, db: Database, list_id: int) -> bool:
    if p is None:
        return False
    try:
        _check_scope(p, service.scope_of_list(db, list_id))
        return True
    except Forbidden:
        return False


def _id(row: DefinitionView | PublishedListView) -> int:
    return row.id


class RecognitionController(Controller):
    path = "/api/v1"
    tags = ["recognition"]

    # --- stars ------------------------------------------------------------------------------

    @get("/people/{person_id:int}/stars", guards=[signed_in], sync_to_thread=True,
         summary="A volunteer's stars, hours, next threshold and history")
    def person_stars(self, person_id: int, db: Database, principal: Principal) -> StarSummary:
        if principal.person_id != person_id and not may(principal, STAFF):
            raise Forbidden("you may see your own stars only", code="forbidden_holder")
        return service.star_summary(db, "person", person_id)

    @get("/households/{household_id:int}/stars", guards=[signed_in], sync_to_thread=True,
         summary="A household's stars (星级文明户), score of the period and history")
    def household_stars(self, household_id: int, db: Database) -> StarSummary:
        return service.star_summary(db, "household", household_id)

    @get("/teams/{team_id:int}/stars", guards=[signed_in], sync_to_thread=True,
         summary="A team's stars and collective services this year")
    def team_stars(self, team_id: int, db: Database) -> StarSummary:
        return service.star_summary(db, "team", team_id)

    @get("/recognition/star-config/{kind:str}", sync_to_thread=True,
         summary="Star thresholds (public)")
    def star_config(self, kind: str, db: Database, town_id: int = 1) -> StarConfigView:
        return service.star_config(db, town_id, _kind(kind))

    @put("/recognition/star-config/{kind:str}", guards=[requires_role(TOWN_ADMIN)],
         sync_to_thread=True,
         summary="New star thresholds (a new version); every star is recomputed")
    def set_star_config(self, request: Request, kind: str, data: StarConfigIn,
                        db: Database, principal: Principal) -> StarConfigView:
        body = {"thresholds": data.thresholds}
        if data.period is not None:
            body["period"] = data.period
        if data.veto is not None:
            body["veto"] = data.veto
        return service.set_star_config(db, town_id=data.town_id, kind=_kind(kind), body=body,
                                       actor_id=principal.user_id,
                                       key=scoped_key(request, principal))

    @post("/recognition/stars/recompute", guards=[requires_role(TOWN_ADMIN)], status_code=202,
          sync_to_thread=True, summary="Recompute every star now (the worker does it nightly)")
    def recompute(self, request: Request, data: RecomputeIn, db: Database,
                  principal: Principal) -> TaskView:
        return service.request_recompute(db, town_id=data.town_id,
                                         key=scoped_key(request, principal))

    # --- honor lists ------------------------------------------------------------------------

    @post("/recognition/honor-definitions", guards=[requires_role(*ADMINS)], status_code=201,
          sync_to_thread=True, summary="Define an honor list (scope, period, metric, size…)")
    def create_definition(self, request: Request, data: DefinitionIn, db: Database,
                          principal: Principal) -> DefinitionView:
        if data.scope in honor.SCOPES:
            _check_scope(principal, service.scope_of(db, data.scope, data.scope_id))
        return service.create_definition(db, fields=msgspec.structs.asdict(data),
                                         actor_id=principal.user_id,
                                         key=scoped_key(request, principal))

    @get("/recognition/honor-definitions", guards=[requires_role(*ADMINS)], sync_to_thread=True)
    def definitions(self, db: Database, town_id: int | None = None,
                    village_id: int | None = None,
                    cursor: pg.Cursor = None, limit: pg.Limit = pg.DEFAULT_PAGE
                    ) -> pg.Page[DefinitionView]:
        return pg.page_of(service.list_definitions(db, town_id=town_id, village_id=village_id),
                          cursor, limit, _id)

    @post("/recognition/honor-definitions/{def_id:int}/drafts", guards=[requires_role(*ADMINS)],
          status_code=202, sync_to_thread=True,
          summary="Compute a draft for a period (month 2026-03, quarter 2026-Q1, year 2026, "
                  "custom 2026-01 until 2026-06)")
    def draft(self, request: Request, def_id: int, data: DraftIn, db: Database,
              principal: Principal) -> HonorListView:
        _check_scope(principal, service.scope_of_definition(db, def_id))
        return service.request_draft(db, def_id=def_id, period=data.period, until=data.until,
                                     actor_id=principal.user_id,
                                     key=scoped_key(request, principal))

    @get("/recognition/honor-lists", sync_to_thread=True, summary="Published honor lists (public)")
    def published(self, db: Database, town_id: int | None = None,
                  village_id: int | None = None,
                  cursor: pg.Cursor = None, limit: pg.Limit = pg.DEFAULT_PAGE
                  ) -> pg.Page[PublishedListView]:
        return pg.page_of(service.published(db, town_id=town_id, village_id=village_id),
                          cursor, limit, _id, newest_first=True)

    @get("/recognition/honor-lists/{list_id:int}", sync_to_thread=True,
         summary="A published list (public, with its hash and checkpoint); admins see drafts")
    def get_list(self, list_id: int, db: Database,
                 maybe_principal: Principal | None) -> Response[HonorListView]:
        admin = _is_admin(maybe_principal, db, list_id)
        view = service.get_list(db, list_id, admin=admin)
        headers = {"Cache-Control": CACHE_PUBLISHED} if not admin else {}
        return Response(view, headers=headers)

    @post("/recognition/honor-lists/{list_id:int}/review", guards=[requires_role(*ADMINS)],
          status_code=200, sync_to_thread=True)
    def review(self, request: Request, list_id: int, db: Database,
               principal: Principal) -> HonorListView:
        _check_scope(principal, service.scope_of_list(db, list_id))
        return service.start_review(db, list_id=list_id, actor_id=principal.user_id,
                                    key=scoped_key(request, principal))

    @post("/recognition/honor-lists/{list_id:int}/exclusions", guards=[requires_role(*ADMINS)],
          status_code=200, sync_to_thread=True, summary="Leave a candidate off, with a reason")
    def exclude(self, request: Request, list_id: int, data: ExclusionIn, db: Database,
                principal: Principal) -> HonorListView:
        _check_scope(principal, service.scope_of_list(db, list_id))
        return service.exclude(db, list_id=list_id, holder_id=data.holder_id,
                               reason=data.reason, actor_id=principal.user_id,
                               key=scoped_key(request, principal))

    @post("/recognition/honor-lists/{list_id:int}/publish", guards=[requires_role(*ADMINS)],
          status_code=200, sync_to_thread=True, summary="Publish: freeze content and hash")
    def publish(self, request: Request, list_id: int, db: Database, settings: Settings,
                principal: Principal) -> HonorListView:
        _check_scope(principal, service.scope_of_list(db, list_id))
        return service.publish(db, list_id=list_id, actor_id=principal.user_id,
                               poster_dir=str(settings.data_dir / "posters"),
                               base_url=settings.public_base_url,
                               key=scoped_key(request, principal))

    @get("/recognition/honor-lists/{list_id:int}/poster.png", sync_to_thread=True,
         media_type="image/png",
         summary="The poster as PNG (A4, 150 dpi)")
    def poster_png(self, list_id: int, db: Database, settings: Settings) -> Response:
        return self._poster(list_id, "png", db, settings, "image/png")

    @get("/recognition/honor-lists/{list_id:int}/poster.pdf", sync_to_thread=True,
         media_type="application/pdf", summary="The poster as PDF (A4)")
    def poster_pdf(self, list_id: int, db: Database, settings: Settings) -> Response:
        return self._poster(list_id, "pdf", db, settings, "application/pdf")

    @staticmethod
    def _poster(list_id: int, ext: str, db: Database, settings: Settings,
                media: str) -> Response:
        data = service.poster(db, list_id=list_id, ext=ext,
                              poster_dir=str(settings.data_dir / "posters"),
                              base_url=settings.public_base_url)
        return Response(data, media_type=media, headers={
            "Cache-Control": CACHE_PUBLISHED,
            "Content-Disposition": f'inline; filename="honor-{list_id}.{ext}"'})

    # --- rankings and exports ---------------------------------------------------------------

    @get("/recognition/rankings/{scope_kind:str}/{scope_id:int}", sync_to_thread=True,
         summary="Live ranking of a village or the town (public, masked names)")
    def ranking(self, scope_kind: str, scope_id: int, db: Database, metric: str = "points",
                period: str = "month",
                n: Annotated[int, Parameter(ge=1, le=MAX_TOP)] = 20) -> RankingView:
        return service.ranking(db, scope=scope_kind, scope_id=scope_id, metric=metric,
                               period=period, n=n)

    @post("/villages/{village_id:int}/exports", guards=[requires_role(*ADMINS)],
          status_code=202, sync_to_thread=True,
          summary="Export a village's points and hours of a year as CSV (a background task)")
    def export(self, request: Request, village_id: int, data: ExportIn, db: Database,
               settings: Settings, principal: Principal) -> TaskView:
        _check_scope(principal, (0, village_id))
        return service.request_export(db, village_id=village_id, year=data.year,
                                      out_dir=str(settings.data_dir / "exports"),
                                      key=scoped_key(request, principal))

    @get("/villages/{village_id:int}/exports/{year:int}/export.csv",
         guards=[requires_role(*ADMINS)],
         sync_to_thread=True, media_type="text/csv",
         summary="The CSV an export task wrote (UTF-8 with BOM)")
    def export_file(self, village_id: int, year: int, settings: Settings,
                    principal: Principal) -> Response:
        _check_scope(principal, (0, village_id))
        path = Path(export_path(settings.data_dir / "exports", village_id, year))
        if not path.is_file():
            raise NotFound("no export yet for this village and year; ask for one first",
                           code="export_not_found")
        return Response(path.read_bytes(), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="village-{village_id}-{year}.csv"'})

    @get("/recognition/tasks/{task_id:int}", guards=[requires_role(*ADMINS)], sync_to_thread=True,
         summary="State of a background task")
    def task(self, task_id: int, db: Database) -> TaskView:
        return service.task_status(db, task_id)
