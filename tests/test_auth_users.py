"""Users and roles: who may grant what (a town admin anything; a village admin the field roles
of their own village), where each role may be held, password rules, and `jifen user create`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from api.auth import decode_token, principal_for
from ledger.errors import Forbidden, InvalidInput
from ledger.identity import service as identity
from ledger.ratelimit import RateLimiter
from tests.builders.registry import make_user, make_world

PASSWORD = "correct-horse-9"


def _user(login: str, *roles) -> dict:
    return {"login": login, "name": "测试", "password": PASSWORD,
            "roles": [{"role": r, "village_id": v} for r, v in roles]}


def test_village_admin_grants_field_roles_only_in_own_village(client, db, auth):
    w = make_world(db, fund=False)
    h = auth("village_admin", village_id=w.own)
    ok = client.post("/api/v1/users", headers=h, json=_user("tb.org", ("organizer", w.own)))
    assert ok.status_code == 201 and ok.json()["roles"] == [{"role": "organizer",
                                                             "village_id": w.own}]
    for roles in ((("village_admin", w.own),), (("town_admin", None),),
                  (("clerk", None),), (("organizer", w.other),)):
        r = client.post("/api/v1/users", headers=auth("village_admin", village_id=w.own),
                        json=_user("tb.x", *roles))
        assert r.status_code == 403 and r.json()["code"] == "forbidden_grant", roles


@pytest.mark.parametrize("role,village,code", [
    ("town_admin", "own", "role_scope_invalid"),
    ("village_admin", None, "role_scope_invalid"),
    ("volunteer", None, "role_scope_invalid"),
    ("mayor", None, "role_unknown"),
])
def test_roles_are_held_only_where_they_make_sense(client, db, auth, role, village, code):
    w = make_world(db, fund=False)
    uid = make_user(db)
    r = client.post(f"/api/v1/users/{uid}/roles", headers=auth("town_admin"),
                    json={"role": role, "village_id": w.own if village else None})
    assert r.status_code == 422 and r.json()["code"] == code


def test_granted_role_appears_in_the_next_token_and_revoked_one_disappears(client, db, auth,
                                                                          settings):
    w = make_world(db, fund=False)
    uid = make_user(db, login="field.worker")
    client.app.state.limiter = RateLimiter(None)
    r = client.post(f"/api/v1/users/{uid}/roles", headers=auth("town_admin"),
                    json={"role": "inspector", "village_id": w.own})
    assert r.status_code == 201
    sign_in = {"login": "field.worker", "password": PASSWORD}
    token = client.post("/api/v1/auth/password", json=sign_in).json()["token"]
    assert principal_for(db, decode_token(settings, token)).roles == (("inspector", w.own),)
    again = client.post(f"/api/v1/users/{uid}/roles", headers=auth("town_admin"),
                        json={"role": "inspector", "village_id": w.own})
    assert again.status_code == 409 and again.json()["code"] == "role_held"
    r = client.delete(f"/api/v1/users/{uid}/roles/inspector", headers=auth("town_admin"),
                      params={"village_id": w.own})
    assert r.status_code == 200 and r.json()["roles"] == []
    token = client.post("/api/v1/auth/password", json=sign_in).json()["token"]
    assert principal_for(db, decode_token(settings, token)).roles == ()


@pytest.mark.parametrize("password,code", [("short7!", "password_too_short"),
                                           ("aaaaaaaaaa", "password_weak"),
                                           ("new.staff", "password_weak")])
def test_weak_passwords_are_refused(db, password, code):
    with pytest.raises(InvalidInput) as e:
        identity.create_user(db, identity.SYSTEM, login="new.staff", name="新员工",
                             password=password, roles=[("clerk", None)])
    assert e.value.code == code


def test_login_is_unique_and_password_hash_is_argon2id(db):
    identity.create_user(db, identity.SYSTEM, login="same", name="甲", password=PASSWORD,
                         roles=[("clerk", None)])
    from sqlalchemy import select

    from ledger.identity.models import AppUser
    with db.sessions() as s:
        assert s.scalar(select(AppUser.password_hash)).startswith("$argon2id$")
    from ledger.errors import Conflict
    with pytest.raises(Conflict) as e:
        identity.create_user(db, identity.SYSTEM, login="SAME", name="乙", password=PASSWORD,
                             roles=[("clerk", None)])
    assert e.value.code == "login_taken"


def test_user_changes_own_password_with_the_old_one(client, db, auth):
    uid = make_user(db, login="changer")
    h = auth("clerk", user_id=uid)
    r = client.post("/api/v1/auth/password/change", headers=h,
                    json={"old_password": "wrong-one-1", "new_password": "brand-new-42"})
    assert r.status_code == 401 and r.json()["code"] == "password_wrong"
    r = client.post("/api/v1/auth/password/change", headers=h,
                    json={"old_password": PASSWORD, "new_password": "brand-new-42"})
    assert r.status_code == 200
    client.app.state.limiter = RateLimiter(None)
    assert client.post("/api/v1/auth/password", json={
        "login": "changer", "password": "brand-new-42"}).status_code == 200


def test_only_a_town_admin_resets_someone_elses_password(db):
    w = make_world(db, fund=False)
    uid = make_user(db, (("clerk", w.own),))

    class VillageAdmin:
        user_id, person_id, roles = 9, None, (("village_admin", w.own),)

    with pytest.raises(Forbidden):
        identity.set_password(db, VillageAdmin(), uid, "brand-new-42")
    assert identity.set_password(db, identity.SYSTEM, uid, "brand-new-42").password_changed


def test_village_admin_lists_only_users_of_own_village(client, db, auth):
    w = make_world(db, fund=False)
    mine = make_user(db, (("organizer", w.own),))
    make_user(db, (("organizer", w.other),))
    r = client.get("/api/v1/users", headers=auth("village_admin", village_id=w.own))
    # the caller (the fixture's user, a village admin there) is listed too
    assert r.status_code == 200 and [u["id"] for u in r.json()["items"] if u["name"] != "test"] == [mine]
    assert all("password_hash" not in u for u in r.json()["items"])


def test_cli_user_create_makes_an_admin_who_can_sign_in(db, tmp_path, monkeypatch):
    from api.cli import app
    w = make_world(db, fund=False)
    monkeypatch.setenv("JIFEN_DATABASE_URL", db.url)
    monkeypatch.setenv("JIFEN_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, [
        "user", "create", "--login", "tb.boss", "--name", "塘边村管理员",
        "--role", f"village_admin:{w.own_name}", "--role", "clerk"],
        input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    who = identity.sign_in_password(db, RateLimiter(None), login="tb.boss", password=PASSWORD)
    assert set(who.roles) == {("village_admin", w.own), ("clerk", None)}
    listed = CliRunner().invoke(app, ["user", "list"])
    assert "tb.boss" in listed.output
    bad = CliRunner().invoke(app, ["user", "create", "--login", "x1", "--name", "x", "--role",
                                   "town_admin:塘边村不存在"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert bad.exit_code == 1



def test_a_token_decoded_before_still_expires_and_needs_the_same_secret(settings, monkeypatch):
    """decode_token keeps a good token's claims in the process; its expiry still holds, and a
    server with another secret does not take it."""
    import dataclasses

    from api import auth
    from api.auth import Principal, issue_token
    token = issue_token(settings, Principal(user_id=77, name="甲", roles=()), ttl_s=60)
    claims = decode_token(settings, token)
    assert claims is not None and claims.user_id == 77
    assert decode_token(settings, token) is claims  # the second time: not decoded again
    other = dataclasses.replace(settings, secret_key="x" * 43)
    assert decode_token(other, token) is None
    later = auth.time.time() + 61
    monkeypatch.setattr(auth.time, "time", lambda: later)
    assert decode_token(settings, token) is None
    assert decode_token(settings, token + "x") is None  # a signature that does not hold
