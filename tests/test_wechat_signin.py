"""Sign-in inside WeChat (公众号网页授权), end to end against a local fake of WeChat's endpoints:
the first visit goes WeChat → SMS once → bound; every later visit to a check-in link inside
WeChat signs the volunteer in without a code. Binding and unbinding stay on record."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from api.auth import COOKIE, decode_token
from ledger.config import WechatSettings
from ledger.identity import wechat
from ledger.identity.models import AppUser, WechatBinding
from ledger.registry.models import Person
from tests.fake_providers import FakeWechat
from tests.builders.pages import form_fields
from tests.test_pages_checkin import _activity, _code_url
from tests.test_pages_signin import CapturingSender
from tests.builders.redemption import make_person

WECHAT_UA = ("Mozilla/5.0 (Linux; Android 13; V2148A) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 MicroMessenger/8.0.47.2560")
APP_ID, SECRET = "wx1234567890abcdef", "wechat-app-secret"


@pytest.fixture
def fake_wechat():
    with FakeWechat(APP_ID, SECRET) as fake:
        yield fake


@pytest.fixture
def wx_client(client, settings, fake_wechat):
    wx = WechatSettings(app_id=APP_ID, app_secret=SECRET,
                        authorize_url=fake_wechat.url + "/connect/oauth2/authorize",
                        api_base=fake_wechat.url)
    client.app.state.settings = replace(settings, wechat=wx)
    client.app.state.otp_sender = CapturingSender()
    return client


def _through_wechat(client, fake, path: str) -> httpx.Response:
    """Open `path` in WeChat: follow the site's redirects, and WeChat's authorize page (the
    fake, which answers as WeChat does once the person agreed), back to the site."""
    client.headers["user-agent"] = WECHAT_UA
    r = client.get(path, follow_redirects=False)
    for _ in range(6):
        if r.status_code not in (302, 303):
            return r
        location = r.headers["location"]
        if location.startswith(fake.url):
            assert location.endswith("#wechat_redirect")
            q = parse_qs(urlsplit(location).query)
            assert q["appid"] == [APP_ID] and q["scope"] == ["snsapi_base"]
            assert q["state"][0].isalnum() and q["response_type"] == ["code"]
            back = httpx.get(location.split("#")[0], follow_redirects=False)
            assert back.status_code == 302
            location = back.headers["location"].replace("http://testserver.local", "")
        if location.startswith("http"):
            location = location.replace("http://testserver.local", "")
        r = client.get(location, follow_redirects=False)
    raise AssertionError("too many redirects")


def test_volunteer_in_wechat_binds_once_by_sms_then_is_recognised(wx_client, db, settings,
                                                                   fake_wechat):
    client = wx_client
    village, activity_id = _activity(client, db, settings)
    path = _code_url(client, activity_id).replace(settings.public_base_url, "")
    person = make_person(db, village)
    with db.transaction() as s:
        p = s.get(Person, person)
        p.phone, p.is_volunteer = "13812345678", True
    client.cookies.clear()

    # first visit: WeChat gives an openid nobody has; the sign-in page asks for one SMS code
    page = _through_wechat(client, fake_wechat, path)
    assert page.status_code == 200 and "首次在微信中打开" in page.text
    assert decode_token(settings, client.cookies.get(COOKIE) or "") is None
    fields = form_fields(page.text, "/signin/code")
    client.post("/signin/code", data={**fields, "phone": "13812345678", "action": "send"})
    code = client.app.state.otp_sender.sent[-1][1]
    r = client.post("/signin/code", data={**fields, "phone": "13812345678", "code": code,
                                          "action": "verify"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == path
    with db.sessions() as s:
        [row] = s.scalars(select(WechatBinding)).all()
        assert row.openid == fake_wechat.openid_for_next_visit and row.unbound_at is None

    # a later visit (new session, same WeChat): recognised without a code
    client.cookies.clear()
    sent_before = len(client.app.state.otp_sender.sent)
    page = _through_wechat(client, fake_wechat, path)
    assert page.status_code == 200 and "政策宣讲进村" in page.text
    with db.sessions() as s:
        uid = s.scalar(select(AppUser.id).where(AppUser.person_id == person))
    assert decode_token(settings, client.cookies.get(COOKIE)).user_id == uid
    assert len(client.app.state.otp_sender.sent) == sent_before
    r = client.post(path, data=form_fields(page.text, path))
    assert "签到成功" in r.text

    # the volunteer unbinds; the record keeps who and when; WeChat no longer signs them in
    r = client.delete("/api/v1/auth/wechat")
    assert r.status_code == 200 and r.json()["unbound"] is True
    me = decode_token(settings, client.cookies.get(COOKIE))
    [h] = client.get("/api/v1/auth/wechat").json()["items"]
    assert h["unbound_by"] == me.user_id and h["unbind_reason"] == "self" and h["unbound_at"]
    client.cookies.clear()
    page = _through_wechat(client, fake_wechat, path)
    assert "首次在微信中打开" in page.text


def test_outside_wechat_the_sign_in_page_is_the_usual_one(wx_client):
    wx_client.headers["user-agent"] = "Mozilla/5.0 (iPhone) Safari/604.1"
    r = wx_client.get("/signin?next=/me", follow_redirects=False)
    assert r.status_code == 200 and "首次在微信中打开" not in r.text


def test_a_forged_callback_falls_back_to_sms(wx_client, fake_wechat):
    r = wx_client.get("/wechat/callback?code=abc&state=forged", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?wechat=0")
    assert not [q for q in fake_wechat.requests if q["path"] == "/sns/oauth2/access_token"]


def test_code_exchange_and_userinfo_follow_the_documented_requests(fake_wechat):
    wx = WechatSettings(app_id=APP_ID, app_secret=SECRET, scope="snsapi_userinfo",
                        authorize_url=fake_wechat.url + "/connect/oauth2/authorize",
                        api_base=fake_wechat.url)
    url = wechat.authorize_url(wx, "http://testserver.local/wechat/callback", "abc123")
    back = httpx.get(url.split("#")[0], follow_redirects=False)
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    user = wechat.exchange_code(wx, code)
    assert user.openid == fake_wechat.openid_for_next_visit and user.nickname == "老张"
    with pytest.raises(wechat.WechatAuthFailed) as e:  # a code works once
        wechat.exchange_code(wx, code)
    assert e.value.extra["errcode"] == "40029"
    with pytest.raises(wechat.WechatAuthFailed) as e:
        wechat.exchange_code(replace(wx, app_secret="wrong"), "whatever")
    assert e.value.extra["errcode"] == "40125"


def test_a_second_volunteer_verifying_the_same_wechat_takes_it_over(db):
    from tests.builders.registry import make_world
    from ledger.identity.service import Identity
    w = make_world(db, fund=False)
    a, b = make_person(db, w.own), make_person(db, w.own)
    from ledger.identity import service as identity
    with db.transaction() as s:
        ua = identity.add_user(s, login=None, name="甲", person_id=a, roles=())
        ub = identity.add_user(s, login=None, name="乙", person_id=b, roles=())
        ids = (ua.id, ub.id)
    first = wechat.bind(db, Identity(ids[0], "甲", (), a), APP_ID, "oShared")
    wechat.bind(db, Identity(ids[1], "乙", (), b), APP_ID, "oShared")
    assert wechat.sign_in(db, APP_ID, "oShared").user_id == ids[1]
    [old] = [h for h in wechat.history(db, ids[0]) if h.id == first.id]
    assert old.unbind_reason == "rebound" and old.unbound_by == ids[1]
