"""Signing in on the pages: password, or phone and a one-time code; the cookie, the way back
to the page asked for, and errors next to the field in Chinese."""

from __future__ import annotations

import re

import pytest

from api.auth import COOKIE, decode_token, principal_for
from ledger.registry.models import Person
from ledger.identity import service as identity
from tests.builders.pages import form_fields
from tests.builders.redemption import make_person, make_town


class CapturingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, code: str, ttl_s: int) -> None:
        self.sent.append((phone, code))


@pytest.fixture
def sms(app):
    cap = CapturingSender()
    app.state.otp_sender = cap
    return cap


def _user(db, village, login="chenayi", password="Baogai-2026!"):
    person = make_person(db, village)
    with db.transaction() as s:
        identity.add_user(s, login=login, name="陈阿姨", password=password, person_id=person,
                          roles=(("volunteer", village),))
    return person


def test_password_sign_in_sets_cookie_and_returns_to_the_page(client, db, settings):
    village = make_town(db, villages=1)["villages"][0]
    person = _user(db, village)
    r = client.get("/me", follow_redirects=False)
    assert r.headers["location"] == "/signin?next=/me"
    page = client.get(r.headers["location"])
    r = client.post("/signin", data={**form_fields(page.text, "/signin"), "login": "chenayi",
                                     "password": "Baogai-2026!"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/me"
    assert "HttpOnly" in r.headers["set-cookie"] and "SameSite=lax" in r.headers["set-cookie"]
    p = principal_for(db, decode_token(settings, client.cookies.get(COOKIE)))
    assert p.person_id == person and ("volunteer", village) in p.roles
    assert "我的积分" in client.get("/me").text


def test_wrong_password_is_shown_next_to_the_field(client, db):
    _user(db, make_town(db, villages=1)["villages"][0])
    page = client.get("/signin")
    r = client.post("/signin", data={**form_fields(page.text, "/signin"), "login": "chenayi",
                                     "password": "wrong-password"})
    assert r.status_code == 422 and 'id="e-password">账号或密码不对' in r.text
    assert 'value="chenayi"' in r.text


def test_next_never_leaves_the_site(client, db):
    _user(db, make_town(db, villages=1)["villages"][0])
    page = client.get("/signin?next=//evil.example/x")
    r = client.post("/signin", data={**form_fields(page.text, "/signin"), "login": "chenayi",
                                     "password": "Baogai-2026!"}, follow_redirects=False)
    assert r.headers["location"] == "/me"


def test_phone_code_sign_in(client, db, settings, sms):
    village = make_town(db, villages=1)["villages"][0]
    person = make_person(db, village)
    with db.transaction() as s:
        p = s.get(Person, person)
        p.phone, p.is_volunteer = "13812345678", True
    page = client.get("/signin")
    fields = form_fields(page.text, "/signin/code")
    r = client.post("/signin/code", data={**fields, "phone": "138 1234 5678", "action": "send"})
    assert r.status_code == 200 and "验证码已发送" in r.text and sms.sent
    code = sms.sent[-1][1]
    bad = client.post("/signin/code", data={**fields, "phone": "13812345678", "code": "12345",
                                            "action": "verify"})
    assert bad.status_code == 422 and 'id="e-code">验证码为 6 位数字' in bad.text
    r = client.post("/signin/code", data={**fields, "phone": "13812345678", "code": code,
                                          "action": "verify"}, follow_redirects=False)
    assert r.status_code == 303
    assert principal_for(db, decode_token(settings, client.cookies.get(COOKIE))).person_id == person


def test_sign_out_forgets_the_cookie(client, db):
    _user(db, make_town(db, villages=1)["villages"][0])
    page = client.get("/signin")
    client.post("/signin", data={**form_fields(page.text, "/signin"), "login": "chenayi",
                                 "password": "Baogai-2026!"})
    me = client.get("/me")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', me.text).group(1)
    client.post("/signout", data={"_csrf_token": token})
    assert client.get("/me", follow_redirects=False).status_code == 303
