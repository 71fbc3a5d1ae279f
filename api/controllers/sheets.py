"""Spreadsheets and paper over HTTP: the imports of ledger/sheets (historical points and hours,
teams and members, reward stock; households and people stay at /registry/import), their
templates, the village lists and settlement as .xlsx, and the printed sheets (vouchers, 公示,
红榜) as PDF."""

from __future__ import annotations

import functools
from datetime import date

import anyio.to_thread
from litestar import Controller, Request, Response, get, post

from api.auth import TOWN_ADMIN, Principal, requires_role
from api.deps import scoped_key
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import NotFound
from ledger.identity.roles import REGISTRY_ADMINS
from ledger.sheets import attendance, exports, history, imports, paper, stock, tabular, teams
from ledger.sheets.schemas import SheetImport

IMPORTS = {"history": history.import_history, "teams": teams.import_teams,
           "stock": stock.import_stock,
           "attendance": None}  # takes the settings too (its points follow the activity's rules)
KINDS = {"history": history.KIND, "teams": teams.KIND, "stock": stock.KIND,
         "attendance": attendance.KIND}
NO_STORE = {"Cache-Control": "no-store"}
PDF = "application/pdf"


def xlsx(content: bytes, filename: str) -> Response:
    return Response(content, media_type=tabular.XLSX_MEDIA_TYPE, headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'})


def _kind(kind: str):
    if kind not in KINDS:
        raise NotFound(f"no import {kind!r}; one of {', '.join(IMPORTS)}",
                       code="import_kind_unknown")
    return IMPORTS[kind]


class SheetsController(Controller):
    path = "/api/v1"
    tags = ["sheets"]

    @post("/imports/{kind:str}", guards=[requires_role(*REGISTRY_ADMINS)], status_code=201,
          request_max_body_size=tabular.MAX_FILE_BYTES,
          summary="Import an .xlsx or CSV file (history, teams, stock, attendance): all rows or "
                  "none; the same file or row again changes nothing")
    async def import_file(self, request: Request, kind: str, db: Database, settings: Settings,
                          principal: Principal, dry_run: bool = False) -> SheetImport:
        fn = _kind(kind) or functools.partial(attendance.import_attendance, settings=settings)
        data = await request.body()
        # Optional: without one the file's digest is the key (the same file changes nothing).
        key = None if dry_run else scoped_key(request, principal, required=False)
        return await anyio.to_thread.run_sync(functools.partial(
            fn, db, principal, data, dry_run=dry_run, key=key))

    @get("/imports/{kind:str}/template.xlsx", guards=[requires_role(*REGISTRY_ADMINS)],
         sync_to_thread=False, media_type=tabular.XLSX_MEDIA_TYPE,
         summary="An import's template: the Chinese header row and an example row")
    def template(self, kind: str) -> Response:
        _kind(kind)
        return xlsx(imports.template(KINDS[kind]), f"{kind}-template.xlsx")

    @get("/villages/{village_id:int}/lists/{kind:str}/sheet.xlsx",
         guards=[requires_role(*REGISTRY_ADMINS)], sync_to_thread=True,
         media_type=tabular.XLSX_MEDIA_TYPE,
         summary="A village's list as .xlsx: households, entries, hours, orders, or all")
    def village_list(self, village_id: int, kind: str, year: int, db: Database,
                     principal: Principal) -> Response:
        return xlsx(exports.village_workbook(db, principal, kind, village_id, year),
                    f"village-{village_id}-{kind}-{year}.xlsx")

    @get("/redemption/settlement.xlsx", guards=[requires_role(TOWN_ADMIN)], sync_to_thread=True,
         media_type=tabular.XLSX_MEDIA_TYPE, summary="Settlement of a period as .xlsx")
    def settlement(self, start: date, end: date, db: Database,
                   principal: Principal) -> Response:
        return xlsx(exports.settlement_workbook(db, principal, start, end),
                    f"settlement-{start}_{end}.xlsx")

    @get("/redemption/vouchers/sheet.pdf", guards=[requires_role(*REGISTRY_ADMINS)],
         sync_to_thread=True, media_type=PDF,
         summary="A printable sheet of the open vouchers of some orders")
    def voucher_sheet(self, order_id: list[int], db: Database, settings: Settings,
                      principal: Principal) -> Response:
        return pdf(paper.vouchers_pdf(db, principal, order_id,
                                      public_base_url=settings.public_base_url), "vouchers.pdf")

    @get("/villages/{village_id:int}/notice-sheet.pdf", guards=[requires_role(*REGISTRY_ADMINS)],
         sync_to_thread=True, media_type=PDF,
         summary="The village's 公示 sheet for the notice board")
    def notice_sheet(self, village_id: int, db: Database, settings: Settings,
                     principal: Principal) -> Response:
        return pdf(paper.notice_sheet_pdf(db, principal, village_id,
                                          public_base_url=settings.public_base_url),
                   f"notices-{village_id}.pdf")

    @get("/villages/{village_id:int}/score-sheet.pdf", guards=[requires_role(*REGISTRY_ADMINS)],
         sync_to_thread=True, media_type=PDF,
         summary="The village's monthly score sheet (红榜); improve=true adds the masked list "
                 "of households that most need to improve")
    def score_sheet(self, village_id: int, month: str, db: Database, settings: Settings,
                    principal: Principal, improve: bool = False) -> Response:
        return pdf(paper.score_sheet_pdf(db, principal, village_id, month,
                                         include_improve=improve,
                                         public_base_url=settings.public_base_url),
                   f"score-{village_id}-{month}.pdf")


def pdf(content: bytes, filename: str) -> Response:
    return Response(content, media_type=PDF, headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'})
