"""The admin console's households and people: import an .xlsx or CSV file (checked whole first;
a check shows the first rows as read and every bad row with its line, column and reason; nothing
applied unless all rows are good; the same file twice changes nothing), the template, and the
export in the same columns."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from api.auth import Principal
from api.pages.common import exc_text, page_role, render, t_for
from ledger.db import Database
from ledger.errors import DomainError
from ledger.identity.actor import ACTIONS
from ledger.registry import csvio
from ledger.sheets import tabular

ADMINS = ACTIONS["village.admin"]
NO_STORE = {"Cache-Control": "no-store"}


def _page(request: Request, *, status: int = 200, **ctx) -> Template:
    return render(request, "admin/registry.html", status=status,
                  columns=[c.header for c in csvio.COLUMNS],
                  max_mb=tabular.MAX_FILE_BYTES // (1024 * 1024), max_rows=tabular.MAX_ROWS,
                  **ctx)


@get("/admin/registry", name="admin_registry", guards=[page_role(*ADMINS)], sync_to_thread=False)
def registry_page(request: Request) -> Template | Redirect:
    return _page(request)


@post("/admin/registry/import", name="admin_registry_import",
      guards=[page_role(*ADMINS)], sync_to_thread=True,
      request_max_body_size=tabular.MAX_FILE_BYTES + 64 * 1024)
def registry_import(request: Request, db: Database, principal: Principal,
                    data: Annotated[dict, Body(media_type=RequestEncodingType.MULTI_PART)]
                    ) -> Template | Redirect:
    t = t_for(request)
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, status=422, errors={"file": t("err.required")})
    raw = upload.file.read(tabular.MAX_FILE_BYTES + 1)
    dry_run = data.get("dry_run") == "1"
    try:
        # The file's digest is the key: a double submit or the same file again changes nothing.
        result = csvio.import_csv(db, principal, raw, dry_run=dry_run)
    except DomainError as exc:
        return _page(request, status=422, rows=exc.extra.get("errors") or [],
                     error_count=exc.extra.get("error_count"),
                     errors={"file": exc_text(t, exc)})
    return _page(request, result=result)


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type, headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'})


@get("/admin/registry/export.csv", name="admin_registry_export",
     guards=[page_role(*ADMINS)], sync_to_thread=True)
def registry_export(request: Request, db: Database,
                    principal: Principal) -> Response | Redirect:
    return _download(csvio.export_csv(db, principal), tabular.CSV_MEDIA_TYPE, "households.csv")


@get("/admin/registry/export.xlsx", name="admin_registry_export_xlsx",
     guards=[page_role(*ADMINS)], sync_to_thread=True)
def registry_export_xlsx(request: Request, db: Database,
                         principal: Principal) -> Response | Redirect:
    return _download(csvio.export_xlsx(db, principal), tabular.XLSX_MEDIA_TYPE, "households.xlsx")


@get("/admin/registry/template.xlsx", name="admin_registry_template",
     guards=[page_role(*ADMINS)], sync_to_thread=True)
def registry_template(request: Request) -> Response | Redirect:
    return _download(csvio.template_xlsx(), tabular.XLSX_MEDIA_TYPE, "households-template.xlsx")


handlers = [registry_page, registry_import, registry_export, registry_export_xlsx,
            registry_template]
