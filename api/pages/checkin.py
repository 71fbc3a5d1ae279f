"""Opening a check-in code's URL (/c/{token}): the page confirms the scan with a CSRF-checked
post (sent by itself where scripts run), and answers with the attendance and its points.

Opened before sign-in, a good rotating code is remembered as a pending scan (a signed cookie
for /c/ only, see tokens.pending_scan), so the scan still counts once the person has signed in
within tokens.PENDING_SCAN_GRACE_S even though the code on the screen has turned over."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import Principal
from api.deps import limiter_of
from api.observability import arrived_at
from api.pages.common import FormData, exc_text, points_scale_of, render, t_for, to_signin
from ledger.activities import service as activities
from ledger.activities import tokens
from ledger.activities.signups import activity_for
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError
from ledger.timeutil import utcnow

PENDING_COOKIE = "jifen_scan"  # the code opened before sign-in, and when (tokens.pending_scan)


def _float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def _remember_scan(request: Request, settings: Settings, db: Database,
                   claims: tokens.TokenClaims, token: str) -> Redirect:
    """Off to sign in, keeping (in a cookie for this browser only) the moment the code was seen
    good, so the scan still counts when the person is back within the grace."""
    r = to_signin(request)
    rotate_s = activity_for(db, claims.activity_id, None).rotate_s
    try:
        pending = tokens.pending_scan(settings.secret_key, claims, token, rotate_s, utcnow())
    except DomainError:
        pending = None  # already expired: the page says so after sign-in
    if pending:
        r.set_cookie(PENDING_COOKIE, f"{token}~{pending}", max_age=tokens.PENDING_SCAN_GRACE_S,
                     httponly=True, samesite="lax", path="/c/",
                     secure=settings.public_base_url.startswith("https://"))
    return r


def _pending(request: Request, token: str) -> str | None:
    raw = request.cookies.get(PENDING_COOKIE) or ""
    seen_token, _, pending = raw.rpartition("~")
    return pending if seen_token == token else None


@get("/c/{token:str}", name="checkin", sync_to_thread=True)
def checkin_page(request: Request, token: str, db: Database, settings: Settings,
                 maybe_principal: Principal | None) -> Template | Redirect:
    claims = tokens.parse(settings.secret_key, token)  # forged codes stop here
    if maybe_principal is None:
        return _remember_scan(request, settings, db, claims, token)
    act = activity_for(db, claims.activity_id, None)
    mine = (activities.my_attendance(db, claims.activity_id, maybe_principal.person_id)
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
                           lon=_float(data.get("lon")), accuracy_m=_float(data.get("accuracy")),
                           pending=_pending(request, token), arrived_at=arrived_at(request))
    try:
        result = activities.scan(db, settings, scan, limiter=limiter_of(request))
    except DomainError as exc:
        t = t_for(request)
        return render(request, "checkin.html", status=exc.status, act=None, token=token,
                      result=None, error=exc_text(t, exc))
    from api.pages.workflow_views import per_hour_hint
    scale = points_scale_of(request)
    hint = per_hour_hint(db, result.points, result.minutes, t_for(request), scale)
    done = render(request, "checkin.html", act=None, token=token, result=result,
                  hour_hint=hint, scale=scale)
    done.delete_cookie(PENDING_COOKIE, path="/c/")
    return done


handlers = [checkin_page, checkin_scan]
