"""The admin console's rule catalog: view a catalog, edit an item (a new catalog version; past
awards keep the version they used), export as YAML, import a YAML file with every error shown
by line."""

from __future__ import annotations

import copy
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from api.auth import TOWN_ADMIN, Principal
from api.pages.common import FormData, exc_text, page_role, render, t_for
from api.pages.views import item_points_text
from ledger.db import Database
from ledger.errors import DomainError
from ledger.rules import catalog_io, store
from ledger.rules import spec as S
from ledger.rules.periods import local_date
from ledger.rules.plain import to_dict
from ledger.timeutil import utcnow

MAX_IMPORT_BYTES = catalog_io.MAX_CATALOG_BYTES
EDITABLE = ("name", "points", "description")


@get("/admin/rules", name="admin_rules", guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def rules_home(request: Request, db: Database) -> Template | Redirect:
    return render(request, "admin/rules.html", catalogs=store.catalogs_on(db), result=None)


@get("/admin/rules/{code:str}", name="admin_catalog",
     guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def catalog_page(request: Request, code: str, db: Database) -> Template | Redirect:
    c = store.catalog_on(db, code)
    t = t_for(request)
    cats = [{"code": cat.code, "name": cat.name,
             "items": [{"item": c.items[i], "points": item_points_text(c, c.items[i], t)}
                       for i in cat.items]} for cat in c.categories]
    return render(request, "admin/catalog.html", c=c, cats=cats)


@get("/admin/rules/{code:str}/export.yaml", name="admin_catalog_export",
     guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def catalog_export(request: Request, code: str, db: Database) -> Response | Redirect:
    c = store.catalog_on(db, code)
    return Response(catalog_io.dump_text(c).encode("utf-8"),
                    media_type="application/yaml; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{c.code}-v{c.version}'
                                                    '.yaml"'})


def _item_page(request: Request, db: Database, code: str, item_code: str, *,
               status: int = 200, **ctx) -> Template:
    c = store.catalog_on(db, code)
    if item_code not in c.items:
        raise DomainError("no such item", code="item_unknown", status=404)
    it = c.items[item_code]
    history = store.item_versions(db, code, item_code)
    values = ctx.pop("values", None) or {
        "name": it.name, "description": it.description,
        "points": "" if it.points_steps is None else str(c.points(it.points_steps)),
        "approved_by": c.approved_by, "decision": c.decision}
    return render(request, "admin/item.html", status=status, c=c, it=it, history=history,
                  fixed=it.points_steps is not None, values=values, **ctx)


@get("/admin/rules/{code:str}/items/{item_code:str}", name="admin_item",
     guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def item_page(request: Request, code: str, item_code: str, db: Database) -> Template | Redirect:
    return _item_page(request, db, code, item_code)


def edited_catalog(c: S.Catalog, item_code: str, form: dict) -> dict:
    """The catalog's plain form with one item's name, points or description changed: the
    text the town approves and imports as its next version."""
    plain = copy.deepcopy(to_dict(c))
    for cat in plain["categories"]:
        for item in cat["items"]:
            if item["code"] != item_code:
                continue
            item["name"] = form.get("name", "").strip()
            desc = form.get("description", "").strip()
            if desc:
                item["description"] = desc
            else:
                item.pop("description", None)
            if "points" in form and isinstance(item.get("points"), int | float):
                raw = form["points"].strip()
                item["points"] = float(raw) if "." in raw else int(raw)
    approval = plain["catalog"].setdefault("approval", {})
    approval["approved_by"] = form.get("approved_by", "").strip()
    approval["decision"] = form.get("decision", "").strip()
    approval["approved_on"] = local_date(utcnow())
    return plain


def _errors_by_field(exc: DomainError, t) -> dict[str, str]:
    errors: dict[str, str] = {}
    for e in exc.extra.get("errors") or []:
        path = e.get("path") or ""
        name = next((f for f in (*EDITABLE, "approved_by", "decision") if path.endswith(f)),
                    "_form")
        errors.setdefault(name, e.get("message", ""))
    if not errors:
        errors[{"approval_required": "decision"}.get(exc.code, "_form")] = \
            exc_text(t, exc)
    return errors


@post("/admin/rules/{code:str}/items/{item_code:str}", name="admin_item_save",
      guards=[page_role(TOWN_ADMIN)],
      sync_to_thread=True)
def item_save(request: Request, code: str, item_code: str, db: Database,
              principal: Principal, data: FormData) -> Template | Redirect:
    t = t_for(request)
    c = store.catalog_on(db, code)
    errors: dict[str, str] = {}
    for name in ("name", "approved_by", "decision"):
        if not (data.get(name) or "").strip():
            errors[name] = t("err.required")
    raw = (data.get("points") or "").strip()
    if "points" in data:
        try:
            float(raw)
        except ValueError:
            errors["points"] = t("err.not_number")
    if not errors:
        try:
            plain = edited_catalog(c, item_code, data)
            text = catalog_io.dump_text(catalog_io.from_plain(plain))
            result = store.import_catalog(db, text, actor_id=principal.user_id)
            return Redirect(path=f"/admin/rules/{code}?version={result.version}",
                            status_code=303)
        except DomainError as exc:
            errors = _errors_by_field(exc, t)
    return _item_page(request, db, code, item_code, status=422, errors=errors, values=data)


@post("/admin/rules/import", name="admin_rules_import",
      guards=[page_role(TOWN_ADMIN)], sync_to_thread=True,
      request_max_body_size=MAX_IMPORT_BYTES + 64 * 1024)
def rules_import(request: Request, db: Database, principal: Principal,
                 data: Annotated[dict, Body(media_type=RequestEncodingType.MULTI_PART)]
                 ) -> Template | Redirect:
    t = t_for(request)
    upload = data.get("file")
    text = data.get("yaml") if isinstance(data.get("yaml"), str) else ""
    if isinstance(upload, UploadFile) and upload.filename:
        raw = upload.file.read(MAX_IMPORT_BYTES + 1)
        if len(raw) > MAX_IMPORT_BYTES:
            return _import_failed(request, db, {"_form": t("err.body_too_large")}, [])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _import_failed(request, db, {"file": t("err.not_utf8")}, [])
    if not text.strip():
        return _import_failed(request, db, {"file": t("err.required")}, [])
    try:
        result = store.import_catalog(db, text, actor_id=principal.user_id)
    except DomainError as exc:
        return _import_failed(request, db, {"yaml": exc_text(t, exc)},
                              exc.extra.get("errors") or [], text=text)
    return render(request, "admin/rules.html", catalogs=store.catalogs_on(db), result=result)


def _import_failed(request: Request, db: Database, errors: dict, problems: list, *,
                   text: str = "") -> Template:
    return render(request, "admin/rules.html", status=422, catalogs=store.catalogs_on(db),
                  result=None, errors=errors, problems=problems, values={"yaml": text})


handlers = [rules_home, catalog_page, catalog_export, item_page, item_save, rules_import]
