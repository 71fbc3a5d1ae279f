"""The shop counter: scan a voucher, see what to hand over, fulfil it."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import CLERK, Principal
from api.pages.common import FormData, field_errors, form_key, render, t_for, to_signin
from ledger.db import Database
from ledger.errors import DomainError
from ledger.identity.actor import may
from ledger.redemption import answers
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
        canonical = answers.own_voucher_code(db, p, code)
        return Redirect(path=f"/me/vouchers/{canonical}", status_code=303)
    return render(request, "clerk_voucher.html", v=answers.at_counter(db, code, p.user_id),
                  code=code)


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
        # an order just fulfilled: no `usable` (nothing more to hand over), no refusal
        return render(request, "clerk_voucher.html", v=view, code=code, done=True)
    except DomainError as exc:
        return render(request, "clerk_voucher.html", status=exc.status,
                      v=answers.at_counter(db, code, p.user_id), code=code,
                      errors=field_errors(exc, t, {}))


handlers = [clerk, voucher_scan, voucher_fulfil]
