"""The one way a page signs a person in: the redirect that carries the token cookie (and a
long session's refresh cookie). Used by password and phone-code sign-in (signin.py) and by
WeChat's callback (wechat.py), which signin.py offers: so it lives below both."""

from __future__ import annotations

from litestar import Request
from litestar.response import Redirect

from api.auth import issue_token, principal_from, set_token_cookie
from api.pages.common import home_of, safe_next
from ledger.config import Settings
from ledger.identity import service as identity

REFRESH_COOKIE = "jifen_refresh"


def signed_in(request: Request, settings: Settings, who: identity.Identity,
              next_path: str, session: dict | None = None) -> Redirect:
    """Back to the page asked for, else to the person's home by role (home_of). `session` (a
    volunteer's long session, ledger/identity/sessions.py) puts its refresh token in a cookie
    too."""
    principal = principal_from(who)
    r = Redirect(path=safe_next(next_path, home_of(principal)), status_code=303)
    set_token_cookie(r, settings, issue_token(settings, principal))
    if session is not None:
        r.set_cookie(REFRESH_COOKIE, session["refresh_token"],
                     max_age=session["refresh_expires_in"], httponly=True, samesite="lax",
                     secure=settings.public_base_url.startswith("https://"), path="/")
    return r
