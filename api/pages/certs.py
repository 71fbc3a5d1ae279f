"""Certificates on the pages: "开具证明" on /me (a period, then the certificate with its
verification QR code and the PDF), issued and rendered by ledger.activities.certificates. The
public page the QR code opens is /cert/{code} (api/controllers/activities.py)."""

from __future__ import annotations

from datetime import date

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from api.auth import Principal
from api.pages.common import (
    FormData,
    checked_form_key,
    need_person,
    refusals_into,
    render,
    t_for,
    to_signin,
)
from ledger.activities import certificates
from ledger.config import Settings
from ledger.db import Database
from ledger.rules.periods import local_date
from ledger.timeutil import utcnow

CERTS_SHOWN = 20
CERT_FIELDS = {"period_invalid": "end"}


def _date(form: dict, name: str, t, errors: dict) -> date | None:
    raw = str(form.get(name) or "").strip()
    if not raw:
        errors[name] = t("err.required")
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = t("err.bad_datetime")
        return None


def _page(request: Request, db: Database, p: Principal, *, status: int = 200,
          **ctx) -> Template:
    today = local_date(utcnow())
    mine = certificates.of_person(db, p, limit=CERTS_SHOWN)
    values = ctx.pop("values", None) or {"start": date(today.year, 1, 1).isoformat(),
                                         "end": today.isoformat()}
    return render(request, "certs/certs.html", status=status, certs=mine, values=values, **ctx)


@get("/me/certificates", name="my_certificates", sync_to_thread=True)
def my_certificates(request: Request, db: Database,
                    maybe_principal: Principal | None) -> Template | Redirect:
    p = need_person(request, maybe_principal)
    if not isinstance(p, Principal):
        return p
    return _page(request, db, p)


@post("/me/certificates", name="certificate_issue", sync_to_thread=True)
def certificate_issue(request: Request, db: Database, settings: Settings,
                      maybe_principal: Principal | None, data: FormData) -> Template | Redirect:
    p = maybe_principal
    if p is None or p.person_id is None:
        return to_signin(request)
    t = t_for(request)
    errors: dict[str, str] = {}
    start, end = _date(data, "start", t, errors), _date(data, "end", t, errors)
    key = checked_form_key(data, p, "certificate", t, errors)
    if not errors:
        with refusals_into(errors, t, CERT_FIELDS):
            rec = certificates.issue(db, settings, p, person_id=p.person_id,
                                     start=start, end=end, key=key)
            return Redirect(path=f"/me/certificates/{rec.code}", status_code=303)
    return _page(request, db, p, status=422, errors=errors,
                 values={"start": data.get("start", ""), "end": data.get("end", "")})


@get("/me/certificates/{code:str}", name="my_certificate", sync_to_thread=True)
def my_certificate(request: Request, code: str, db: Database, settings: Settings,
                   maybe_principal: Principal | None) -> Template | Redirect:
    p = maybe_principal
    if p is None:
        return to_signin(request)
    rec = certificates.load(db, settings, p, code)
    return render(request, "certs/cert.html", rec=rec)


@get("/me/certificates/{code:str}/pdf", name="my_certificate_pdf", sync_to_thread=True)
def my_certificate_pdf(request: Request, code: str, db: Database, settings: Settings,
                       maybe_principal: Principal | None) -> Response | Redirect:
    p = maybe_principal
    if p is None:
        return to_signin(request)
    rec = certificates.load(db, settings, p, code)
    return Response(certificates.render_pdf(rec), media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="service-record-{code}.pdf"'})


handlers = [my_certificates, certificate_issue, my_certificate, my_certificate_pdf]
