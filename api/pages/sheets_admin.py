"""The admin console's spreadsheets: one page per import (historical points and hours, teams
and members, reward stock; households and people have theirs at /admin/registry) with its
template, a check that shows the first rows as read and every error before anything is
applied, and the village lists and settlement as .xlsx."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from msgspec import to_builtins

from api.auth import CLERK, TOWN_ADMIN, Principal
from api.pages.common import need_role, page_role, render, t_for
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError
from ledger.identity.actor import ACTIONS, villages_of
from ledger.identity.roles import REGISTRY_ADMINS
from ledger.registry.lookup import villages
from ledger.sheets import attendance, exports, history, imports, paper, stock, tabular, teams
from ledger.timeutil import LOCAL_TZ, utcnow

ADMINS = ACTIONS["village.admin"]
KINDS = {"history": (history.KIND, history.import_history, ADMINS),
         "teams": (teams.KIND, teams.import_teams, ADMINS),
         "stock": (stock.KIND, stock.import_stock, (TOWN_ADMIN,)),
         "attendance": (attendance.KIND, attendance.import_attendance, ADMINS)}


def _download(content: bytes, filename: str, media_type: str = tabular.XLSX_MEDIA_TYPE
              ) -> Response:
    return Response(content, media_type=media_type, headers={
        "Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="{filename}"'})


def _villages(db: Database, p: Principal) -> list[tuple[int, str]]:
    return [(v.id, v.name) for v in villages(db, counts=False,
                                             within=villages_of(p, REGISTRY_ADMINS))]


@get("/admin/sheets", name="admin_sheets", guards=[page_role(*ADMINS)], sync_to_thread=True)
def sheets_home(request: Request, db: Database,
                principal: Principal) -> Template | Redirect:
    today = utcnow().astimezone(LOCAL_TZ)
    return render(request, "admin/sheets.html", kinds=KINDS, kind=None,
                  villages=_villages(db, principal), year=today.year, month=f"{today:%Y-%m}",
                  list_kinds=exports.KIND_TITLES)


def _kind_page(request: Request, kind: str, *, status: int = 200, **ctx) -> Template:
    k = KINDS[kind][0]
    return render(request, "admin/sheets.html", status=status, kinds=KINDS, kind=kind,
                  title=k.title, columns=k.columns,
                  max_mb=tabular.MAX_FILE_BYTES // (1024 * 1024), max_rows=tabular.MAX_ROWS, **ctx)


@get("/admin/sheets/{kind:str}", name="admin_sheets_kind", sync_to_thread=False)
def sheets_kind(request: Request, kind: str,
                maybe_principal: Principal | None) -> Template | Redirect | Response:
    p = need_role(request, maybe_principal, *(KINDS[kind][2] if kind in KINDS else ADMINS))
    if not isinstance(p, Principal):
        return p
    if kind not in KINDS:
        return Redirect("/admin/sheets")
    return _kind_page(request, kind)


@post("/admin/sheets/{kind:str}/import", name="admin_sheets_import", sync_to_thread=True,
      request_max_body_size=tabular.MAX_FILE_BYTES + 64 * 1024)
def sheets_import(request: Request, kind: str, db: Database, settings: Settings,
                  maybe_principal: Principal | None,
                  data: Annotated[dict, Body(media_type=RequestEncodingType.MULTI_PART)]
                  ) -> Template | Redirect:
    p = need_role(request, maybe_principal, *(KINDS[kind][2] if kind in KINDS else ADMINS))
    if not isinstance(p, Principal):
        return p
    if kind not in KINDS:
        return Redirect("/admin/sheets")
    t = t_for(request)
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _kind_page(request, kind, status=422, errors={"file": t("err.required")})
    raw = upload.file.read(tabular.MAX_FILE_BYTES + 1)
    dry_run = data.get("dry_run") == "1"
    try:
        extra = {"settings": settings} if kind == "attendance" else {}
        result = KINDS[kind][1](db, p, raw, dry_run=dry_run, **extra)
    except DomainError as exc:
        return _kind_page(request, kind, status=422, rows=exc.extra.get("errors") or [],
                          error_count=exc.extra.get("error_count"),
                          errors={"file": t("err." + exc.code, default=exc.detail)})
    # What the import changed, one line per figure (the template lists the answer's fields).
    return _kind_page(request, kind, result=result, figures=to_builtins(result))


@get("/admin/sheets/{kind:str}/template.xlsx", name="admin_sheets_template",
     guards=[page_role(*ADMINS)],
     sync_to_thread=False)
def sheets_template(request: Request, kind: str) -> Response | Redirect:
    if kind not in KINDS:
        return Redirect("/admin/sheets")
    return _download(imports.template(KINDS[kind][0]), f"{kind}-template.xlsx")


@get("/admin/lists/{kind:str}/sheet.xlsx", name="admin_list_export",
     guards=[page_role(*ADMINS)], sync_to_thread=True)
def list_export(request: Request, kind: str, db: Database, principal: Principal,
                village_id: int, year: int) -> Response | Redirect:
    return _download(exports.village_workbook(db, principal, kind, village_id, year),
                     f"village-{village_id}-{kind}-{year}.xlsx")


@get("/admin/settlement.xlsx", name="admin_settlement_export",
     guards=[page_role(TOWN_ADMIN, CLERK)], sync_to_thread=True)
def settlement_export(request: Request, db: Database, principal: Principal,
                      start: date, end: date) -> Response | Redirect:
    """The settlement page's downloads: every shop for a town admin, a clerk's own shop."""
    return _download(exports.settlement_workbook(db, principal, start, end),
                     f"settlement-{start}_{end}.xlsx")


@get("/admin/settlement.csv", name="admin_settlement_csv",
     guards=[page_role(TOWN_ADMIN, CLERK)], sync_to_thread=True)
def settlement_csv(request: Request, db: Database, principal: Principal,
                   start: date, end: date) -> Response | Redirect:
    return _download(exports.settlement_workbook(db, principal, start, end, csv=True),
                     f"settlement-{start}_{end}.csv", tabular.CSV_MEDIA_TYPE)


def _pdf(content: bytes, filename: str) -> Response:
    return Response(content, media_type="application/pdf", headers={
        "Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="{filename}"'})


@get("/admin/paper/notice-sheet.pdf", name="admin_notice_sheet",
     guards=[page_role(*ADMINS)], sync_to_thread=True)
def notice_sheet(request: Request, db: Database, settings: Settings,
                 principal: Principal, village_id: int) -> Response | Redirect:
    return _pdf(paper.notice_sheet_pdf(db, principal, village_id,
                                       public_base_url=settings.public_base_url),
                f"notices-{village_id}.pdf")


@get("/admin/paper/score-sheet.pdf", name="admin_score_sheet",
     guards=[page_role(*ADMINS)], sync_to_thread=True)
def score_sheet(request: Request, db: Database, settings: Settings,
                principal: Principal, village_id: int, month: str,
                improve: bool = False) -> Response | Redirect:
    return _pdf(paper.score_sheet_pdf(db, principal, village_id, month, include_improve=improve,
                                      public_base_url=settings.public_base_url),
                f"score-{village_id}-{month}.pdf")


handlers = [sheets_home, sheets_kind, sheets_import, sheets_template, list_export,
            settlement_export, settlement_csv, notice_sheet, score_sheet]
