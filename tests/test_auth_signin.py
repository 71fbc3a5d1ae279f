"""Signing in: staff with a password (argon2id; five wrong attempts lock the login), volunteers
with phone + one-time code (a pluggable sender; the default logs it). Sign-in answers with a
JWT whose roles are the user's role assignments, and sets the same token as an HttpOnly cookie
for the pages."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from api.auth import COOKIE, decode_token, principal_for
from ledger.identity import otp
from ledger.identity import service as identity
from ledger.identity.models import AppUser
from ledger.ratelimit import RateLimited, RateLimiter
from ledger.timeutil import utcnow
from tests.conftest import REDIS_URL
from tests.builders.registry import fake_phone, make_person, make_user, make_world

PASSWORD = "correct-horse-9"


class Outbox:
    """A code sender that keeps what it would send (the SMS gateway is the true edge)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, code: str, ttl_s: int) -> None:
        self.sent.append((phone, code))


def _limiter() -> RateLimiter:
    return RateLimiter(REDIS_URL, prefix=f"jifen:test:{uuid.uuid4().hex}:")


@pytest.fixture
def app_client(client):
    client.app.state.limiter = _limiter()
    client.app.state.otp_sender = Outbox()
    return client


def test_password_sign_in_returns_token_and_cookie_with_assigned_roles(app_client, db, settings):
    w = make_world(db, fund=False)
    make_user(db, (("village_admin", w.own), ("inspector", w.other)), login="tb.admin")
    r = app_client.post("/api/v1/auth/password", json={"login": "TB.Admin ", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    p = principal_for(db, decode_token(settings, body["token"]))
    assert p.roles == (("village_admin", w.own), ("inspector", w.other))
    assert body["user"]["roles"] == [{"role": "village_admin", "village_id": w.own},
                                     {"role": "inspector", "village_id": w.other}]
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={body['token']}") and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    me = app_client.get("/api/v1/auth/me")  # the cookie alone signs the next request in
    assert me.status_code == 200 and me.json()["roles"][0] == {"role": "village_admin",
                                                               "village_id": w.own}
    out = app_client.post("/api/v1/auth/signout")
    assert out.status_code == 200 and f'{COOKIE}=""' in out.headers["set-cookie"]


def test_wrong_password_and_unknown_login_fail_alike(app_client, db):
    make_user(db, login="clerk.one")
    bad = [app_client.post("/api/v1/auth/password", json={"login": login, "password": "nope-nope"})
           for login in ("clerk.one", "nobody.here")]
    assert [r.status_code for r in bad] == [401, 401]
    assert bad[0].json()["detail"] == bad[1].json()["detail"]
    assert {r.json()["code"] for r in bad} == {"sign_in_failed"}


@pytest.mark.parametrize("backend", ["memory", "redis"] if REDIS_URL else ["memory"])
def test_five_wrong_passwords_lock_the_login_and_a_right_one_resets_the_count(db, backend):
    limiter = RateLimiter(REDIS_URL if backend == "redis" else None,
                          prefix=f"jifen:test:{uuid.uuid4().hex}:")
    make_user(db, login="locked.out")
    make_user(db, login="neighbour")

    def attempt(password: str, login: str = "locked.out"):
        return identity.sign_in_password(db, limiter, login=login, password=password)

    for _ in range(4):
        with pytest.raises(identity.SignInFailed):
            attempt("wrong-password")
    assert attempt(PASSWORD).login == "locked.out"  # resets the count
    for _ in range(5):
        with pytest.raises(identity.SignInFailed):
            attempt("wrong-password")
    with pytest.raises(RateLimited) as e:
        attempt(PASSWORD)  # locked: even the right password waits
    assert 1 <= e.value.extra["retry_after"] <= identity.PASSWORD_ATTEMPTS.window_s
    assert attempt(PASSWORD, "neighbour").login == "neighbour"  # per account


def test_locked_login_answers_429_with_retry_after(app_client, db):
    make_user(db, login="organizer.x")
    for _ in range(5):
        app_client.post("/api/v1/auth/password", json={"login": "organizer.x", "password": "x"})
    r = app_client.post("/api/v1/auth/password", json={"login": "organizer.x",
                                                        "password": PASSWORD})
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) > 0


def test_disabled_user_cannot_sign_in(app_client, db, auth):
    uid = make_user(db, login="gone.away")
    r = app_client.post(f"/api/v1/users/{uid}/active", json={"active": False},
                        headers=auth("town_admin"))
    assert r.status_code == 200 and r.json()["active"] is False
    r = app_client.post("/api/v1/auth/password", json={"login": "gone.away", "password": PASSWORD})
    assert r.status_code == 403 and r.json()["code"] == "account_disabled"


def _volunteer(db, w, **kw) -> tuple[int, str]:
    phone = fake_phone()
    return make_person(db, w.own, phone=phone, is_volunteer=True, **kw), phone


def test_volunteer_signs_in_with_phone_and_code(app_client, db, settings):
    w = make_world(db, fund=False)
    pid, phone = _volunteer(db, w)
    r = app_client.post("/api/v1/auth/code", json={"phone": phone})
    assert r.status_code == 202 and r.json() == {"sent": True, "ttl_s": otp.OTP_TTL_S}
    outbox = app_client.app.state.otp_sender
    [(to, code)] = outbox.sent
    assert to == phone and len(code) == otp.OTP_DIGITS
    r = app_client.post("/api/v1/auth/code/verify", json={"phone": phone, "code": code})
    assert r.status_code == 200, r.text
    p = principal_for(db, decode_token(settings, r.json()["token"]))
    assert p.roles == (("volunteer", w.own),) and p.person_id == pid
    again = app_client.post("/api/v1/auth/code/verify", json={"phone": phone, "code": code})
    assert again.status_code == 401 and again.json()["code"] == "otp_invalid"  # spent
    app_client.post("/api/v1/auth/code", json={"phone": phone})
    r = app_client.post("/api/v1/auth/code/verify",
                        json={"phone": phone, "code": outbox.sent[-1][1]})
    assert principal_for(db, decode_token(settings, r.json()["token"])).user_id == p.user_id  # same user


def test_unknown_phone_gets_the_same_answer_and_no_code(app_client, db):
    r = app_client.post("/api/v1/auth/code", json={"phone": fake_phone()})
    assert r.status_code == 202 and r.json() == {"sent": True, "ttl_s": otp.OTP_TTL_S}
    assert app_client.app.state.otp_sender.sent == []
    bad = app_client.post("/api/v1/auth/code", json={"phone": "12345"})
    assert bad.status_code == 422 and bad.json()["code"] == "phone_invalid"


def test_five_wrong_codes_burn_the_code(db, settings):
    w = make_world(db, fund=False)
    _, phone = _volunteer(db, w)
    limiter, outbox = _limiter(), Outbox()
    otp.request_code(db, limiter, outbox, phone=phone, secret=settings.secret_key)
    code = outbox.sent[0][1]
    wrong = f"{(int(code) + 1) % 10 ** otp.OTP_DIGITS:0{otp.OTP_DIGITS}d}"
    for _ in range(otp.OTP_MAX_ATTEMPTS):
        with pytest.raises(identity.SignInFailed) as e:
            otp.verify_code(db, limiter, phone=phone, code=wrong, secret=settings.secret_key)
        assert e.value.code == "otp_invalid"
    with pytest.raises(identity.SignInFailed):
        otp.verify_code(db, limiter, phone=phone, code=code, secret=settings.secret_key)


def test_expired_code_is_refused(db, settings):
    w = make_world(db, fund=False)
    _, phone = _volunteer(db, w)
    limiter, outbox = _limiter(), Outbox()
    t0 = utcnow()
    otp.request_code(db, limiter, outbox, phone=phone, secret=settings.secret_key, now=t0)
    with pytest.raises(identity.SignInFailed) as e:
        otp.verify_code(db, limiter, phone=phone, code=outbox.sent[0][1],
                        secret=settings.secret_key,
                        now=t0 + timedelta(seconds=otp.OTP_TTL_S + 1))
    assert e.value.code == "otp_expired"


def test_code_requests_are_rate_limited_per_phone(app_client, db):
    w = make_world(db, fund=False)
    _, phone = _volunteer(db, w)
    codes = [app_client.post("/api/v1/auth/code", json={"phone": phone}).status_code
             for _ in range(otp.OTP_SEND_PER_PHONE.max_hits + 1)]
    assert codes == [202] * otp.OTP_SEND_PER_PHONE.max_hits + [429]
    assert len(app_client.app.state.otp_sender.sent) == otp.OTP_SEND_PER_PHONE.max_hits


def test_code_sign_in_gives_a_volunteering_staff_member_only_the_volunteer_role(db, settings):
    w = make_world(db, fund=False)
    pid, phone = _volunteer(db, w)
    uid = make_user(db, (("village_admin", w.own),), person_id=pid)
    limiter, outbox = _limiter(), Outbox()
    otp.request_code(db, limiter, outbox, phone=phone, secret=settings.secret_key)
    who = otp.verify_code(db, limiter, phone=phone, code=outbox.sent[0][1],
                          secret=settings.secret_key)
    assert (who.user_id, who.roles) == (uid, (("volunteer", w.own),))
    pw = identity.sign_in_password(db, limiter, login=_login(db, uid), password=PASSWORD)
    assert set(pw.roles) == {("village_admin", w.own), ("volunteer", w.own)}


def _login(db, uid: int) -> str:
    with db.sessions() as s:
        return s.get(AppUser, uid).login


def test_log_sender_writes_the_code_to_the_log():
    with capture_logs() as logs:
        otp.LogSender().send("17000001234", "042042", 300)
    assert logs[0]["event"] == "otp_code" and logs[0]["code"] == "042042"
    assert logs[0]["phone"] == "170****1234"


def test_sender_is_pluggable_by_import_path(monkeypatch):
    assert isinstance(otp.load_sender("tests.test_auth_signin:Outbox"), Outbox)
    monkeypatch.setenv(otp.SENDER_ENV, "tests.test_auth_signin:Outbox")
    assert isinstance(otp.load_sender(), Outbox)
    assert isinstance(otp.load_sender("log"), otp.LogSender)
