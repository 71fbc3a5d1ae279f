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
from ledger.registry.lookup import village_names
from api.pages.workflow_views import appealable, holders_of
from ledger.db import Database
from ledger.errors import NotFound
from ledger.rules import explain
from ledger.rules import workflow as wf
from ledger.timeutil import utcnow

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
    with db.sessions() as s:
        names = village_names(s)
        if village_id not in names:
            raise NotFound(f"village {village_id} does not exist", code="village_not_found")
        rows = explain.village_notices(s, village_id, utcnow())
    return render(request, "notices/board.html", status=status, village_id=village_id,
                  village=names[village_id], rows=rows, **ctx)


@get("/notices", name="notice_villages", sync_to_thread=True)
def notice_villages(request: Request, db: Database) -> Template:
    from sqlalchemy import func, select

    from api.pages.workflow_views import NOTICE_STATES
    from ledger.rules.models import AwardRecord
    with db.sessions() as s:
        names = village_names(s)
        counts = dict(s.execute(select(AwardRecord.village_id, func.count())
                                .where(AwardRecord.status.in_(NOTICE_STATES))
                                .group_by(AwardRecord.village_id)).all())
    return render(request, "notices/villages.html",
                  villages=[(v, n, counts.get(v, 0)) for v, n in names.items()])


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
    with db.sessions() as s:
        row = appealable(s, award_id, holders_of(s, p.person_id), utcnow())
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
