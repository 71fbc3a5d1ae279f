"""Volunteers stay signed in on their own phone for weeks: a refresh token, rotated on each
use, revocable, a copy used twice ends the session; staff get none (their sessions stay short)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from api.auth import COOKIE, decode_token
from ledger.identity import sessions
from ledger.ratelimit import RateLimiter
from ledger.timeutil import utcnow
from tests.conftest import REDIS_URL
from tests.builders.pages import form_fields
from tests.test_auth_signin import PASSWORD, Outbox
from tests.builders.registry import fake_phone, make_person, make_user, make_world


@pytest.fixture
def app_client(client):
    client.app.state.limiter = RateLimiter(REDIS_URL, prefix=f"jifen:test:{uuid.uuid4().hex}:")
    client.app.state.otp_sender = Outbox()
    return client


def _volunteer_sign_in(client, db) -> dict:
    w = make_world(db, fund=False)
    phone = fake_phone()
    make_person(db, w.own, phone=phone, is_volunteer=True)
    client.post("/api/v1/auth/code", json={"phone": phone})
    code = client.app.state.otp_sender.sent[-1][1]
    r = client.post("/api/v1/auth/code/verify", json={"phone": phone, "code": code})
    assert r.status_code == 200, r.text
    return r.json()


def test_refresh_token_is_rotated_and_a_reused_one_ends_the_session(app_client, db, settings):
    first = _volunteer_sign_in(app_client, db)
    assert first["refresh_expires_in"] == sessions.SESSION_IDLE_DAYS * 86400
    r = app_client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["session_id"] == first["session_id"]
    claims = decode_token(settings, second["token"])
    assert (claims.user_id, claims.only) == (first["user"]["id"], ("volunteer",))
    stolen = app_client.post("/api/v1/auth/refresh",
                             json={"refresh_token": first["refresh_token"]})
    assert stolen.status_code == 401 and stolen.json()["code"] == "refresh_reused"
    # the whole session ended: the current token of the rightful phone stops too
    r = app_client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401 and r.json()["code"] == "refresh_invalid"


def test_a_session_lasts_weeks_while_used_and_ends_when_idle(db, settings):
    w = make_world(db, fund=False)
    uid = make_user(db, (("volunteer", w.own),), login=None,
                    person_id=make_person(db, w.own, is_volunteer=True))
    t0 = utcnow()
    s = sessions.start(db, settings.secret_key, uid, now=t0)
    raw = s["refresh_token"]
    for day in (20, 40, 60):  # each use moves the end 30 days on
        _, s = sessions.rotate(db, settings.secret_key, raw, now=t0 + timedelta(days=day))
        raw = s["refresh_token"]
    with pytest.raises(sessions.SessionRefused) as e:
        sessions.rotate(db, settings.secret_key, raw, now=t0 + timedelta(days=91))
    assert e.value.code == "refresh_expired"
    # however often used, a session ends after SESSION_MAX_DAYS
    s = sessions.start(db, settings.secret_key, uid, now=t0)
    raw = s["refresh_token"]
    day = 0
    with pytest.raises(sessions.SessionRefused):
        while day <= sessions.SESSION_MAX_DAYS + 30:
            day += 25
            _, s = sessions.rotate(db, settings.secret_key, raw, now=t0 + timedelta(days=day))
            raw = s["refresh_token"]
    assert day > sessions.SESSION_MAX_DAYS


def test_staff_sign_in_gets_no_refresh_token(app_client, db):
    make_user(db, login="town.clerk")
    body = app_client.post("/api/v1/auth/password",
                           json={"login": "town.clerk", "password": PASSWORD}).json()
    assert "token" in body and "refresh_token" not in body


def test_sessions_are_listed_and_ended_by_the_volunteer_or_a_town_admin(app_client, db, auth):
    first = _volunteer_sign_in(app_client, db)
    headers = {"Authorization": f"Bearer {first['token']}"}
    [live] = app_client.get("/api/v1/auth/sessions", headers=headers).json()["items"]
    assert live["session_id"] == first["session_id"]
    r = app_client.delete(f"/api/v1/auth/sessions/{first['session_id']}", headers=headers)
    assert r.status_code == 200 and r.json() == {"ended": 1}
    r = app_client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401
    second = _volunteer_sign_in(app_client, db)
    r = app_client.delete(f"/api/v1/users/{second['user']['id']}/sessions",
                          headers=auth("town_admin"))
    assert r.status_code == 200 and r.json() == {"ended": 1}
    r = app_client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401


def test_a_disabled_volunteer_cannot_refresh(app_client, db, auth):
    first = _volunteer_sign_in(app_client, db)
    app_client.post(f"/api/v1/users/{first['user']['id']}/active", json={"active": False},
                    headers=auth("town_admin"))
    r = app_client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    # disabling ended the long session with every other token of the user
    assert r.status_code == 401 and r.json()["code"] == "refresh_invalid"


def test_a_sixth_phone_ends_the_oldest_session(db, settings):
    w = make_world(db, fund=False)
    uid = make_user(db, (("volunteer", w.own),), login=None,
                    person_id=make_person(db, w.own, is_volunteer=True))
    t0 = utcnow()
    raws = [sessions.start(db, settings.secret_key, uid, now=t0 + timedelta(minutes=i))
            ["refresh_token"] for i in range(sessions.MAX_SESSIONS_PER_USER + 1)]
    assert len(sessions.live_sessions(db, uid, now=t0 + timedelta(hours=1))) == \
        sessions.MAX_SESSIONS_PER_USER
    with pytest.raises(sessions.SessionRefused):
        sessions.rotate(db, settings.secret_key, raws[0], now=t0 + timedelta(hours=1))
    sessions.rotate(db, settings.secret_key, raws[1], now=t0 + timedelta(hours=1))


def test_pages_resume_a_volunteer_whose_token_lapsed_and_sign_out_ends_it(client, db,
                                                                          settings):
    client.app.state.otp_sender = Outbox()
    w = make_world(db, fund=False)
    phone = fake_phone()
    person = make_person(db, w.own, phone=phone, is_volunteer=True)
    page = client.get("/signin")
    fields = form_fields(page.text, "/signin/code")
    client.post("/signin/code", data={**fields, "phone": phone, "action": "send"})
    code = client.app.state.otp_sender.sent[-1][1]
    client.post("/signin/code", data={**fields, "phone": phone, "code": code,
                                      "action": "verify"}, follow_redirects=False)
    refresh = client.cookies.get("jifen_refresh")
    assert refresh
    client.cookies.delete(COOKIE)  # twelve hours later the token cookie is gone
    r = client.get("/me", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    r = client.get(r.headers["location"], follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/me"
    from ledger.identity.models import AppUser
    with db.sessions() as s:
        uid = s.scalar(select(AppUser.id).where(AppUser.person_id == person))
    assert decode_token(settings, client.cookies.get(COOKIE)).user_id == uid
    assert client.cookies.get("jifen_refresh") not in (None, refresh)  # rotated
    me = client.get("/me")
    token = me.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    current = client.cookies.get("jifen_refresh")
    client.post("/signout", data={"_csrf_token": token})
    with pytest.raises(sessions.SessionRefused):
        sessions.rotate(db, settings.secret_key, current)


def test_signing_out_ends_the_long_session_too(app_client, db):
    """A refresh token must not mint a new access token once the user signed out (on any
    device: signing out ends every token of the user)."""
    first = _volunteer_sign_in(app_client, db)
    bearer = {"Authorization": f"Bearer {first['token']}"}
    assert app_client.post("/api/v1/auth/signout", headers=bearer).status_code == 200
    r = app_client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401 and r.json()["code"] == "refresh_invalid", r.text
    assert app_client.get("/api/v1/auth/me", headers=bearer).status_code == 401
