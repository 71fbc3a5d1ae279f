"""The shop counter: scan a voucher, see what to hand over, fulfil it."""

from __future__ import annotations

import msgspec
from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import CLERK, Principal
from api.pages.common import FormData, field_errors, form_key, render, t_for, to_signin
from ledger.db import Database
from ledger.errors import DomainError, NotFound
from ledger.identity.actor import may
from ledger.journal.models import HolderType
from ledger.redemption import service as redemption


@get("/clerk", name="clerk", sync_to_thread=False)
def clerk(request: Request, maybe_principal: Principal | None) -> Template | Redirect:
    if maybe_principal is None:
        return to_signin(request)
    return render(request, "scan.html", accept="v", heading=t_for(request)("clerk.scan"),
                  settlement_link=True)


@get("/v/{code:str}", name="voucher_scan", sync_to_thread=True)
def voucher_scan(request: Request, code: str, db: Database,
                 maybe_principal: Principal | None) -> Template | Redirect:
    """Where a voucher's QR code leads: the counter for a clerk, the voucher for its holder."""
    p = maybe_principal
    if p is None:
        return to_signin(request)
    if not may(p, (CLERK,)):
        if p.person_id is None:
            raise NotFound("no voucher has this code", code="voucher_not_found")
        with db.sessions() as s:
            canonical = redemption.holder_voucher_code(s, code, [(HolderType.PERSON,
                                                                   p.person_id)])
        return Redirect(path=f"/me/vouchers/{canonical}", status_code=303)
    with db.sessions() as s:
        view = redemption.voucher_for_clerk(s, code, p.user_id)
    return render(request, "clerk_voucher.html", v=view, code=code)


@post("/v/{code:str}/fulfil", name="voucher_fulfil", sync_to_thread=True)
def voucher_fulfil(request: Request, code: str, db: Database, maybe_principal: Principal | None,
                   data: FormData) -> Template | Redirect:
    p = maybe_principal
    if p is None:
        return to_signin(request)
    t = t_for(request)
    key = form_key(data, p, f"fulfil:{code}")
    try:
        view = redemption.fulfil(db, code=code, clerk_user_id=p.user_id, key=key)
        return render(request, "clerk_voucher.html",
                      v={**msgspec.to_builtins(view), "usable": False}, code=code, done=True)
    except DomainError as exc:
        with db.sessions() as s:
            view = redemption.voucher_for_clerk(s, code, p.user_id)
        return render(request, "clerk_voucher.html", status=exc.status, v=view, code=code,
                      errors=field_errors(exc, t, {}))


handlers = [clerk, voucher_scan, voucher_fulfil]
