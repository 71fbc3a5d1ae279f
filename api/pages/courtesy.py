"""礼遇 pages: my benefits and passes (each pass a QR the partner scans), and the pass's own page
(anyone: benefit, masked holder, valid or used; a clerk or staff marks it used)."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import Principal
from api.pages.common import FormData, form_key, render, saved, t_for, to_signin
from api.pages.filters import qr_svg
from ledger.config import Settings
from ledger.courtesy import service as courtesy
from ledger.db import Database
from ledger.errors import DomainError
from ledger.identity.actor import may


@get("/courtesy", name="courtesy", sync_to_thread=True)
def my_courtesy(request: Request, db: Database, settings: Settings,
                maybe_principal: Principal | None) -> Template | Redirect:
    p = maybe_principal
    if p is None or p.person_id is None:
        return to_signin(request)
    view = courtesy.mine(db, p.person_id)
    base = settings.public_base_url
    qrs = {x.code: qr_svg(f"{base}/courtesy/p/{x.code}", box_size=6)
           for x in view.passes if x.used_at is None}
    return render(request, "courtesy/mine.html", view=view, qrs=qrs,
                  error=request.query_params.get("error"))


@post("/courtesy/{benefit_id:int}/claim", name="courtesy_claim", sync_to_thread=True)
def courtesy_claim(request: Request, benefit_id: int, db: Database,
                   maybe_principal: Principal | None, data: FormData) -> Template | Redirect:
    p = maybe_principal
    if p is None:
        return to_signin(request)
    try:
        courtesy.claim(db, p, benefit_id, key=form_key(data, p, "courtesy"))
    except DomainError as exc:
        return Redirect(path=f"/courtesy?error={exc.code}", status_code=303)
    return saved("/courtesy")


@get("/courtesy/p/{code:str}", name="courtesy_pass", sync_to_thread=True)
def courtesy_pass(request: Request, code: str, db: Database,
                  maybe_principal: Principal | None) -> Template:
    x = courtesy.check(db, code)
    clerk = maybe_principal is not None and may(maybe_principal, courtesy.USERS_OF_PASSES,
                                                  x.village_id)
    return render(request, "courtesy/pass.html", x=x, clerk=clerk)


@post("/courtesy/p/{code:str}/use", name="courtesy_use", sync_to_thread=True)
def courtesy_use(request: Request, code: str, db: Database,
                 maybe_principal: Principal | None, data: FormData) -> Template | Redirect:
    if maybe_principal is None:
        return to_signin(request)
    try:
        courtesy.use(db, maybe_principal, code)
    except DomainError as exc:
        if exc.code != "pass_used":
            raise
        t = t_for(request)
        x = courtesy.check(db, code)
        return render(request, "courtesy/pass.html", status=409, x=x, clerk=False,
                      error=t("err." + exc.code, default=exc.detail))
    return saved(f"/courtesy/p/{code}")


handlers = [my_courtesy, courtesy_claim, courtesy_pass, courtesy_use]
