"""Pages anyone may open: home, the scanner, and the hop from a typed code to its page."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.auth import clear_token_cookie, principal_of
from api.pages.common import render, t_for
from api.pages.sign_in_redirect import REFRESH_COOKIE
from ledger.identity import service as identity
from ledger.config import Settings
from ledger.db import Database

SCAN_KINDS = ("c", "h", "v")  # check-in token, household plate, voucher
_TARGET_PATH = re.compile(r"^/(c|h|v)/([A-Za-z0-9._~-]{1,200})$")
_BARE_CODE = re.compile(r"^[A-Za-z0-9._~-]{1,200}$")
MAX_TARGET_CHARS = 600


@get("/", name="home", sync_to_thread=False)
def home(request: Request) -> Template:
    return render(request, "home.html")


@get("/scan", name="scan", sync_to_thread=False)
def scan(request: Request, accept: str = "") -> Template:
    return render(request, "scan.html", accept=accept if accept in SCAN_KINDS else "",
                  heading=None)


def scan_target(raw: str, accept: str = "") -> str | None:
    """The same-site page for what a QR code (or a person) gave us: a full URL of ours or any
    host's /c|h|v/ path, or a bare code when the scanner says what kind it expects."""
    raw = (raw or "").strip()[:MAX_TARGET_CHARS]
    if not raw:
        return None
    path = urlsplit(raw).path if "/" in raw else ""
    m = _TARGET_PATH.match(path)
    if m and (not accept or m.group(1) == accept):
        return path
    if accept in SCAN_KINDS and _BARE_CODE.match(raw):
        return f"/{accept}/{raw}"
    return None


@get("/scan/go", name="scan_go", sync_to_thread=False)
def scan_go(request: Request, target: str = "", accept: str = "") -> Redirect | Template:
    path = scan_target(target, accept if accept in SCAN_KINDS else "")
    if path is None:
        return render(request, "scan.html", status=422, accept=accept, heading=None,
                      errors={"target": t_for(request)("err.token_invalid")},
                      values={"target": target[:MAX_TARGET_CHARS]})
    return Redirect(path=path, status_code=303)


@post("/signout", name="signout", sync_to_thread=True)
def signout(request: Request, db: Database, settings: Settings) -> Redirect:
    """End the user's tokens and the long session, and forget the cookies (a CSRF-checked
    post, so no other site can sign a user out)."""
    from ledger.identity import sessions
    p = principal_of(request)
    if p is not None:
        identity.sign_out(db, p.user_id)
    sessions.end_by_token(db, settings.secret_key, request.cookies.get(REFRESH_COOKIE, ""))
    r = Redirect(path="/", status_code=303)
    clear_token_cookie(r)
    r.delete_cookie(REFRESH_COOKIE, path="/")
    return r


handlers = [home, scan, scan_go, signout]
