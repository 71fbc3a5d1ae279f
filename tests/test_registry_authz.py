"""The authorization matrix: every role × every write endpoint of the registry, identity and
ledger APIs × a target in the caller's own village or in another village. Each cell is either
allowed (2xx, the write happens) or forbidden (403 problem detail with a `forbidden*` code and
a detail saying why). Scoped roles are held for the "own" village; town admins hold theirs
town-wide. Reads get the same treatment: a village-scoped role reads nothing in another
village."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from ledger.identity.roles import ALL_ROLES
from ledger.journal import service as journal
from ledger.journal.accounts import open_account
from tests.conftest import audit_clean
from tests.builders.registry import (
    SHARDS,
    fake_id,
    make_household,
    make_person,
    make_team,
    make_user,
    make_world,
)

FORBIDDEN_CODES = {"forbidden", "forbidden_village", "forbidden_grant", "forbidden_role"}


@dataclass
class Call:
    method: str
    path: str
    json: dict | None = None
    content: bytes | None = None
    headers: dict = field(default_factory=dict)


@dataclass
class Ctx:
    db: object
    w: object

    def award(self, village: int, amount: int = 50) -> tuple[int, int]:
        """A fresh person in the village with `amount` points; (person, entry id)."""
        pid = make_person(self.db, village)
        r = journal.adjust(self.db, shards=SHARDS, village_id=village, holder_type="person",
                           holder_id=pid, amount=amount, memo="好人好事", actor_id=None,
                           key=None)
        return pid, r.result["entry_id"]

    def hold(self, village: int) -> int:
        debit, credit = self.accounts(village)
        return journal.reserve(self.db, unit="points", debit_account_id=debit,
                               credit_account_id=credit, amount=10, ttl_s=600, memo="",
                               key=None).hold_id

    def accounts(self, village: int) -> tuple[int, int]:
        pid, _ = self.award(village)
        with self.db.transaction() as s:
            return (open_account(s, holder_type="person", holder_id=pid, purpose="points"),
                    open_account(s, holder_type="town", holder_id=self.w.town_id,
                                 purpose="held"))


def admins(role: str, where: str) -> bool:
    return role == "town_admin" or (role == "village_admin" and where == "own")


def town_only(role: str, where: str) -> bool:
    return role == "town_admin"


def readers(role: str, where: str) -> bool:
    return role == "town_admin" or (
        role in ("village_admin", "organizer", "inspector") and where == "own")


def _u() -> str:
    return uuid.uuid4().hex[:8]


def _team_with_member(c: Ctx, v: int) -> Call:
    from ledger.registry import service as registry
    team, pid = make_team(c.db, c.w, v), make_person(c.db, v)
    with c.db.transaction() as s:
        registry.add_member(s, team, pid)
    return Call("DELETE", f"/api/v1/teams/{team}/members/{pid}")


def _village_name(c: Ctx, v: int) -> str:
    return c.w.own_name if v == c.w.own else c.w.other_name


WRITES: dict[str, tuple[Callable[[Ctx, int], Call], Callable[[str, str], bool]]] = {
    # registry
    "add village": (lambda c, v: Call("POST", "/api/v1/villages", {
        "name": f"新村{_u()}", "town_id": c.w.town_id}), town_only),
    "add household": (lambda c, v: Call("POST", f"/api/v1/villages/{v}/households", {
        "head_name": "陈某甲", "members": [{"name": "陈某甲", "id_number": fake_id()}]}), admins),
    "add person": (lambda c, v: Call("POST", f"/api/v1/villages/{v}/people", {
        "name": "林某乙", "id_number": fake_id()}), admins),
    "change household": (lambda c, v: Call(
        "PATCH", f"/api/v1/households/{make_household(c.db, v, members=1)['id']}",
        {"address": "新地址 8 号"}), admins),
    "change person": (lambda c, v: Call(
        "PATCH", f"/api/v1/people/{make_person(c.db, v)}", {"name": "林某改"}), admins),
    "add team": (lambda c, v: Call("POST", "/api/v1/teams", {
        "kind": "卫生环保", "name": f"卫生环保队{_u()}", "town_id": c.w.town_id,
        "village_id": v}), admins),
    "add team member": (lambda c, v: Call(
        "POST", f"/api/v1/teams/{make_team(c.db, c.w, v)}/members",
        {"person_id": make_person(c.db, v)}), admins),
    "remove team member": (_team_with_member, admins),
    "import csv": (lambda c, v: Call(
        "POST", "/api/v1/registry/import",
        content=f"村（社区）,姓名,身份证号\n{_village_name(c, v)},黄某丙,{fake_id()}\n".encode(),
        headers={"Content-Type": "text/csv"}), admins),
    # identity
    "create user": (lambda c, v: Call("POST", "/api/v1/users", {
        "login": f"u{_u()}", "name": "新组织者", "password": "correct-horse-9",
        "roles": [{"role": "organizer", "village_id": v}]}), admins),
    "grant role": (lambda c, v: Call("POST", f"/api/v1/users/{make_user(c.db)}/roles", {
        "role": "inspector", "village_id": v}), admins),
    "revoke role": (lambda c, v: Call(
        "DELETE",
        f"/api/v1/users/{make_user(c.db, (('inspector', v),))}/roles/inspector?village_id={v}"),
        admins),
    "reset password": (lambda c, v: Call(
        "POST", f"/api/v1/users/{make_user(c.db, (('clerk', v),))}/password",
        {"new_password": "another-horse-7"}), town_only),
    "disable user": (lambda c, v: Call(
        "POST", f"/api/v1/users/{make_user(c.db, (('clerk', v),))}/active",
        {"active": False}), town_only),
    # ledger (api/controllers/ledger.py)
    "allocate budget": (lambda c, v: Call("POST", f"/api/v1/villages/{v}/allocations", {
        "amount": 100, "town_id": c.w.town_id}), town_only),
    "adjust points": (lambda c, v: Call("POST", "/api/v1/ledger/adjustments", {
        "village_id": v, "holder_type": "person", "holder_id": make_person(c.db, v),
        "amount": 5, "memo": "好人好事"}), admins),
    "reverse entry": (lambda c, v: Call(
        "POST", f"/api/v1/ledger/entries/{c.award(v)[1]}/reversal", {"reason": "录错了"}), town_only),
    "place hold": (lambda c, v: Call("POST", "/api/v1/ledger/holds", dict(zip(
        ("debit_account_id", "credit_account_id"), c.accounts(v), strict=True), amount=10)),
        town_only),
    "post hold": (lambda c, v: Call("POST", f"/api/v1/ledger/holds/{c.hold(v)}/post"), town_only),
    "void hold": (lambda c, v: Call("POST", f"/api/v1/ledger/holds/{c.hold(v)}/void"), town_only),
}

READS: dict[str, tuple[Callable[[Ctx, int], Call], Callable[[str, str], bool]]] = {
    "list households": (lambda c, v: Call("GET", f"/api/v1/villages/{v}/households"), readers),
    "list people": (lambda c, v: Call("GET", f"/api/v1/villages/{v}/people"), readers),
    "read household": (lambda c, v: Call(
        "GET", f"/api/v1/households/{make_household(c.db, v, members=1)['id']}"), readers),
    "read person": (lambda c, v: Call("GET", f"/api/v1/people/{make_person(c.db, v)}"), readers),
    "plate png": (lambda c, v: Call(
        "GET", f"/api/v1/households/{make_household(c.db, v, members=1)['id']}/plate.png"),
        readers),
    "plates pdf": (lambda c, v: Call("GET", f"/api/v1/villages/{v}/plates.pdf"), admins),
    "export csv": (lambda c, v: Call("GET", f"/api/v1/registry/export.csv?village_id={v}"),
                   admins),
    "export person": (lambda c, v: Call(
        "GET", f"/api/v1/people/{make_person(c.db, v)}/export"), admins),
    "list users": (lambda c, v: Call("GET", f"/api/v1/users?village_id={v}"), admins),
}


def _run(client, auth, db, table, name) -> list[str]:
    w = make_world(db)
    ctx = Ctx(db, w)
    build, allowed = table[name]
    wrong = []
    for role in ALL_ROLES:
        for where, village in (("own", w.own), ("other", w.other)):
            call = build(ctx, village)
            scope = None if role == "town_admin" else w.own
            headers = {**auth(role, village_id=scope), **call.headers}
            r = client.request(call.method, call.path, json=call.json, content=call.content,
                               headers=headers)
            cell = f"{name} × {role} × {where}: {r.status_code} {r.text[:200]}"
            if allowed(role, where):
                if not 200 <= r.status_code < 300:
                    wrong.append("expected allowed — " + cell)
                continue
            body = r.json() if r.headers.get("content-type", "").startswith(
                "application/problem+json") else {}
            if not (r.status_code == 403 and body.get("status") == 403
                    and body.get("code") in FORBIDDEN_CODES and body.get("detail")):
                wrong.append("expected 403 problem — " + cell)
    audit_clean(db)
    return wrong


@pytest.mark.parametrize("endpoint", list(WRITES))
def test_write_endpoint_allows_exactly_its_roles_in_their_villages(client, auth, db, endpoint):
    assert _run(client, auth, db, WRITES, endpoint) == []


@pytest.mark.parametrize("endpoint", list(READS))
def test_read_endpoint_shows_nothing_of_another_village(client, auth, db, endpoint):
    assert _run(client, auth, db, READS, endpoint) == []


def test_volunteer_cannot_award_points_even_to_themself(client, auth, db):
    w = make_world(db)
    me = make_person(db, w.own, is_volunteer=True)
    h = auth("volunteer", village_id=w.own, person_id=me)
    for holder_type, holder_id in (("person", me), ("person", make_person(db, w.own))):
        r = client.post("/api/v1/ledger/adjustments", headers=h, json={
            "village_id": w.own, "holder_type": holder_type, "holder_id": holder_id,
            "amount": 10, "memo": "给自己加分"})
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
