"""Revocation: revoking a role, disabling a user, resetting a password or signing out counts on
the very next request, for the bearer token and for the page cookie, and in every process that
shares the Redis cache (issue 16, break 1: the old token kept its power for 12 hours)."""

from __future__ import annotations

import re
import uuid

import pytest
from litestar.testing import TestClient

from api.auth import COOKIE, Principal
from ledger.config import Settings
from ledger.db import Database
from ledger.identity import current
from ledger.ratelimit import RateLimiter
from tests.test_faults import private_redis  # noqa: F401 - fixture
from tests.builders.registry import make_person, make_user, make_world
from tests.tokens import bearer, ensure_user, token_for

PASSWORD = "correct-horse-9"
NEW_PASSWORD = "another-horse-7"
ME = "/api/v1/auth/me"


def _sign_in(client, login: str, password: str = PASSWORD) -> str:
    client.app.state.limiter = RateLimiter(None)  # these tests count no attempts across tests
    r = client.post("/api/v1/auth/password", json={"login": login, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def _h(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}


def _award(client, token: str, w, person: int):
    return client.post("/api/v1/ledger/adjustments", headers=_h(token), json={
        "village_id": w.own, "holder_type": "person", "holder_id": person, "amount": 7,
        "memo": "好人好事"})


def _refused(r, code: str) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


def _town(db, settings) -> dict:
    return {**bearer(db, settings, Principal(90_001, "镇管理员", (("town_admin", None),))),
            "Idempotency-Key": uuid.uuid4().hex}


@pytest.fixture
def staff(client, db, settings):
    w = make_world(db)
    login = f"v{uuid.uuid4().hex[:8]}"
    uid = make_user(db, (("village_admin", w.own),), login=login, password=PASSWORD)
    return w, uid, login, _sign_in(client, login)


def test_revoked_role_is_gone_on_the_next_request(client, db, settings, staff):
    w, uid, _, token = staff
    person = make_person(db, w.own)
    assert _award(client, token, w, person).status_code == 201
    r = client.delete(f"/api/v1/users/{uid}/roles/village_admin", headers=_town(db, settings),
                      params={"village_id": w.own})
    assert r.status_code == 200
    again = _award(client, token, w, person)
    assert again.status_code == 403 and again.json()["code"].startswith("forbidden")
    assert client.get(ME, headers=_h(token)).json()["roles"] == []
    made = client.post("/api/v1/users", headers=_h(token), json={
        "login": f"o{uuid.uuid4().hex[:8]}", "name": "组织者", "password": NEW_PASSWORD,
        "roles": [{"role": "organizer", "village_id": w.own}]})
    assert made.status_code == 403


def test_disabled_user_is_refused_by_token_and_cookie_and_stays_out_when_enabled(
        client, db, settings, staff):
    w, uid, _, token = staff
    client.cookies.set(COOKIE, token)
    assert client.get(ME).status_code == 200  # the cookie alone signs in
    r = client.post(f"/api/v1/users/{uid}/active", headers=_town(db, settings),
                    json={"active": False})
    assert r.status_code == 200
    _refused(client.get(ME, headers=_h(token)), "account_disabled")
    client.cookies.set(COOKIE, token)
    _refused(client.get(ME), "account_disabled")
    _refused(_award(client, token, w, make_person(db, w.own)), "account_disabled")
    client.cookies.clear()
    client.post(f"/api/v1/users/{uid}/active", headers=_town(db, settings),
                json={"active": True})
    _refused(client.get(ME, headers=_h(token)), "token_revoked")  # enabling is a fresh start


def test_password_reset_ends_every_old_token(client, db, settings, staff):
    w, uid, login, token = staff
    r = client.post(f"/api/v1/users/{uid}/password", headers=_town(db, settings),
                    json={"new_password": NEW_PASSWORD})
    assert r.status_code == 200
    _refused(client.get(ME, headers=_h(token)), "token_revoked")
    _refused(_award(client, token, w, make_person(db, w.own)), "token_revoked")
    fresh = _sign_in(client, login, NEW_PASSWORD)
    assert client.get(ME, headers=_h(fresh)).status_code == 200


def test_own_password_change_ends_other_sessions_and_renews_this_one(client, db, staff):
    _, _, login, token = staff
    other = _sign_in(client, login)
    r = client.post("/api/v1/auth/password/change", headers=_h(token),
                    json={"old_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 200 and r.json()["password_changed"]
    _refused(client.get(ME, headers=_h(token)), "token_revoked")
    _refused(client.get(ME, headers=_h(other)), "token_revoked")
    assert client.get(ME, headers=_h(r.json()["token"])).status_code == 200


def test_api_sign_out_ends_the_token(client, db, staff):
    _, _, _, token = staff
    r = client.post("/api/v1/auth/signout", headers=_h(token))
    assert r.status_code == 200
    _refused(client.get(ME, headers=_h(token)), "token_revoked")


def test_page_sign_out_ends_the_cookie(client, db, staff):
    w, _, _, token = staff
    client.cookies.set(COOKIE, token)
    html = client.get("/").text
    csrf = re.search(r'action="/signout".*?name="_csrf_token" value="([^"]+)"', html,
                     re.DOTALL).group(1)
    r = client.post("/signout", data={"_csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    _refused(client.get(ME, headers=_h(token)), "token_revoked")
    client.cookies.set(COOKIE, token)  # a copy of the old cookie kept by an attacker
    _refused(client.get(ME), "token_revoked")
    page = client.get("/admin", follow_redirects=False)
    assert page.status_code in (302, 303) and "/signin" in page.headers["location"]


def test_code_sign_in_token_uses_only_the_volunteer_role(client, db, settings):
    w = make_world(db, fund=False)
    person = make_person(db, w.own, is_volunteer=True)
    p = Principal(90_100, "林志愿", (("volunteer", w.own), ("village_admin", w.own)),
                  person_id=person, only=("volunteer",))
    r = client.get(ME, headers=bearer(db, settings, p))
    assert r.json()["roles"] == [{"role": "volunteer", "village_id": w.own}]


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a_change_during_a_cache_fill_is_not_lost(db, private_redis, monkeypatch,  # noqa: F811
                                                  backend):
    """A reader that loaded the old row just before a change must not put it back in the
    cache after the change's `forget`: the generation it loaded under is already old."""
    ensure_user(db, Principal(90_200, "店员", (("clerk", None),)))
    store = (current.RedisStates(private_redis().url, "jifen:us:t:") if backend == "redis"
             else current.MemoryStates())
    real_load, raced = current.load, []

    def load_then_change(database, user_id):
        state = real_load(database, user_id)
        if not raced:  # the change commits and forgets between this load and the cache fill
            raced.append(True)
            ensure_user(db, Principal(90_200, "店员", ()))
            store.forget(user_id)
        return state

    monkeypatch.setattr(current, "load", load_then_change)
    assert store.get(db, 90_200).roles == (("clerk", None),)  # the old row, served once
    assert store.get(db, 90_200).roles == ()  # never from the cache again


def test_two_instances_sharing_redis_see_each_others_revocations(
        db, settings, tmp_path, private_redis):  # noqa: F811
    from api.app import create_app
    redis = private_redis()
    shared = Settings(database_url=db.url, redis_url=redis.url, secret_key=settings.secret_key,
                      data_dir=tmp_path, public_base_url="http://testserver.local",
                      budget_shards=4)
    other_db = Database(db.url)  # a second process has its own engine and pool
    w = make_world(db, fund=False)
    uid = make_user(db, (("village_admin", w.own), ("organizer", w.own)), password=PASSWORD)
    token = token_for(db, shared, Principal(uid, "测试用户", (("village_admin", w.own),
                                                          ("organizer", w.own))))
    try:
        with TestClient(create_app(shared, db), base_url="http://testserver.local") as a, \
                TestClient(create_app(shared, other_db),
                           base_url="http://testserver.local") as b:
            assert len(b.get(ME, headers=_h(token)).json()["roles"]) == 2  # B caches it
            assert redis.client().keys("jifen:us:*")
            town = _town(db, shared)
            r = a.delete(f"/api/v1/users/{uid}/roles/organizer", headers=town,
                         params={"village_id": w.own})
            assert r.status_code == 200
            assert b.get(ME, headers=_h(token)).json()["roles"] == [
                {"role": "village_admin", "village_id": w.own}]
            a.post(f"/api/v1/users/{uid}/active", headers=_town(db, shared),
                   json={"active": False})
            _refused(b.get(ME, headers=_h(token)), "account_disabled")
    finally:
        other_db.dispose()


def test_redis_down_falls_back_to_the_database(db, private_redis):  # noqa: F811
    redis = private_redis()
    store = current.RedisStates(redis.url, "jifen:us:t:")
    ensure_user(db, Principal(90_300, "店员", (("clerk", None),)))
    assert store.get(db, 90_300).roles == (("clerk", None),)
    redis.kill()
    ensure_user(db, Principal(90_300, "店员", ()))
    store.forget(90_300)  # cannot reach Redis: logged; the reader cannot reach it either
    assert store.get(db, 90_300).roles == ()
