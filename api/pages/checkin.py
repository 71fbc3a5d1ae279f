"""Opening a check-in code's URL (/c/{token}): the page confirms the scan with a CSRF-checked
post (sent by itself where scripts run), and answers with the attendance and its points."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import Principal
from api.pages.common import FormData, points_scale_of, render, t_for, to_signin
from api.pages.views import my_attendance
from ledger.activities import service as activities
from ledger.activities import tokens
from ledger.activities.planning import activity_view, get_activity
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError
from ledger.ratelimit import RateLimiter


def limiter_of(request: Request, settings: Settings) -> RateLimiter:
    """The process's rate limiter, shared with the JSON API (kept on the app's state)."""
    limiter = getattr(request.app.state, "limiter", None)
    if limiter is None:
        limiter = RateLimiter(settings.redis_url)
        request.app.state.limiter = limiter
    return limiter


def _float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw not in (None, "") else None
    except ValueError:
        return None


@get("/c/{token:str}", name="checkin", sync_to_thread=True)
def checkin_page(request: Request, token: str, db: Database, settings: Settings,
                 maybe_principal: Principal | None) -> Template | Redirect:
    if maybe_principal is None:
        return to_signin(request)
    claims = tokens.parse(settings.secret_key, token)  # forged codes stop here
    with db.sessions() as s:
        act = activity_view(get_activity(s, claims.activity_id))
        mine = (my_attendance(s, claims.activity_id, maybe_principal.person_id)
                if maybe_principal.person_id else None)
    return render(request, "checkin.html", act=act, token=token, result=None, mine=mine)


@post("/c/{token:str}", name="checkin_scan", sync_to_thread=True)
def checkin_scan(request: Request, token: str, db: Database, settings: Settings,
                 maybe_principal: Principal | None, data: FormData) -> Template | Redirect:
    p = maybe_principal
    if p is None:
        return to_signin(request)
    scan = activities.Scan(token=token, person_id=p.person_id, user_id=p.user_id,
                           ip=request.client.host if request.client else "",
                           action=data.get("action") or None, lat=_float(data.get("lat")),
                           lon=_float(data.get("lon")), accuracy_m=_float(data.get("accuracy")))
    try:
        result = activities.scan(db, settings, scan, limiter=limiter_of(request, settings))
    except DomainError as exc:
        t = t_for(request)
        return render(request, "checkin.html", status=exc.status, act=None, token=token,
                      result=None, error=t("err." + exc.code, default=exc.detail))
    from api.pages.workflow_views import per_hour_hint
    with db.sessions() as s:
        hint = per_hour_hint(s, result, t_for(request), points_scale_of(request))
    return render(request, "checkin.html", act=None, token=token, result=result,
                  hour_hint=hint)


handlers = [checkin_page, checkin_scan]
