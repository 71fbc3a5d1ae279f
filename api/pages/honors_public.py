"""The public honor list (光荣榜) pages: the published lists and one list as the poster's QR
code opens it (ranks, names as published, results, date, check code); a list on public notice
(公示) before publication with its objection form; and the admin's side of that notice —
starting it and deciding the objections. All through ledger.recognition.service."""

from __future__ import annotations

from urllib.parse import quote

from litestar import Request, get, post
from litestar.response import Redirect, Template
from msgspec import to_builtins

from api.auth import Principal
from api.pages.common import (
    FormData,
    checked_form_key,
    form_key,
    int_field,
    page_role,
    refusals_into,
    render,
    saved,
    t_for,
)
from api.pages.honors import ADMINS, _check_scope
from api.pages.notices import reason_field
from ledger.db import Database
from ledger.errors import DomainError
from ledger.recognition import honor, service
from ledger.recognition.schemas import NoticeListView

POINT_METRICS = ("points", "household_score")  # values kept in ledger steps
DEFAULT_NOTICE_DAYS = 5


@get("/honors", name="honor_lists_public", sync_to_thread=True)
def honor_lists_public(request: Request, db: Database) -> Template:
    return render(request, "honors_public/lists.html", notices=service.notices(db),
                  lists=to_builtins(service.published(db, town_id=None, village_id=None)))


def _list_page(request: Request, db: Database, list_id: int, *, status: int = 200,
               **ctx) -> Template:
    view = service.public_list(db, list_id)
    if isinstance(view, NoticeListView):
        return render(request, "honors_public/notice.html", status=status, hl=view,
                      point_metrics=POINT_METRICS, **ctx)
    view = to_builtins(view)  # the template's dict
    return render(request, "honors_public/list.html", status=status, hl=view,
                  content=view["content"], point_metrics=POINT_METRICS, **ctx)


@get("/honors/{list_id:int}", name="honor_list_public", sync_to_thread=True)
def honor_list_public(request: Request, list_id: int, db: Database) -> Template:
    return _list_page(request, db, list_id,
                      objected=request.query_params.get("objected") == "1")


@post("/honors/{list_id:int}/objections", name="honor_object", sync_to_thread=True)
def honor_object(request: Request, list_id: int, db: Database,
                 maybe_principal: Principal | None, data: FormData) -> Template | Redirect:
    p = maybe_principal
    if p is None:
        return Redirect(path=f"/signin?next={quote(f'/honors/{list_id}')}", status_code=303)
    t = t_for(request)
    errors: dict[str, str] = {}
    reason = reason_field(data, t, errors)
    holder = int_field(data, "holder_id", t, errors, lo=1, required=False)
    key = checked_form_key(data, p, f"honor_object:{list_id}", t, errors)
    if not errors:
        with refusals_into(errors, t, {"honor_candidate*": "holder_id"}):
            service.object_to_list(db, list_id=list_id, user_id=p.user_id, reason=reason,
                                   holder_id=holder, key=key)
            return Redirect(path=f"/honors/{list_id}?objected=1", status_code=303)
    return _list_page(request, db, list_id, status=422, errors=errors, values=data)


@post("/admin/honor-notices/{list_id:int}", name="honor_notice_start",
      guards=[page_role(*ADMINS)], sync_to_thread=True)
def honor_notice_start(request: Request, list_id: int, db: Database,
                       principal: Principal, data: FormData) -> Redirect:
    _check_scope(principal, service.scope_of_list(db, list_id))
    t = t_for(request)
    errors: dict[str, str] = {}
    days = int_field(data, "days", t, errors, lo=1, hi=honor.MAX_NOTICE_DAYS)
    if errors:
        raise DomainError(errors["days"], code="honor_notice_days_invalid", status=422)
    service.start_notice(db, list_id=list_id, actor_id=principal.user_id, days=days,
                         key=form_key(data, principal, f"honor_notice:{list_id}"))
    return saved(f"/admin/honors/lists/{list_id}")


@post("/admin/honor-notices/{list_id:int}/objections/{objection_id:int}",
      name="honor_objection_decide", guards=[page_role(*ADMINS)], sync_to_thread=True)
def honor_objection_decide(request: Request, list_id: int, objection_id: int, db: Database,
                           principal: Principal, data: FormData) -> Redirect:
    _check_scope(principal, service.scope_of_list(db, list_id))
    service.decide_objection(db, list_id=list_id, objection_id=objection_id,
                             actor_id=principal.user_id, upheld=data.get("upheld") == "1",
                             note=str(data.get("note") or ""),
                             key=form_key(data, principal, f"honor_decide:{objection_id}"))
    return saved(f"/admin/honors/lists/{list_id}")


handlers = [honor_lists_public, honor_list_public, honor_object, honor_notice_start,
            honor_objection_decide]
