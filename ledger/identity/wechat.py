"""Sign-in inside WeChat (公众号网页授权, OAuth 2.0): a volunteer who opens a check-in or plate
link in WeChat is sent to WeChat's authorize page, comes back with a code, and the code is
exchanged (server to server, with the app secret) for their openid. An openid bound to a
volunteer signs them in; an unknown one is bound after one SMS sign-in. Binding and unbinding
are recorded (WechatBinding keeps every row, with who and when).

Requests, as WeChat documents them:
  authorize:     {authorize_url}?appid&redirect_uri&response_type=code&scope&state#wechat_redirect
  access token:  {api_base}/sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code
                 → {access_token, expires_in, refresh_token, openid, scope} or {errcode, errmsg}
  profile:       {api_base}/sns/userinfo?access_token&openid&lang=zh_CN (snsapi_userinfo only)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.config import WechatSettings
from ledger.db import Database
from ledger.errors import DomainError, Forbidden, InvalidInput
from ledger.identity.models import AppUser, WechatBinding
from ledger.identity.roles import VOLUNTEER
from ledger.identity.schemas import Unbound, WechatBindingView
from ledger.identity.service import Identity, identity_of
from ledger.timeutil import utcnow

log = structlog.get_logger("jifen.wechat")

STATE_CHARS = 32            # WeChat: state is [a-zA-Z0-9], at most 128 bytes
MAX_OPENID_CHARS = 64
MAX_NICKNAME_CHARS = 64
MAX_BINDINGS_LISTED = 50
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT_MARK = "micromessenger"
_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class WechatAuthFailed(DomainError):
    code = "wechat_auth_failed"
    status = 502
    title = "WeChat sign-in failed"


def in_wechat(user_agent: str | None) -> bool:
    """WeChat's built-in browser says MicroMessenger in its User-Agent."""
    return USER_AGENT_MARK in (user_agent or "").lower()


def authorize_url(wx: WechatSettings, redirect_uri: str, state: str) -> str:
    if not (state.isalnum() and state.isascii() and len(state) <= 128):
        raise InvalidInput("state must be [a-zA-Z0-9]{1,128}", code="wechat_state_invalid")
    query = urlencode({"appid": wx.app_id, "redirect_uri": redirect_uri, "response_type": "code",
                       "scope": wx.scope, "state": state})
    return f"{wx.authorize_url}?{query}#wechat_redirect"


@dataclass(frozen=True)
class WechatUser:
    openid: str
    scope: str
    nickname: str = ""


def _get(client: httpx.Client, url: str, params: dict) -> dict:
    try:
        resp = client.get(url, params=params)
    except httpx.HTTPError as exc:
        raise WechatAuthFailed("微信授权暂时不可用，请用短信验证码登录 (WeChat is unreachable)",
                               errcode="transport", errmsg=type(exc).__name__) from None
    if len(resp.content) > MAX_RESPONSE_BYTES or resp.status_code != 200:
        raise WechatAuthFailed("微信授权失败 (WeChat answered an error)",
                               errcode=f"http_{resp.status_code}", errmsg="")
    try:
        body = resp.json()
    except ValueError:
        raise WechatAuthFailed("微信授权失败 (not JSON)", errcode="bad_response",
                               errmsg="") from None
    if not isinstance(body, dict) or body.get("errcode"):
        body = body if isinstance(body, dict) else {}
        raise WechatAuthFailed("微信授权失败，请重新打开链接 (WeChat refused the code)",
                               errcode=str(body.get("errcode", "bad_response")),
                               errmsg=str(body.get("errmsg", ""))[:200])
    return body


def exchange_code(wx: WechatSettings, code: str,
                  transport: httpx.BaseTransport | None = None) -> WechatUser:
    """The code from the authorize redirect → the person's openid (and, for snsapi_userinfo,
    their nickname). A code works once and for five minutes (WeChat's rule)."""
    if not code or len(code) > 128:
        raise InvalidInput("缺少微信授权码 (no code)", code="wechat_code_missing")
    with httpx.Client(timeout=wx.timeout_s, transport=transport) as client:
        token = _get(client, f"{wx.api_base}/sns/oauth2/access_token",
                     {"appid": wx.app_id, "secret": wx.app_secret, "code": code,
                      "grant_type": "authorization_code"})
        openid = str(token.get("openid", ""))
        if not _OPENID.match(openid):
            raise WechatAuthFailed("微信授权失败 (no openid)", errcode="bad_response", errmsg="")
        scope = str(token.get("scope", ""))
        nickname = ""
        if "snsapi_userinfo" in scope:
            info = _get(client, f"{wx.api_base}/sns/userinfo",
                        {"access_token": token.get("access_token", ""), "openid": openid,
                         "lang": "zh_CN"})
            nickname = str(info.get("nickname", ""))[:MAX_NICKNAME_CHARS]
    return WechatUser(openid=openid, scope=scope, nickname=nickname)


def _live(s: Session, app_id: str, *, openid: str | None = None,
          user_id: int | None = None) -> WechatBinding | None:
    q = select(WechatBinding).where(WechatBinding.app_id == app_id,
                                    WechatBinding.unbound_at.is_(None))
    if openid is not None:
        q = q.where(WechatBinding.openid == openid)
    if user_id is not None:
        q = q.where(WechatBinding.user_id == user_id)
    return s.scalar(q.with_for_update())


def sign_in(db: Database, app_id: str, openid: str) -> Identity | None:
    """The volunteer this openid is bound to, with the volunteer role only (as an SMS sign-in
    gives); None when it is bound to nobody."""
    with db.transaction() as s:
        row = _live(s, app_id, openid=openid)
        if row is None:
            return None
        user = s.get(AppUser, row.user_id)
        if user is None or not user.active:
            raise Forbidden("该账号已停用 (this account is disabled)", code="account_disabled")
        user.last_sign_in_at = utcnow()
        return identity_of(s, user, only=(VOLUNTEER,))


def _close(row: WechatBinding, by: int | None, reason: str, now: datetime) -> None:
    row.unbound_at, row.unbound_by, row.unbind_reason = now, by, reason


def bind(db: Database, who: Identity, app_id: str, openid: str, nickname: str = "",
         now: datetime | None = None) -> WechatBindingView:
    """Bind this WeChat to the volunteer who just proved their phone. One live binding per
    openid and per user: an older one on either side is closed (recorded, not deleted)."""
    if not _OPENID.match(openid or ""):
        raise InvalidInput("openid is not valid", code="wechat_openid_invalid")
    if who.person_id is None:
        raise Forbidden("只有志愿者可以绑定微信 (only volunteers bind WeChat)",
                        code="wechat_volunteers_only")
    now = now or utcnow()
    with db.transaction() as s:
        same = _live(s, app_id, openid=openid)
        if same is not None and same.user_id == who.user_id:
            return _view(same)
        if same is not None:
            _close(same, who.user_id, "rebound", now)  # this WeChat now proves another phone
        mine = _live(s, app_id, user_id=who.user_id)
        if mine is not None:
            _close(mine, who.user_id, "replaced", now)
        s.flush()
        row = WechatBinding(app_id=app_id, openid=openid, user_id=who.user_id,
                            nickname=nickname[:MAX_NICKNAME_CHARS], bound_at=now)
        s.add(row)
        s.flush()
        log.info("wechat_bound", user_id=who.user_id, binding_id=row.id)
        return _view(row)


def unbind(db: Database, user_id: int, app_id: str, *, by: int,
           now: datetime | None = None) -> Unbound:
    """Remove the user's live binding (by themselves or an admin): WeChat no longer signs
    them in. Unbinding nothing answers {"unbound": False}."""
    with db.transaction() as s:
        row = _live(s, app_id, user_id=user_id)
        if row is None:
            return Unbound(unbound=False)
        _close(row, by, "self" if by == user_id else "admin", now or utcnow())
        log.info("wechat_unbound", user_id=user_id, by=by, binding_id=row.id)
        return Unbound(unbound=True, binding=_view(row))


def history(db: Database, user_id: int) -> list[WechatBindingView]:
    with db.sessions() as s:
        rows = s.scalars(select(WechatBinding).where(WechatBinding.user_id == user_id)
                         .order_by(WechatBinding.id.desc()).limit(MAX_BINDINGS_LISTED))
        return [_view(r) for r in rows]


def _view(row: WechatBinding) -> WechatBindingView:
    return WechatBindingView(
        id=row.id, app_id=row.app_id, nickname=row.nickname, openid_tail=row.openid[-4:],
        bound_at=row.bound_at.isoformat(),
        unbound_at=row.unbound_at.isoformat() if row.unbound_at else None,
        unbound_by=row.unbound_by, unbind_reason=row.unbind_reason or None)
