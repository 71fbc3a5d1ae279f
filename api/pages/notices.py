"""Public notice (公示) on the pages: each village's notice board, open to anyone, listing what
is on notice (masked names, item, points, the end date) with an objection form; and the
resident's appeal (申诉) of a deduction, from the plate page or /me."""

from __future__ import annotations

from urllib.parse import quote

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import Principal
from api.pages.common import (
    FormData,
    checked_form_key,
    refusals_into,
    render,
    t_for,
)
from ledger.db import Database
from ledger.errors import NotFound
from ledger.rules import desk
from ledger.rules import workflow as wf

MAX_REASON_CHARS = wf.MAX_REASON_CHARS


def _signin_to(path: str) -> Redirect:
    return Redirect(path=f"/signin?next={quote(path)}", status_code=303)


def reason_field(form: dict, t, errors: dict, name: str = "reason") -> str:
    value = str(form.get(name) or "").strip()
    if not value:
        errors[name] = t("err.reason_missing")
    elif len(value) > MAX_REASON_CHARS:
        errors[name] = t("err.too_long", n=MAX_REASON_CHARS)
    return value


def _board(request: Request, db: Database, village_id: int, *, status: int = 200,
           **ctx) -> Template:
    board = desk.notice_board(db, village_id)
    return render(request, "notices/board.html", status=status, village_id=village_id,
                  village=board.village, rows=board.rows, **ctx)


@get("/notices", name="notice_villages", sync_to_thread=True)
def notice_villages(request: Request, db: Database) -> Template:
    return render(request, "notices/villages.html",
                  villages=[(v.village_id, v.village, v.on_notice)
                            for v in desk.notice_villages(db)])


@get("/notices/{village_id:int}", name="notice_board", sync_to_thread=True)
def notice_board(request: Request, village_id: int, db: Database) -> Template:
    return _board(request, db, village_id, objected=request.query_params.get("objected"))


@post("/notices/{village_id:int}/awards/{award_id:int}/object", name="notice_object",
      sync_to_thread=True)
def notice_object(request: Request, village_id: int, award_id: int, db: Database,
                  maybe_principal: Principal | None, data: FormData) -> Template | Redirect:
    p = maybe_principal
    if p is None:
        return _signin_to(f"/notices/{village_id}")
    t = t_for(request)
    errors: dict[str, str] = {}
    reason = reason_field(data, t, errors)
    key = checked_form_key(data, p, f"object:{award_id}", t, errors)
    if not errors:
        with refusals_into(errors, t, {}):
            wf.object_to_award(db, award_id=award_id, actor=p, reason=reason,
                               key=key)
            return Redirect(path=f"/notices/{village_id}?objected={award_id}", status_code=303)
    return _board(request, db, village_id, status=422, errors=errors, failed=award_id,
                  values={"reason": reason})


# ---- appeals --------------------------------------------------------------------------------

def _appeal_page(request: Request, db: Database, p: Principal, award_id: int, *,
                 status: int = 200, **ctx) -> Template:
    row = desk.appealable(db, p, award_id)
    if row is None:
        raise NotFound("no deduction of yours open for appeal", code="award_not_found")
    return render(request, "notices/appeal.html", status=status, row=row, **ctx)


@get("/appeal/{award_id:int}", name="appeal_form", sync_to_thread=True)
def appeal_form(request: Request, award_id: int, db: Database,
                maybe_principal: Principal | None) -> Template | Redirect:
    if maybe_principal is None:
        return _signin_to(f"/appeal/{award_id}")
    return _appeal_page(request, db, maybe_principal, award_id)


@post("/appeal/{award_id:int}", name="appeal_send", sync_to_thread=True)
def appeal_send(request: Request, award_id: int, db: Database,
                maybe_principal: Principal | None, data: FormData) -> Template | Redirect:
    p = maybe_principal
    if p is None:
        return _signin_to(f"/appeal/{award_id}")
    t = t_for(request)
    errors: dict[str, str] = {}
    reason = reason_field(data, t, errors)
    key = checked_form_key(data, p, f"appeal:{award_id}", t, errors)
    if not errors:
        with refusals_into(errors, t, {"appeal_*": "reason"}):
            wf.appeal(db, award_id=award_id, appellant=p, reason=reason, key=key)
            return Redirect(path="/me?appealed=1", status_code=303)
    return _appeal_page(request, db, p, award_id, status=422, errors=errors,
                        values={"reason": reason})


handlers = [notice_villages, notice_board, notice_object, appeal_form, appeal_send]
