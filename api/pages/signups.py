"""Activity sign-up for volunteers (/activities): the open activities with their seats, signing
up (a seat, or the waiting line when full), withdrawing (the first waiting moves up); and for
organizers the sign-up list of an activity and rejecting an attendance with a reason. The
seats and the line are ledger.activities.signups'; rejecting is ledger.activities.review's."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import Principal
from api.pages.common import (
    FormData,
    field_errors,
    need_person,
    page_role,
    refusals_into,
    render,
    saved,
    t_for,
    to_signin,
)
from api.pages.notices import reason_field
from ledger.activities import reads, review, signups
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError
from ledger.identity.actor import ACTIONS

ORGANIZERS = ACTIONS["activity.create"]


def _list(request: Request, db: Database, p: Principal, *, status: int = 200,
          **ctx) -> Template:
    board = reads.open_activities(db, p.person_id)
    return render(request, "signups/list.html", status=status, rows=board.items,
                  villages=board.villages, **ctx)


@get("/activities", name="signup_list", sync_to_thread=True)
def signup_list(request: Request, db: Database,
                maybe_principal: Principal | None) -> Template | Redirect:
    p = need_person(request, maybe_principal)
    if not isinstance(p, Principal):
        return p
    return _list(request, db, p, promoted=request.query_params.get("promoted") == "1")


@post("/activities/{activity_id:int}/{action:str}", name="signup_action", sync_to_thread=True)
def signup_action(request: Request, activity_id: int, action: str, db: Database,
                  maybe_principal: Principal | None, data: FormData) -> Template | Redirect:
    p = maybe_principal
    if p is None or p.person_id is None:
        return to_signin(request)
    t = t_for(request)
    try:
        if action == "signup":
            signups.sign_up(db, activity_id=activity_id, person_id=p.person_id)
            return Redirect(path=f"/activities#act-{activity_id}", status_code=303)
        if action == "withdraw":
            done = signups.withdraw(db, activity_id=activity_id, person_id=p.person_id)
            moved = "1" if done.promoted_person_id else "0"
            return Redirect(path=f"/activities?promoted={moved}", status_code=303)
        return _list(request, db, p, status=404, errors={"_form": t("err.not_found")})
    except DomainError as exc:
        return _list(request, db, p, status=exc.status, errors=field_errors(exc, t, {}),
                     failed=activity_id)


@get("/org/activities/{activity_id:int}/signups", name="org_signups",
     guards=[page_role(*ORGANIZERS)], sync_to_thread=True)
def org_signups(request: Request, activity_id: int, db: Database,
                principal: Principal) -> Template | Redirect:
    sheet = reads.signup_sheet(db, principal, activity_id)
    return render(request, "signups/org.html", act=sheet.activity, listing=sheet.listing,
                  names=sheet.names, seated=sheet.seated, waiting=sheet.waiting)


@post("/org/attendances/{attendance_id:int}/reject", name="org_reject",
      guards=[page_role(*ORGANIZERS)], sync_to_thread=True)
def org_reject(request: Request, attendance_id: int, db: Database, settings: Settings,
               principal: Principal, data: FormData) -> Template | Redirect:
    """The organizer turns down an attendance (wrong person, did not serve), with a reason:
    pending minutes go back, certified ones and their points are reversed."""
    t = t_for(request)
    activity_id = review.activity_of_attendance(db, attendance_id)
    errors: dict[str, str] = {}
    reason = reason_field(data, t, errors)
    if activity_id is None:
        errors["_form"] = t("err.not_found")
    if not errors:
        with refusals_into(errors, t, {"reason*": "reason"}):
            review.reject(db, settings, principal, attendance_id, reason)
            return saved(f"/org/activities/{activity_id}")
    return render(request, "error.html", status=422, code="reject_failed",
                  message="；".join(errors.values()))


handlers = [signup_list, signup_action, org_signups, org_reject]
