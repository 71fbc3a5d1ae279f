"""WeChat web authorization on the pages (ledger/identity/wechat.py does the talking): inside
WeChat, /signin sends the person to WeChat's authorize page; /wechat/callback signs in the
volunteer bound to the openid, or keeps the openid in a short signed cookie until one SMS
sign-in binds it. Tokens come from api.auth.issue_token, as every sign-in's do."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from urllib.parse import quote

import jwt
import structlog
from litestar import Request, get
from litestar.response import Redirect

from api.pages.common import safe_next
from api.pages.sign_in_redirect import signed_in
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError
from ledger.identity import sessions, wechat
from ledger.identity.service import Identity
from ledger.timeutil import utcnow

log = structlog.get_logger("jifen.wechat")

STATE_COOKIE = "jifen_wx_state"
PENDING_COOKIE = "jifen_wx_pending"
STATE_TTL_S = 600     # the trip to WeChat's authorize page and back
PENDING_TTL_S = 900   # time to finish the one SMS sign-in that binds the openid
CALLBACK_PATH = "/wechat/callback"
ALGORITHM = "HS256"


def _seal(settings: Settings, audience: str, ttl_s: int, **claims) -> str:
    exp = utcnow() + timedelta(seconds=ttl_s)
    return jwt.encode({**claims, "aud": audience, "exp": int(exp.timestamp())},
                      settings.secret_key, algorithm=ALGORITHM)


def _open(settings: Settings, audience: str, token: str | None) -> dict | None:
    if not token:
        return None
    try:
        return jwt.decode(token, settings.secret_key, algorithms=[ALGORITHM], audience=audience)
    except jwt.PyJWTError:
        return None


def _cookie(response, settings: Settings, name: str, value: str, ttl_s: int) -> None:
    response.set_cookie(name, value, max_age=ttl_s, httponly=True, samesite="lax", path="/",
                        secure=settings.public_base_url.startswith("https://"))


def maybe_start(request: Request, settings: Settings) -> Redirect | None:
    """On the sign-in page inside WeChat, go through WeChat first, unless this visit came back
    from it (wechat=1: bind by SMS; wechat=0: WeChat failed, use SMS)."""
    if not settings.wechat.enabled or "wechat" in request.query_params \
            or not wechat.in_wechat(request.headers.get("user-agent")):
        return None
    nxt = safe_next(request.query_params.get("next"), "/me")
    return Redirect(path=f"/wechat/start?next={quote(nxt)}", status_code=303)


def pending_notice(request: Request, settings: Settings) -> bool:
    """True when an openid waits for its SMS sign-in (the page says so)."""
    return _open(settings, "wx-pending", request.cookies.get(PENDING_COOKIE)) is not None


def bind_pending(request: Request, settings: Settings, db: Database, who: Identity,
                 response) -> None:  # noqa: ANN001
    """After an SMS sign-in: bind the openid WeChat gave this browser, if one waits."""
    claims = _open(settings, "wx-pending", request.cookies.get(PENDING_COOKIE))
    if claims is None or claims.get("app") != settings.wechat.app_id:
        return
    wechat.bind(db, who, settings.wechat.app_id, claims["oid"], claims.get("nick", ""))
    response.delete_cookie(PENDING_COOKIE, path="/")


@get("/wechat/start", name="wechat_start", sync_to_thread=False)
def wechat_start(request: Request, settings: Settings) -> Redirect:
    nxt = safe_next(request.query_params.get("next"), "/me")
    if not settings.wechat.enabled:
        return Redirect(path=f"/signin?wechat=0&next={quote(nxt)}", status_code=303)
    state = secrets.token_hex(wechat.STATE_CHARS // 2)
    target = wechat.authorize_url(settings.wechat, settings.public_base_url + CALLBACK_PATH,
                                  state)
    r = Redirect(path=target, status_code=302)
    _cookie(r, settings, STATE_COOKIE, _seal(settings, "wx-state", STATE_TTL_S, n=state,
                                             next=nxt), STATE_TTL_S)
    return r


@get(CALLBACK_PATH, name="wechat_callback", sync_to_thread=True)
def wechat_callback(request: Request, db: Database, settings: Settings) -> Redirect:
    code = request.query_params.get("code") or ""
    state = request.query_params.get("state") or ""
    claims = _open(settings, "wx-state", request.cookies.get(STATE_COOKIE))
    nxt = safe_next((claims or {}).get("next"), "/me")
    fallback = f"/signin?wechat=0&next={quote(nxt)}"
    if claims is None or not hmac.compare_digest(str(claims.get("n", "")), state):
        log.warning("wechat_state_mismatch")  # an old tab, or a forged callback
        return Redirect(path=fallback, status_code=303)
    try:
        user = wechat.exchange_code(settings.wechat, code)
        who = wechat.sign_in(db, settings.wechat.app_id, user.openid)
    except DomainError as exc:
        log.warning("wechat_sign_in_failed", code=exc.code, **exc.extra)
        r = Redirect(path=fallback, status_code=303)
        r.delete_cookie(STATE_COOKIE, path="/")
        return r
    if who is not None:
        r = signed_in(request, settings, who, nxt,
                      sessions.start(db, settings.secret_key, who.user_id))
    else:
        r = Redirect(path=f"/signin?wechat=1&next={quote(nxt)}", status_code=303)
        _cookie(r, settings, PENDING_COOKIE,
                _seal(settings, "wx-pending", PENDING_TTL_S, oid=user.openid,
                      app=settings.wechat.app_id, nick=user.nickname), PENDING_TTL_S)
    r.delete_cookie(STATE_COOKIE, path="/")
    return r


handlers = [wechat_start, wechat_callback]
