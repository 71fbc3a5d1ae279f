"""The reviewer's desk (/review): deductions awaiting a second confirmation, claims to verify,
records awaiting approval, objections raised during public notice, and appeals. Each button
calls the rules' workflow (ledger.rules.workflow), which checks roles, village, and that the
recorder, verifier, confirmer or appellant is not the one deciding; its refusals are shown in
Chinese at the top of the desk. Photos of the evidence are shown to staff of the village."""

from __future__ import annotations

import re

from litestar import Request, get, post
from litestar.response import File, Redirect, Template

from api.auth import INSPECTOR, ORGANIZER, TOWN_ADMIN, VILLAGE_ADMIN, Principal
from api.pages.common import (
    FormData,
    checked_form_key,
    page_role,
    refusals_into,
    render,
    saved,
    t_for,
)
from api.pages.notices import reason_field
from ledger.activities.inspections import photo_dir
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import NotFound
from ledger.identity.actor import ACTIONS
from ledger.rules import desk
from ledger.rules import workflow as wf

DESK_ROLES = ACTIONS["award.confirm"]
PHOTO_ROLES = (INSPECTOR, ORGANIZER, VILLAGE_ADMIN, TOWN_ADMIN)
ACTIONS = ("confirm", "verify", "approve", "reject", "objection")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _desk(request: Request, db: Database, p: Principal, *, status: int = 200,
          **ctx) -> Template:
    if ctx.get("errors"):  # the desk has many small forms: say it at the top
        ctx["errors"] = {"_form": "；".join(ctx["errors"].values())}
    return render(request, "desk/desk.html", status=status, d=desk.desk(db, p), **ctx)


@get("/review", name="review_desk", guards=[page_role(*DESK_ROLES)], sync_to_thread=True)
def review_desk(request: Request, db: Database,
                principal: Principal) -> Template | Redirect:
    return _desk(request, db, principal)


@post("/review/awards/{award_id:int}/{action:str}", name="review_award",
      guards=[page_role(*DESK_ROLES)], sync_to_thread=True)
def review_award(request: Request, award_id: int, action: str, db: Database,
                 settings: Settings, principal: Principal,
                 data: FormData) -> Template | Redirect:
    if action not in ACTIONS:
        raise NotFound(f"no action {action}", code="not_found")
    t = t_for(request)
    errors: dict[str, str] = {}
    key = checked_form_key(data, principal, f"desk:{action}:{award_id}", t, errors)
    reason = reason_field(data, t, errors) if action == "reject" else ""
    if not errors:
        who = principal
        with refusals_into(errors, t, {}):
            if action == "confirm":
                wf.confirm_award(db, settings, award_id=award_id, confirmer=who, key=key)
            elif action == "verify":
                wf.verify_claim(db, settings, award_id=award_id, verifier=who, key=key)
            elif action == "approve":
                wf.approve_award(db, settings, award_id=award_id, approver=who, key=key)
            elif action == "reject":
                wf.reject_award(db, settings, award_id=award_id, actor=who, reason=reason,
                                key=key)
            else:
                wf.review_objections(db, settings, award_id=award_id, reviewer=who,
                                     uphold=data.get("uphold") == "1",
                                     note=str(data.get("note") or "")[:wf.MAX_REASON_CHARS],
                                     key=key)
            return saved("/review")
    return _desk(request, db, principal, status=422, errors=errors, failed=award_id)


@post("/review/appeals/{appeal_id:int}", name="review_appeal",
      guards=[page_role(VILLAGE_ADMIN, TOWN_ADMIN)], sync_to_thread=True)
def review_appeal(request: Request, appeal_id: int, db: Database, settings: Settings,
                  principal: Principal, data: FormData) -> Template | Redirect:
    t = t_for(request)
    errors: dict[str, str] = {}
    key = checked_form_key(data, principal, f"desk:appeal:{appeal_id}", t, errors)
    if not errors:
        with refusals_into(errors, t, {}):
            wf.decide_appeal(db, settings, appeal_id=appeal_id, decider=principal,
                             upheld=data.get("upheld") == "1",
                             note=str(data.get("note") or "")[:wf.MAX_REASON_CHARS], key=key)
            return saved("/review")
    return _desk(request, db, principal, status=422, errors=errors, failed_appeal=appeal_id)


@get("/review/photos/{sha:str}", name="review_photo",
     guards=[page_role(*PHOTO_ROLES)], sync_to_thread=True)
def review_photo(request: Request, sha: str, settings: Settings) -> File | Redirect:
    """An evidence photo (stored re-encoded, without its EXIF data), for staff only."""
    if not _SHA256.match(sha):
        raise NotFound("no such photo", code="not_found")
    path = photo_dir(settings) / sha[:2] / f"{sha}.jpg"
    if not path.is_file():
        raise NotFound("no such photo", code="not_found")
    return File(path=path, media_type="image/jpeg", content_disposition_type="inline",
                headers={"Cache-Control": "private, max-age=3600"})


handlers = [review_desk, review_award, review_appeal, review_photo]
