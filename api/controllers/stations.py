"""Stations over HTTP: the public list and page of each station (place, liaisons, plans, teams,
menu), its admins' edits, teams' yearly progress, and the per-station reports (JSON for a month
or a quarter; a station's quarterly summary as PDF or .xlsx)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post, put
from litestar.params import Parameter

from api.auth import TOWN_ADMIN, VILLAGE_ADMIN, Principal, requires_role
from api.controllers import paged as pg
from ledger.db import Database
from ledger.errors import InvalidInput
from ledger.stations import export, honours, public, reports, service
from ledger.stations.schemas import (HonourCandidates, LiaisonView, PlanView, ProfileView,
                                     StationPage, StationReport, StationSummary, TeamProgress)
from ledger.stations.service import (
    MAX_HOURS_CHARS,
    MAX_PLAN_LINES,
    MAX_ROOMS,
    MAX_TEXT_CHARS,
)

ADMINS = (TOWN_ADMIN, VILLAGE_ADMIN)
PDF, XLSX = "application/pdf", \
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)]


class ProfileIn(msgspec.Struct, forbid_unknown_fields=True):
    address: Text = ""
    opening_hours: Annotated[str, msgspec.Meta(max_length=MAX_HOURS_CHARS)] = ""
    phone: Annotated[str, msgspec.Meta(max_length=20)] = ""
    rooms: Annotated[list[str], msgspec.Meta(max_length=MAX_ROOMS)] = []


class LiaisonIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    title: Annotated[str, msgspec.Meta(max_length=100)] = ""


class PlanLine(msgspec.Struct, forbid_unknown_fields=True):
    day: Annotated[int, msgspec.Meta(ge=1, le=31)]
    title: Text
    place: Text = ""


class PlanIn(msgspec.Struct, forbid_unknown_fields=True):
    theme: Annotated[str, msgspec.Meta(max_length=50)]
    lines: Annotated[list[PlanLine], msgspec.Meta(max_length=MAX_PLAN_LINES)] = []


def _month(raw: str) -> date:
    try:
        y, m = raw.split("-")
        return date(int(y), int(m), 1)
    except ValueError:
        raise InvalidInput("month is YYYY-MM", code="month_invalid") from None


class StationsController(Controller):
    path = "/api/v1"
    tags = ["stations"]

    @get("/stations", sync_to_thread=True, summary="The practice network: institute, points, "
                                                   "stations (public)")
    def list_stations(self, db: Database, town_id: int | None = None,
                      cursor: pg.Cursor = None, limit: pg.Limit = pg.DEFAULT_PAGE
                      ) -> pg.Page[StationSummary]:
        return pg.page_of(service.stations(db, town_id), cursor, limit, lambda v: v.id)

    @get("/stations/{station_id:int}", sync_to_thread=True,
         summary="A station's public page: place, liaisons, monthly plans, teams, menu")
    def get_station(self, station_id: int, db: Database) -> StationPage:
        return public.public_page(db, station_id)

    @put("/stations/{station_id:int}/profile", sync_to_thread=True,
         guards=[requires_role(*ADMINS, scope_param="station_id")],
         summary="Set a station's address, hours, phone and function rooms")
    def put_profile(self, station_id: int, data: ProfileIn, db: Database,
                    principal: Principal) -> ProfileView:
        return service.update_profile(db, principal, station_id, service.ProfileDraft(
            data.address, data.opening_hours, data.phone, tuple(data.rooms)))

    @post("/stations/{station_id:int}/liaisons", sync_to_thread=True,
          guards=[requires_role(*ADMINS, scope_param="station_id")],
          summary="Add a liaison town leader (挂钩联系) to a station")
    def add_liaison(self, station_id: int, data: LiaisonIn, db: Database,
                    principal: Principal) -> LiaisonView:
        return service.add_liaison_as(db, principal, station_id, data.name, data.title)

    @put("/stations/{station_id:int}/plans/{month:str}", sync_to_thread=True,
         guards=[requires_role(*ADMINS, scope_param="station_id")],
         summary="Publish a station's plan for a month (YYYY-MM): theme and activities")
    def put_plan(self, station_id: int, month: str, data: PlanIn, db: Database,
                 principal: Principal) -> PlanView:
        return service.publish_plan_as(db, principal, station_id, _month(month), data.theme,
                                       [msgspec.structs.asdict(ln) for ln in data.lines])

    @get("/teams/progress", sync_to_thread=True, guards=[requires_role(*ADMINS)],
         summary="Standing teams' collective services against 12 a year, behind-pace months")
    def teams_progress(self, db: Database, year: Annotated[int, Parameter(ge=2000, le=2100)],
                       town_id: int = 1, cursor: pg.Cursor = None,
                       limit: pg.Limit = pg.DEFAULT_PAGE) -> pg.Page[TeamProgress]:
        return pg.page_of(service.progress(db, town_id, year), cursor, limit,
                          lambda t: t.team_id)

    @get("/stations/reports", sync_to_thread=True, guards=[requires_role(*ADMINS)],
         summary="Per-station figures for a month (YYYY-MM) or quarter (YYYYQn); a village "
                 "admin sees their own stations' rows")
    def station_report(self, db: Database, principal: Principal,
                       period: Annotated[str, Parameter(max_length=8)],
                       town_id: int = 1) -> StationReport:
        return reports.report_for(db, principal, town_id, period)

    @get("/stations/reports/honour-candidates", sync_to_thread=True,
         guards=[requires_role(TOWN_ADMIN)],
         summary="Candidates for 优秀志愿服务组织 / 组织者 / 项目 from the period's figures")
    def honour_candidates(self, db: Database, period: Annotated[str, Parameter(max_length=8)],
                          town_id: int = 1) -> HonourCandidates:
        return honours.candidates_of(db, town_id, period)

    @get("/stations/{station_id:int}/reports/{period:str}/report.pdf", sync_to_thread=True,
         guards=[requires_role(*ADMINS, scope_param="station_id")], media_type=PDF,
         summary="A station's quarterly summary for its liaisons, A4 PDF")
    def quarter_pdf(self, station_id: int, period: str, db: Database) -> Response:
        q, town = reports.quarter_summary(db, station_id, period)
        return Response(export.render_pdf(q, town), media_type=PDF, headers={
            "Content-Disposition": f'inline; filename="station-{station_id}-{period}.pdf"'})

    @get("/stations/{station_id:int}/reports/{period:str}/report.xlsx", sync_to_thread=True,
         guards=[requires_role(*ADMINS, scope_param="station_id")], media_type=XLSX,
         summary="A station's quarterly summary for its liaisons, .xlsx")
    def quarter_xlsx(self, station_id: int, period: str, db: Database) -> Response:
        q, town = reports.quarter_summary(db, station_id, period)
        return Response(export.render_xlsx(q, town), media_type=XLSX, headers={
            "Content-Disposition": f'attachment; filename="station-{station_id}-{period}.xlsx"'})
