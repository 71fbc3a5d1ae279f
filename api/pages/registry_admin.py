"""The admin console's households and people: import a CSV (checked whole first; every bad row
listed with its line, column and reason; nothing applied unless all rows are good), a dry run,
and the export in the same columns."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from api.auth import TOWN_ADMIN, VILLAGE_ADMIN, Principal
from api.pages.common import exc_text, form_key, need_role, render, t_for
from ledger.registry import csvio
from ledger.db import Database
from ledger.errors import DomainError

ADMINS = (TOWN_ADMIN, VILLAGE_ADMIN)


def _page(request: Request, *, status: int = 200, **ctx) -> Template:
    return render(request, "admin/registry.html", status=status,
                  columns=[names[0] for names in csvio.COLUMNS.values()],
                  max_mb=csvio.MAX_IMPORT_BYTES // (1024 * 1024), **ctx)


@get("/admin/registry", name="admin_registry", sync_to_thread=False)
def registry_page(request: Request, maybe_principal: Principal | None) -> Template | Redirect:
    p = need_role(request, maybe_principal, *ADMINS)
    return p if not isinstance(p, Principal) else _page(request)


@post("/admin/registry/import", name="admin_registry_import", sync_to_thread=True,
      request_max_body_size=csvio.MAX_IMPORT_BYTES + 64 * 1024)
def registry_import(request: Request, db: Database, maybe_principal: Principal | None,
                    data: Annotated[dict, Body(media_type=RequestEncodingType.MULTI_PART)]
                    ) -> Template | Redirect:
    p = need_role(request, maybe_principal, *ADMINS)
    if not isinstance(p, Principal):
        return p
    t = t_for(request)
    upload = data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, status=422, errors={"file": t("err.required")})
    raw = upload.file.read(csvio.MAX_IMPORT_BYTES + 1)
    dry_run = data.get("dry_run") == "1"
    form = {k: v for k, v in data.items() if isinstance(v, str)}
    try:
        result = csvio.import_csv(db, p, raw, dry_run=dry_run,
                                  key=None if dry_run else form_key(form, p, "registry_import"))
    except DomainError as exc:
        return _page(request, status=422, rows=exc.extra.get("errors") or [],
                     error_count=exc.extra.get("error_count"),
                     errors={"file": exc_text(t, exc)})
    return _page(request, result=result)


@get("/admin/registry/export.csv", name="admin_registry_export", sync_to_thread=True)
def registry_export(request: Request, db: Database,
                    maybe_principal: Principal | None) -> Response | Redirect:
    p = need_role(request, maybe_principal, *ADMINS)
    if not isinstance(p, Principal):
        return p
    return Response(csvio.export_csv(db, p), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="households.csv"',
                             "Cache-Control": "no-store"})


handlers = [registry_page, registry_import, registry_export]
