"""The organizer's pages: my activities, creating one, opening it, the full-screen rotating
check-in code with a live count of arrivals, and confirming attendances."""

from __future__ import annotations

from datetime import datetime, timedelta

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import Principal
from api.pages.common import (
    FormData,
    int_field,
    need_role,
    page_role,
    refusals_into,
    render,
    require_field,
    saved,
    t_for,
)
from api.pages.filters import qr_svg
from ledger.activities import planning, reads, review, tokens
from ledger.activities.codes import current_code
from ledger.activities.signups import activity_for
from ledger.config import Settings
from ledger.db import Database
from ledger.identity.actor import ACTIONS
from ledger.timeutil import LOCAL_TZ, utcnow

ROLES = ACTIONS["activity.create"]
POLL_SLACK_MS = 300  # ask just after the code turns over
ACTIVITY_FIELDS = {"title*": "title", "window*": "ends_at", "time*": "starts_at",
                   "rule_item*": "rule_item_code", "village*": "village_id",
                   "forbidden_village": "village_id", "rotate_s*": "rotate_s"}


def parse_local(raw: str | None, t, errors: dict, name: str) -> datetime | None:
    """A datetime-local field, read in the town's time zone."""
    raw = (raw or "").strip()
    if not raw:
        errors[name] = t("err.required")
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=LOCAL_TZ)
    except ValueError:
        errors[name] = t("err.bad_datetime")
        return None


@get("/org", name="org", guards=[page_role(*ROLES)], sync_to_thread=True)
def org_home(request: Request, db: Database,
             principal: Principal) -> Template | Redirect:
    return render(request, "org/home.html", activities=planning.activities_of(db, principal))


def _new_form(request: Request, db: Database, p: Principal, *, status: int = 200, **ctx):
    t = t_for(request)
    # what the engine will pay attendance with in these villages (awards.check_item)
    choices = reads.activity_choices(db, p)
    return render(request, "org/new.html", status=status,
                  village_options=[("", t("admin.choose")), *choices.villages],
                  item_options=[("", t("admin.choose")), *choices.items], **ctx)


# The new-activity form proposes now to two hours on (past midnight at 23:00: an evening
# activity ends the next day).
DEFAULT_WINDOW = timedelta(hours=2)


@get("/org/new", name="org_new", guards=[page_role(*ROLES)], sync_to_thread=True)
def org_new(request: Request, db: Database,
            principal: Principal) -> Template | Redirect:
    now = utcnow().astimezone(LOCAL_TZ).replace(second=0, microsecond=0)
    values = {"starts_at": now.strftime("%Y-%m-%dT%H:%M"),
              "ends_at": (now + DEFAULT_WINDOW).strftime("%Y-%m-%dT%H:%M"),
              "rotate_s": str(tokens.DEFAULT_ROTATE_S)}
    return _new_form(request, db, principal, values=values)


@post("/org/new", name="org_create", guards=[page_role(*ROLES)], sync_to_thread=True)
def org_create(request: Request, db: Database, principal: Principal,
               data: FormData) -> Template | Redirect:
    t = t_for(request)
    errors: dict[str, str] = {}
    title = require_field(data, "title", t, errors, max_chars=planning.MAX_TITLE_CHARS)
    village_id = int_field(data, "village_id", t, errors, lo=1)
    item = require_field(data, "rule_item_code", t, errors, max_chars=64)
    starts = parse_local(data.get("starts_at"), t, errors, "starts_at")
    ends = parse_local(data.get("ends_at"), t, errors, "ends_at")
    rotate_s = int_field(data, "rotate_s", t, errors, lo=tokens.MIN_ROTATE_S,
                         hi=tokens.MAX_ROTATE_S)
    if not errors:
        draft = planning.ActivityDraft(
            village_id=village_id, title=title, rule_item_code=item, starts_at=starts,
            ends_at=ends, place=(data.get("place") or "").strip()[:planning.MAX_PLACE_CHARS],
            needs_confirmation=data.get("needs_confirmation") == "1", rotate_s=rotate_s)
        with refusals_into(errors, t, ACTIVITY_FIELDS):
            act = planning.create_activity(db, principal, draft)
            return Redirect(path=f"/org/activities/{act.id}", status_code=303)
    return _new_form(request, db, principal, status=422, errors=errors, values=data)


@get("/org/activities/{activity_id:int}", name="org_activity",
     guards=[page_role(*ROLES)], sync_to_thread=True)
def org_activity(request: Request, activity_id: int, db: Database,
                 principal: Principal) -> Template | Redirect:
    page = reads.managed_activity(db, principal, activity_id)  # checks the manager
    return render(request, "org/activity.html", act=page.activity,
                  attendances=page.attendances, counts=page.counts, names=page.names)


@post("/org/activities/{activity_id:int}/status", name="org_status",
      guards=[page_role(*ROLES)], sync_to_thread=True)
def org_status(request: Request, activity_id: int, db: Database,
               principal: Principal, data: FormData) -> Template | Redirect:
    status = data.get("status", "")
    if status not in ("open", "closed"):
        status = "open"
    planning.set_status(db, principal, activity_id, status)
    return Redirect(path=f"/org/activities/{activity_id}", status_code=303)


def _code(db: Database, settings: Settings, p: Principal, activity_id: int, t) -> dict:
    """The rotating code to show now (the manager check is `current_code`'s own)."""
    code = current_code(db, settings, p, activity_id, "rotating")
    return {"qr": str(qr_svg(code.url, label=t("checkin.title"))), "url": code.url,
            "every_ms": code.refresh_in_s * 1000 + POLL_SLACK_MS}


@get("/org/activities/{activity_id:int}/qr", name="org_qr",
     guards=[page_role(*ROLES)], sync_to_thread=True)
def org_qr(request: Request, activity_id: int, db: Database, settings: Settings,
           principal: Principal) -> Template | Redirect:
    t = t_for(request)
    code = _code(db, settings, principal, activity_id, t)
    return render(request, "org/qr.html", act=activity_for(db, activity_id, None), code=code,
                  counts=reads.attendance_counts(db, activity_id))


@get("/org/activities/{activity_id:int}/qr.json", name="org_qr_json", sync_to_thread=True)
def org_qr_json(request: Request, activity_id: int, db: Database, settings: Settings,
                maybe_principal: Principal | None) -> dict:
    p = need_role(request, maybe_principal, *ROLES)
    if not isinstance(p, Principal):
        return {"error": "unauthenticated"}
    t = t_for(request)
    code = _code(db, settings, p, activity_id, t)
    counts = reads.attendance_counts(db, activity_id)
    return {**code, "arrived": t("org.arrived", n=counts.arrived),
            "left": t("org.left", n=counts.left)}


@post("/org/attendances/{attendance_id:int}/confirm", name="org_confirm",
      guards=[page_role(*ROLES)], sync_to_thread=True)
def org_confirm(request: Request, attendance_id: int, db: Database, settings: Settings,
                principal: Principal, data: FormData) -> Template | Redirect:
    result = review.confirm(db, settings, principal, attendance_id)
    return saved(f"/org/activities/{result.activity_id}")


handlers = [org_home, org_new, org_create, org_activity, org_status, org_qr, org_qr_json,
            org_confirm]
