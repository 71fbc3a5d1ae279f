"""A resident's own claim (申报): pick an item residents may claim, for oneself or one's
household, say what happened and take a photo with the phone's camera. The rules record it as
a claim (ledger.rules.service, channel "claim"); staff verify and approve it on /review."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from api.auth import Principal
from api.pages.common import (
    FormData,
    checked_form_key,
    field_errors,
    form_key,
    need_person,
    render,
    saved,
    t_for,
    to_signin,
)
from api.pages.household import MAX_UPLOAD_BYTES
from api.pages.views import offered_option
from api.pages.workflow_views import evidence_field
from ledger.activities.inspections import MAX_NOTE_CHARS, store_photo
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError
from ledger.redemption import answers
from ledger.rules import desk, offers
from ledger.rules import service as rules
from ledger.rules import workflow as wf
from ledger.timeutil import utcnow

CLAIM_FIELDS = {"item*": "item_code", "rule_item*": "item_code", "points*": "points",
                "photo*": "photo", "subject_not_allowed": "holder", "note*": "note",
                "period_already_scored": "item_code", "cap_reached": "item_code",
                "not_permitted": "item_code"}
WITHDRAWABLE = ("claimed", "verified")


def _page(request: Request, db: Database, p: Principal, *, status: int = 200,
          **ctx) -> Template:
    t = t_for(request)
    holders, mine = desk.claims_of(db, p)
    # exactly the items the engine accepts as this resident's claim (rules/offers.py)
    options = [("", t("admin.choose")), *(offered_option(o, t)
                                          for o in offers.claim_offers(db, p))]
    holder_options = [("person", t("claim.for_me"))]
    if any(h == "household" for h, _ in holders):
        holder_options.append(("household", t("claim.for_household")))
    return render(request, "claims/claims.html", status=status, claims=mine,
                  item_options=options, holder_options=holder_options,
                  withdrawable=WITHDRAWABLE, **ctx)


@get("/me/claims", name="my_claims", sync_to_thread=True)
def my_claims(request: Request, db: Database,
              maybe_principal: Principal | None) -> Template | Redirect:
    p = need_person(request, maybe_principal)
    if not isinstance(p, Principal):
        return p
    return _page(request, db, p)


@post("/me/claims", name="claim_send", sync_to_thread=True,
      request_max_body_size=MAX_UPLOAD_BYTES)
def claim_send(request: Request, db: Database, settings: Settings,
               maybe_principal: Principal | None,
               data: Annotated[dict, Body(media_type=RequestEncodingType.MULTI_PART)]
               ) -> Template | Redirect:
    p = maybe_principal
    if p is None or p.person_id is None:
        return to_signin(request)
    t = t_for(request)
    form = {k: v for k, v in data.items() if isinstance(v, str)}
    photo = data.get("photo")
    raw = photo.file.read() if isinstance(photo, UploadFile) and photo.filename else None
    errors: dict[str, str] = {}
    if not form.get("item_code"):
        errors["item_code"] = t("err.required")
    note = (form.get("note") or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        errors["note"] = t("err.too_long", n=MAX_NOTE_CHARS)
    points = None
    if form.get("points"):
        try:
            points = float(form["points"])
        except ValueError:
            errors["points"] = t("err.not_number")
    key = checked_form_key(form, p, "claim", t, errors)
    holders = dict(answers.holders_of(db, p))  # the person and their household
    holder_type = form.get("holder") if form.get("holder") in holders else "person"
    if not errors:
        try:
            photos = [f"sha256:{store_photo(settings, raw)}"] if raw else []
            ctx = {"channel": "claim", "note": note, "photos": photos,
                   "occurred_at": utcnow().isoformat()}
            if points is not None:
                ctx["points"] = points
            rules.record_award(db, settings, item_code=form["item_code"],
                               holder=(holder_type, holders[holder_type]),
                               recorder=p, context=ctx, key=key)
            return saved("/me/claims")
        except DomainError as exc:
            errors = evidence_field(exc, t) or field_errors(exc, t, CLAIM_FIELDS)
    return _page(request, db, p, status=422, errors=errors, values=form)


@post("/me/claims/{award_id:int}/withdraw", name="claim_withdraw", sync_to_thread=True)
def claim_withdraw(request: Request, award_id: int, db: Database, settings: Settings,
                   maybe_principal: Principal | None, data: FormData) -> Redirect:
    p = maybe_principal
    if p is None:
        return to_signin(request)
    wf.reject_award(db, settings, award_id=award_id, actor=p,
                    reason=t_for(request)("claim.withdraw"),
                    key=form_key(data, p, f"claim-withdraw:{award_id}"))
    return Redirect(path="/me/claims", status_code=303)


handlers = [my_claims, claim_send, claim_withdraw]
