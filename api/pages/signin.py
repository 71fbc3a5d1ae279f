"""Signing in on a phone: account and password, or phone number and a one-time SMS code; the
token goes into the `jifen_token` cookie (HttpOnly, SameSite=Lax) and the person returns to
the page they came from."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import principal_of
from api.pages import wechat as wechat_pages
from api.deps import limiter_of, sender_of
from api.pages.common import FormData, exc_text, render, safe_next, t_for
from api.pages.sign_in_redirect import REFRESH_COOKIE, signed_in
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError
from ledger.identity import otp
from ledger.identity import service as identity
from ledger.identity import sessions

VOLUNTEER_PATHS = ("/c/",)  # sign-in on the way to these pages shows phone sign-in first
CODE_FIELDS = {"otp_format": "code", "otp_invalid": "code", "otp_expired": "code",
               "otp_attempts_exceeded": "code", "phone_invalid": "phone"}


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def resume_session(request: Request, db: Database, settings: Settings) -> Redirect | None:
    """A volunteer whose access token lapsed but whose session lives: signed in again at once,
    with the session's next refresh token; None (and the cookie dropped) otherwise."""
    raw = request.cookies.get(REFRESH_COOKIE)
    if not raw or principal_of(request) is not None:
        return None
    try:
        who, session = sessions.rotate(db, settings.secret_key, raw)
    except DomainError:
        return None
    return signed_in(request, settings, who, request.query_params.get("next") or "", session)


def _page(request: Request, *, status: int = 200, mode: str = "password", **ctx) -> Template:
    nxt = safe_next(ctx.pop("next_path", None) or request.query_params.get("next"), "")
    # Coming from a check-in code: a volunteer, who signs in by phone; staff use the password.
    return render(request, "signin.html", status=status, mode=mode, next=nxt, otp=True,
                  phone_first=nxt.startswith(VOLUNTEER_PATHS), notice=ctx.pop("notice", None),
                  **ctx)


@get("/signin", name="signin", sync_to_thread=True)
def signin_page(request: Request, db: Database, settings: Settings) -> Template | Redirect:
    resumed = resume_session(request, db, settings)
    if resumed is not None:
        return resumed
    through_wechat = wechat_pages.maybe_start(request, settings)
    if through_wechat is not None:
        return through_wechat
    if wechat_pages.pending_notice(request, settings):  # back from WeChat, not yet bound
        return _page(request, mode="code", notice=t_for(request)("wechat.bind_by_sms"))
    return _page(request)


def _error_text(t, exc: DomainError) -> str:
    return exc_text(t, exc)


@post("/signin", name="signin_password", sync_to_thread=True)
def signin_password(request: Request, db: Database, settings: Settings,
                    data: FormData) -> Template | Redirect:
    t = t_for(request)
    login, password = (data.get("login") or "").strip(), data.get("password") or ""
    errors = {k: t("err.required") for k, v in (("login", login), ("password", password))
              if not v}
    if not errors:
        try:
            who = identity.sign_in_password(db, limiter_of(request), login=login,
                                            password=password, address=_address(request))
            return signed_in(request, settings, who, data.get("next", ""))
        except DomainError as exc:
            field = "password" if exc.code == "sign_in_failed" else "_form"
            errors = {field: _error_text(t, exc)}
    return _page(request, status=422 if errors else 200, errors=errors,
                 values={"login": login}, next_path=data.get("next"))


@post("/signin/code", name="signin_code", sync_to_thread=True)
def signin_code(request: Request, db: Database, settings: Settings,
                data: FormData) -> Template | Redirect:
    t = t_for(request)
    phone = (data.get("phone") or "").strip()
    values = {"phone": phone}
    if not phone:
        return _page(request, status=422, mode="code", errors={"phone": t("err.required")},
                     values=values, next_path=data.get("next"))
    limiter = limiter_of(request)
    try:
        if data.get("action") == "send":
            otp.request_code(db, limiter, sender_of(request), phone=phone, secret=settings.secret_key,
                             address=_address(request))
            return _page(request, mode="code", values=values, next_path=data.get("next"),
                         notice=t("signin.code_sent"))
        who = otp.verify_code(db, limiter, phone=phone, code=data.get("code") or "",
                              secret=settings.secret_key)
        r = signed_in(request, settings, who, data.get("next", ""),
                      sessions.start(db, settings.secret_key, who.user_id))
        wechat_pages.bind_pending(request, settings, db, who, r)
        return r
    except DomainError as exc:
        field = CODE_FIELDS.get(exc.code, "phone" if "phone" in exc.code else "_form")
        return _page(request, status=422, mode="code", errors={field: _error_text(t, exc)},
                     values=values, next_path=data.get("next"))


handlers = [signin_page, signin_password, signin_code]
