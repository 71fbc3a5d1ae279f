"""Attacks, each with the answer it must get: forged and replayed check-in codes, voucher guessing,
password brute force, CSRF on every form post, cross-village access, oversized and malformed
bodies, hostile text (SQL-shaped, emoji, markup, invalid UTF-8), security headers on pages, and
secrets kept out of the logs."""

from __future__ import annotations

import collections
import json
import math
import re
import uuid
from datetime import timedelta

import pytest
from litestar.testing import TestClient

from api.auth import COOKIE, Principal
from bench.fuzz import SECRET, build
from ledger.activities import tokens
from ledger.identity.service import add_user
from ledger.redemption import vouchers
from ledger.timeutil import utcnow
from tests.conftest import audit_clean
from tests.tokens import token_for

PROBLEM = "application/problem+json"
PASSWORD = "Lin-Xiaomei-2026-secret!"
HOSTILE_NAMES = ["Robert'); DROP TABLE person;--", "林🌸小梅", "<script>alert(1)</script>",
                 "陈\"大\"明 \\ 100%", "O'Brien; SELECT * FROM app_user WHERE 1=1"]


@pytest.fixture
def world(db, tmp_path):
    app, settings, w = build(db, tmp_path)
    with TestClient(app, base_url="http://testserver") as client:
        w.update(client=client, settings=settings, app=app, db=db)
        yield w


def _headers(w: dict, p: Principal, key: bool = True) -> dict:
    h = {"Authorization": f"Bearer {token_for(w['db'], w['settings'], p)}"}
    return {**h, "Idempotency-Key": uuid.uuid4().hex} if key else h


def _admin(w, village=None) -> Principal:
    v = village or w["village_ids"][0]
    return Principal(9002 + v * 100, "村管理员", (("village_admin", v),))


TOWN = Principal(9001, "镇管理员", (("town_admin", None),))


def _volunteer(w, i: int = 1) -> Principal:
    return Principal(9500 + i, "志愿者", (("volunteer", None),), person_id=w["person_ids"][i])


def _problem(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status and body["code"]
    if code:
        assert body["code"] == code, body
    return body


# ---- check-in codes ----------------------------------------------------------------------

def _scan(w, token: str):
    return w["client"].post(f"/api/v1/c/{token}", headers=_headers(w, _volunteer(w)),
                            json={"action": "in"})


def test_forged_check_in_codes_are_refused(world):
    w = world
    good, _ = tokens.rotating_token(SECRET, w["activity_id"], tokens.DEFAULT_ROTATE_S, utcnow())
    flipped = good[:-3] + ("A" if good[-3] != "A" else "B") + good[-2:]
    _problem(_scan(w, flipped), 403, "token_forged")
    other_key, _ = tokens.rotating_token("another-town-secret-" + "x" * 30, w["activity_id"],
                                         tokens.DEFAULT_ROTATE_S, utcnow())
    _problem(_scan(w, other_key), 403, "token_forged")
    _problem(_scan(w, "not-a-token"), 403, "token_forged")
    assert _scan(w, good).status_code == 200  # the real one still works


def test_a_screenshot_of_the_rotating_code_stops_working_soon(world):
    w = world
    old, _ = tokens.rotating_token(SECRET, w["activity_id"], tokens.DEFAULT_ROTATE_S,
                                   utcnow() - timedelta(minutes=10))
    _problem(_scan(w, old), 403, "token_expired")


def test_a_reissued_printed_code_revokes_the_old_prints(world):
    w = world
    first = tokens.static_token(SECRET, w["activity_id"], 1)
    org = Principal(9003, "组织者", (("organizer", w["village_ids"][0]),))
    r = w["client"].post(f"/api/v1/activities/{w['activity_id']}/static-code",
                         headers=_headers(w, org))
    assert r.status_code == 200, r.text
    _problem(_scan(w, first), 403, "token_revoked")


# ---- vouchers ----------------------------------------------------------------------------

def test_voucher_codes_carry_over_100_bits_and_look_random():
    bits = vouchers.CODE_LENGTH * math.log2(len(vouchers.CODE_ALPHABET))
    assert bits >= 100
    codes = [vouchers.new_code() for _ in range(3000)]
    assert len(set(codes)) == len(codes)
    counts = collections.Counter("".join(codes))
    expected = len(codes) * vouchers.CODE_LENGTH / len(vouchers.CODE_ALPHABET)
    chi2 = sum((counts[c] - expected) ** 2 / expected for c in vouchers.CODE_ALPHABET)
    assert chi2 < 80  # 30 degrees of freedom: p < 1e-6 for a fair generator to exceed this
    assert set(counts) == set(vouchers.CODE_ALPHABET)


def test_guessing_voucher_codes_at_the_counter_is_rate_limited(world):
    w = world
    clerk = Principal(9005, "店员", (("clerk", None),))
    h = _headers(w, clerk, key=False)
    seen = collections.Counter()
    for _ in range(200):
        r = w["client"].get(f"/api/v1/redemption/vouchers/{vouchers.new_code()}", headers=h)
        seen[r.status_code] += 1
        if r.status_code == 429:
            _problem(r, 429, "rate_limited")
            break
        _problem(r, 404)
    assert seen[429] == 1, f"200 guesses and never rate limited: {dict(seen)}"


# ---- passwords ---------------------------------------------------------------------------

def test_password_brute_force_locks_the_login_not_the_town(world, db):
    w = world
    with db.transaction() as s:
        add_user(s, login="lin.admin", name="林管理员", password=PASSWORD,
                 roles=[("village_admin", w["village_ids"][0])])
        add_user(s, login="chen.admin", name="陈管理员", password=PASSWORD,
                 roles=[("village_admin", w["village_ids"][0])])
    c = w["client"]

    def sign_in(login: str, password: str):
        return c.post("/api/v1/auth/password", json={"login": login, "password": password})

    refusals = [sign_in("lin.admin", f"guess-{n}").status_code for n in range(8)]
    assert refusals[:5] == [401] * 5 and set(refusals[5:]) == {429}
    locked = sign_in("lin.admin", PASSWORD)  # even the right password waits out the lock
    _problem(locked, 429, "rate_limited")
    assert int(locked.headers["Retry-After"]) > 60
    assert sign_in("chen.admin", PASSWORD).status_code == 200  # others are not locked out


# ---- CSRF --------------------------------------------------------------------------------

def _page_posts(app) -> list[str]:
    paths = []
    for route in app.routes:
        methods = getattr(route, "route_handler_map", {})
        if "POST" in methods and not route.path.startswith("/api/"):
            path = re.sub(r"\{[a-z_]+:int\}", "1", route.path)
            paths.append(re.sub(r"\{[a-z_]+:str\}", "x", path))
    return paths


def test_every_form_post_without_its_csrf_token_is_refused(world):
    w = world
    posts = _page_posts(w["app"])
    assert len(posts) >= 15, posts  # every page form, as the pages land
    p = Principal(9001, "镇管理员", (("town_admin", None), ("volunteer", None)),
                  person_id=w["person_ids"][0])
    w["client"].cookies.set(COOKIE, token_for(w["db"], w["settings"], p))
    for path in posts:
        r = w["client"].post(path, data={"amount": "5", "note": "x"}, follow_redirects=False)
        assert r.status_code == 403, f"{path} accepted a form post without a CSRF token"
    audit_clean(w["client"].app.state.db)


# ---- villages ----------------------------------------------------------------------------

def test_a_village_admin_cannot_reach_into_another_village(world):
    w = world
    c = w["client"]
    v1, v2 = w["village_ids"]
    other = c.post(f"/api/v1/villages/{v2}/people", headers=_headers(w, TOWN),
                   json={"name": "坑东村村民", "is_volunteer": True})
    assert other.status_code == 201, other.text
    pid = other.json()["id"]
    h = _headers(w, _admin(w, v1))
    _problem(c.post("/api/v1/ledger/adjustments", headers=h, json={
        "village_id": v2, "holder_type": "person", "holder_id": pid, "amount": 50,
        "memo": "越权加分"}), 403)
    _problem(c.get(f"/api/v1/villages/{v2}/people", headers=h), 403)
    _problem(c.patch(f"/api/v1/people/{pid}", headers=_headers(w, _admin(w, v1)),
                     json={"name": "改名"}), 403)
    org = Principal(9003, "组织者", (("organizer", v1),))
    now = utcnow()
    _problem(c.post("/api/v1/activities", headers=_headers(w, org), json={
        "village_id": v2, "title": "越权活动", "rule_item_code": "A07",
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=1, hours=2)).isoformat()}), 403)
    audit_clean(c.app.state.db)


def test_a_village_admin_cannot_pay_a_person_of_another_village_from_its_own_budget(world):
    w = world
    c = w["client"]
    v1, v2 = w["village_ids"]
    other = c.post(f"/api/v1/villages/{v2}/people", headers=_headers(w, TOWN),
                   json={"name": "坑东村村民", "is_volunteer": True})
    _problem(c.post("/api/v1/ledger/adjustments", headers=_headers(w, _admin(w, v1)), json={
        "village_id": v1, "holder_type": "person", "holder_id": other.json()["id"],
        "amount": 50, "memo": "借本村预算给外村人加分"}), 403)


# ---- bodies and text ---------------------------------------------------------------------

def test_an_oversized_body_is_refused_with_a_413_problem(world):
    w = world
    big = json.dumps({"village_id": 1, "holder_type": "person", "holder_id": 1, "amount": 1,
                      "memo": "长" * 700_000})
    r = w["client"].post("/api/v1/ledger/adjustments", headers={**_headers(w, TOWN),
                         "Content-Type": "application/json"}, content=big.encode())
    _problem(r, 413, "body_too_large")


MALFORMED = [
    b'{"village_id": 1, "holder_type": "person", "amount": ',  # cut off
    b'{"village_id": "one", "holder_type": "person", "holder_id": 1, "amount": 1, "memo": "x"}',
    b'{"village_id": 1, "holder_type": "person", "holder_id": 1, "amount": 1, "memo": "\xff\xfe"}',
    b"[1, 2, 3]",
    b"\x00\x01\x02",
]


def test_a_malformed_json_body_is_a_400_problem(world):
    w = world
    for body in MALFORMED:
        r = w["client"].post("/api/v1/ledger/adjustments", content=body, headers={
            **_headers(w, TOWN), "Content-Type": "application/json"})
        _problem(r, 400)
    audit_clean(w["client"].app.state.db)


def test_numbers_out_of_range_are_a_422_problem(world):
    w = world
    c = w["client"]
    h = _headers(w, TOWN)
    _problem(c.get(f"/api/v1/ledger/accounts/{2**64}", headers=h), 422, "value_out_of_range")
    _problem(c.get(f"/api/v1/ledger/accounts/{2**63}", headers=h), 422, "value_out_of_range")
    _problem(c.post("/api/v1/ledger/adjustments", headers=_headers(w, TOWN), json={
        "village_id": 2**64 - 1, "holder_type": "person", "holder_id": 1, "amount": 1,
        "memo": "x"}), 422, "value_out_of_range")
    _problem(c.get(f"/api/v1/recognition/honor-definitions/{2**63}", headers=h),
             404)  # unknown route id
    audit_clean(c.app.state.db)


def test_hostile_names_and_notes_are_stored_and_returned_intact(world):
    for name in HOSTILE_NAMES:
        _round_trip(world, name)
    audit_clean(world["client"].app.state.db)


def _round_trip(w: dict, name: str) -> None:
    c = w["client"]
    v1 = w["village_ids"][0]
    r = c.post(f"/api/v1/villages/{v1}/people", headers=_headers(w, TOWN),
               json={"name": name, "is_volunteer": True})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name
    got = c.get(f"/api/v1/people/{r.json()['id']}", headers=_headers(w, TOWN, key=False))
    assert got.status_code == 200 and got.json()["name"] == name
    award = c.post("/api/v1/ledger/adjustments", headers=_headers(w, TOWN), json={
        "village_id": v1, "holder_type": "person", "holder_id": r.json()["id"], "amount": 2,
        "memo": name})
    assert award.status_code == 201, award.text
    with c.app.state.db.sessions() as s:
        from ledger.journal.models import JournalEntry
        assert s.get(JournalEntry, award.json()["entry_id"]).memo == name


def test_names_with_control_characters_or_too_long_are_refused_with_a_code(world):
    w = world
    for name in ["林\x00小梅", "陈\u202e大明", "\t\n", "x" * 51]:
        r = w["client"].post(f"/api/v1/villages/{w['village_ids'][0]}/people",
                             headers=_headers(w, TOWN), json={"name": name, "is_volunteer": True})
        assert 400 <= r.status_code < 500, r.text
        assert r.headers["content-type"].startswith(PROBLEM) and r.json()["code"]


def test_invalid_utf8_in_a_form_post_is_a_400_not_a_crash(world):
    w = world
    p = Principal(9004, "评议员", (("inspector", w["village_ids"][0]),))
    boundary = "jifenboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"item_code\"\r\n\r\n"
            "C06\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n").encode() \
        + b"\xff\xfe\xfd bad bytes\r\n" + f"--{boundary}--\r\n".encode()
    r = w["client"].post(f"/api/v1/activities/plates/{w['plate_code']}/inspections", content=body,
                         headers={**_headers(w, p),
                                  "Content-Type": f"multipart/form-data; boundary={boundary}"})
    _problem(r, 400, "invalid_utf8")


# ---- headers and logs --------------------------------------------------------------------

def test_pages_and_api_answers_carry_the_security_headers(world):
    for path in ["/", "/signin", "/no-such-page", "/api/v1/ledger/audit", "/health",
                 "/static/x.css"]:
        h = world["client"].get(path).headers
        assert h["x-content-type-options"] == "nosniff", path
        assert h["x-frame-options"] == "DENY", path
        assert h["referrer-policy"] == "same-origin", path
        assert "frame-ancestors 'none'" in h["content-security-policy"], path
        assert "default-src 'self'" in h["content-security-policy"], path
        assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", h["x-request-id"]), path


class CapturingSender:
    """An SMS gateway stand-in: keeps the codes it was asked to send (the test's only copy)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, code: str, ttl_s: int) -> None:
        self.sent.append((phone, code))


def test_secrets_never_reach_the_logs(world, db, capfd, caplog):
    w = world
    c = w["client"]
    sender = c.app.state.otp_sender = CapturingSender()
    with db.transaction() as s:
        add_user(s, login="lin.admin", name="林管理员", password=PASSWORD,
                 roles=[("village_admin", w["village_ids"][0])])
    signed = c.post("/api/v1/auth/password", json={"login": "lin.admin", "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    token = signed.json()["token"]
    assert c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}
                 ).status_code == 200
    c.post("/api/v1/auth/password", json={"login": "lin.admin", "password": PASSWORD + "x"})
    phone = "13800000001"  # a seeded volunteer
    assert c.post("/api/v1/auth/code", json={"phone": phone}).status_code == 202
    (_, code), = sender.sent
    verified = c.post("/api/v1/auth/code/verify", json={"phone": phone, "code": code})
    assert verified.status_code == 200, verified.text
    vol_token = verified.json()["token"]
    c.get("/api/v1/ledger/audit", headers={"Authorization": f"Bearer {token}"})  # a refusal, logged
    out, err = capfd.readouterr()
    logs = out + err + caplog.text  # structured lines on stderr, and the stdlib loggers
    assert '"request_id"' in logs, "the requests were not logged at all"
    for secret in (PASSWORD, token, vol_token, code, SECRET, phone):
        assert secret not in logs, f"a secret reached the logs: {secret[:6]}…"
    for part in (token.split(".")[2], vol_token.split(".")[2]):  # not even a JWT signature
        assert part not in logs
