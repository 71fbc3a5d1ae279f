"""The authorization matrix, generated from the OpenAPI schema: every operation × every kind of
caller × every target its path can name (own village, other village, self, own household). What
each may do is stated once, in POLICY below; an operation without a row fails the test, so a new
route cannot ship without someone deciding who may call it.

A cell is "allowed" when the answer is anything but a refusal of the caller (401, 403, or a page's
redirect to sign in): the requests carry an empty body, so an allowed caller usually meets a 400
or 422 about the body, which is the point — the guard let them through. Guards run before the
body is read; checks of a village named only in the body are covered by
tests/test_registry_authz.py and the per-break tests (test_security_*.py).
"""

from __future__ import annotations

import collections
import os
import uuid
from datetime import timedelta

from litestar.testing import TestClient

from api.auth import Principal
from bench.fuzz import CLERK_USER_ID, build, known_values
from ledger.activities.planning import Actor
from ledger.identity import service as identity
from ledger.matching import service as matching
from ledger.registry.service import HouseholdDraft, PersonDraft, add_household, add_person
from ledger.timeutil import utcnow
from tests.tokens import token_for

MAX_SECONDS = 60  # the whole matrix on SQLite (issue 16 asks for under a minute)

# --- who calls -------------------------------------------------------------------------------
CALLERS = ["anonymous", "volunteer", "household_member", "organizer", "inspector", "clerk_a",
           "village_admin_a", "town_admin", "disabled", "revoked"]
STAFF_A = {"organizer", "inspector", "clerk_a", "village_admin_a"}
READERS_A = {"organizer", "inspector", "village_admin_a"}  # the registry's and rules' readers
RESIDENTS = {"volunteer", "household_member"}
OWN = {"-", "own village", "own household", "self"}  # targets inside the caller's village A


# --- who may: one table ----------------------------------------------------------------------
# Each policy says, for a caller and a target, whether the caller gets past the door. "anywhere"
# policies are guards that let a role of any village through because the village is named in
# the body (checked after it is read: see the module's docstring).
def anyone(caller, target):
    return True


def signed_in(caller, target):
    """Any valid token, even one whose roles were all revoked (the service checks the rest)."""
    return caller not in ("anonymous", "disabled")


def residents(caller, target):
    return caller in RESIDENTS


def town(caller, target):
    return caller == "town_admin"


def admins(caller, target):
    return caller == "town_admin" or (caller == "village_admin_a" and target in OWN)


def admins_anywhere(caller, target):
    return caller in ("town_admin", "village_admin_a")


def readers(caller, target):
    return caller == "town_admin" or (caller in READERS_A and target in OWN)


def staff_anywhere(caller, target):
    return caller == "town_admin" or caller in STAFF_A


def organizers(caller, target):
    return caller in ("town_admin", "village_admin_a", "organizer")


def inspectors(caller, target):
    return caller in ("town_admin", "village_admin_a", "inspector")


def shop_clerks(caller, target):
    """Only a clerk of the voucher's shop (a town admin has no counter to hand things over)."""
    return caller == "clerk_a"


def _self(caller, target):
    return caller in RESIDENTS and target == "self"


def self_or_readers(caller, target):
    return _self(caller, target) or readers(caller, target)


def self_or_admins(caller, target):
    return _self(caller, target) or admins(caller, target)


def self_or_readers_anywhere(caller, target):
    """Stars are public recognition: staff who read the registry see any village's."""
    return _self(caller, target) or caller == "town_admin" or caller in READERS_A


def self_or_staff(caller, target):
    return _self(caller, target) or caller == "town_admin" or (
        caller in STAFF_A and target in OWN)


def station_staff(caller, target):
    """四单: the station's staff (ledger/matching/orders.py STAFF_ROLES: no clerk, no
    inspector), the town admin at every station."""
    return caller == "town_admin" or (caller in ("village_admin_a", "organizer") and
                                      target in OWN)


def household_or_station_staff(caller, target):
    """An order with its household's phone and address: that household and its station."""
    return (caller == "household_member" and target == "own household") or \
        station_staff(caller, target)


def only_the_assignee(caller, target):
    """接单: the dispatched volunteer or team leader; no order in this world is dispatched, so
    nobody (the assignee's path: tests/test_matching_api.py)."""
    return False


def nobody_without_a_code(caller, target):
    """Check-ins need a signed code (forged ones are refused for everyone: see
    tests/test_activities_tokens.py and tests/test_security.py)."""
    return False


POLICY: dict[str, object] = {}


def _rows(policy, *ops: str) -> None:
    for op in ops:
        assert op not in POLICY, f"two rows for {op}"
        POLICY[op] = policy


_rows(town,
      "GET /api/v1/ledger/accounts/{account_id}",
      "GET /api/v1/ledger/accounts/{account_id}/statement",
      "GET /api/v1/ledger/audit",
      "GET /api/v1/ops/audit-status",
      "GET /api/v1/redemption/draws/{draw_id}",
      "GET /api/v1/redemption/draws/{draw_id}/verify",
      "GET /api/v1/redemption/settlement",
      "GET /api/v1/redemption/settlement.csv",
      "GET /api/v1/rules/entries/{entry_id}/explanation",
      "GET /api/v1/rules/reports/recorders",
      "POST /api/v1/ledger/entries/{entry_id}/reversal",
      "POST /api/v1/ledger/holds",
      "POST /api/v1/ledger/holds/{hold_id}/post",
      "POST /api/v1/ledger/holds/{hold_id}/void",
      "POST /api/v1/ops/tasks/{task_id}/retry",
      "POST /api/v1/redemption/draws",
      "POST /api/v1/redemption/draws/{draw_id}/run",
      "POST /api/v1/redemption/sweep",
      "POST /api/v1/rules/catalogs",
      "POST /api/v1/rules/sweeps/notices",
      "POST /api/v1/recognition/stars/recompute",
      "POST /api/v1/users/{user_id}/active",
      "POST /api/v1/users/{user_id}/password",
      "POST /api/v1/villages",
      "POST /api/v1/villages/{village_id}/allocations",
      "PUT /api/v1/recognition/star-config/{kind}",
      )
_rows(signed_in,
      "GET /api/v1/activities/{activity_id}",
      "GET /api/v1/auth/me",
      "GET /api/v1/activities/certificates/{code}/certificate.pdf",
      "GET /api/v1/households/{household_id}/stars",
      "GET /api/v1/me/export",
      "GET /api/v1/redemption/orders",
      "GET /api/v1/redemption/orders/{order_id}",
      "GET /api/v1/redemption/providers",
      "GET /api/v1/redemption/rewards",
      "GET /api/v1/redemption/rewards/{reward_id}",
      "GET /api/v1/redemption/vouchers/{code}/qr.png",
      "GET /api/v1/redemption/vouchers/{code}/qr.svg",
      "GET /api/v1/teams",
      "GET /api/v1/teams/{team_id}/stars",
      "GET /api/v1/towns",
      "GET /api/v1/villages",
      "POST /api/v1/activities/{activity_id}/attendances",
      "POST /api/v1/activities/{activity_id}/claims",
      "POST /api/v1/activities/attendances/{attendance_id}/check-out",
      "POST /api/v1/activities/attendances/{attendance_id}/confirm",
      "POST /api/v1/activities/attendances/{attendance_id}/reject",
      "POST /api/v1/auth/password/change",
      "POST /api/v1/people/{person_id}/certificates",
      "POST /api/v1/redemption/orders",
      "POST /api/v1/redemption/orders/{order_id}/cancel",
      "POST /api/v1/rules/awards/{award_id}/appeals",
      "POST /api/v1/rules/awards/{award_id}/objections",
      "POST /api/v1/rules/awards/{award_id}/reject",
      "POST /api/v1/rules/claims",
      )
_rows(admins,
      "GET /api/v1/activities/{activity_id}/attendances",
      "GET /api/v1/activities/{activity_id}/checkin-code",
      "GET /api/v1/activities/{activity_id}/checkin-code.png",
      "GET /api/v1/activities/{activity_id}/checkin-code.svg",
      "GET /api/v1/activities/{activity_id}/signups",
      "GET /api/v1/recognition/honor-definitions",
      "GET /api/v1/registry/export.csv",
      "GET /api/v1/service-records.csv",
      "GET /api/v1/recognition/tasks/{task_id}",
      "GET /api/v1/users",
      "GET /api/v1/villages/{village_id}/exports/{year}/export.csv",
      "GET /api/v1/villages/{village_id}/plates.pdf",
      "PATCH /api/v1/households/{household_id}",
      "PATCH /api/v1/people/{person_id}",
      "PATCH /api/v1/redemption/providers/{provider_id}",
      "PATCH /api/v1/redemption/rewards/{reward_id}",
      "POST /api/v1/activities/{activity_id}/close",
      "POST /api/v1/activities/{activity_id}/imports",
      "POST /api/v1/activities/{activity_id}/open",
      "POST /api/v1/activities/{activity_id}/static-code",
      "POST /api/v1/ledger/adjustments",
      "POST /api/v1/recognition/honor-definitions",
      "POST /api/v1/recognition/honor-definitions/{def_id}/drafts",
      "POST /api/v1/recognition/honor-lists/{list_id}/exclusions",
      "POST /api/v1/recognition/honor-lists/{list_id}/publish",
      "POST /api/v1/recognition/honor-lists/{list_id}/review",
      "POST /api/v1/redemption/providers",
      "POST /api/v1/redemption/providers/{provider_id}/clerks",
      "POST /api/v1/redemption/rewards",
      "POST /api/v1/redemption/rewards/{reward_id}/stock",
      "POST /api/v1/registry/import",
      "POST /api/v1/rules/appeals/{appeal_id}/decision",
      "POST /api/v1/rules/awards/{award_id}/approve",
      "POST /api/v1/rules/awards/{award_id}/review",
      "POST /api/v1/teams",
      "POST /api/v1/teams/{team_id}/members",
      "POST /api/v1/users",
      "POST /api/v1/users/{user_id}/roles",
      "DELETE /api/v1/users/{user_id}/roles/{role}",
      "POST /api/v1/villages/{village_id}/households",
      "POST /api/v1/villages/{village_id}/people",
      "DELETE /api/v1/redemption/providers/{provider_id}/clerks/{user_id}",
      )
_rows(anyone,
      "GET /api/v1/activities/certificates/{code}/verification",
      "GET /api/v1/recognition/honor-lists",
      "GET /api/v1/recognition/honor-lists/{list_id}",
      "GET /api/v1/recognition/honor-lists/{list_id}/poster.pdf",
      "GET /api/v1/recognition/honor-lists/{list_id}/poster.png",
      "GET /api/v1/public/households/{plate_code}",
      "GET /api/v1/recognition/rankings/{scope_kind}/{scope_id}",
      "GET /api/v1/rules/catalogs",
      "GET /api/v1/rules/catalogs/{code}",
      "GET /api/v1/rules/catalogs/{code}/export.yaml",
      "GET /api/v1/rules/catalogs/{code}/items/{item}/versions",
      "GET /api/v1/rules/villages/{village_id}/notices",
      "GET /api/v1/recognition/star-config/{kind}",
      "GET /health",
      "GET /ready",
      "POST /api/v1/auth/code",
      "POST /api/v1/auth/code/verify",
      "POST /api/v1/auth/password",
      "POST /api/v1/auth/signout",
      )
_rows(readers,
      "GET /api/v1/households/{household_id}",
      "GET /api/v1/households/{household_id}/plate.png",
      "GET /api/v1/households/{household_id}/plate.svg",
      "GET /api/v1/rules/awards/{award_id}",
      "GET /api/v1/villages/{village_id}/households",
      "GET /api/v1/villages/{village_id}/people",
      "POST /api/v1/rules/awards",
      "POST /api/v1/rules/awards/{award_id}/confirm",
      "POST /api/v1/rules/awards/{award_id}/verify",
      )
_rows(residents,
      "GET /api/v1/me/service",
      "POST /api/v1/activities/{activity_id}/signup",
      "POST /api/v1/activities/{activity_id}/withdraw",
      )
_rows(self_or_readers,
      "GET /api/v1/people/{person_id}",
      )
_rows(self_or_admins,
      "GET /api/v1/people/{person_id}/export",
      )
_rows(self_or_readers_anywhere,
      "GET /api/v1/people/{person_id}/stars",
      )
_rows(inspectors,
      "GET /api/v1/activities/plates/{plate_code}/inspection",
      "POST /api/v1/activities/plates/{plate_code}/inspections",
      )
_rows(shop_clerks,
      "GET /api/v1/redemption/vouchers/{code}",
      "POST /api/v1/redemption/vouchers/{code}/fulfil",
      )
_rows(self_or_staff,
      "GET /api/v1/rules/holders/{holder_type}/{holder_id}/standing",
      "GET /api/v1/rules/holders/{holder_type}/{holder_id}/levels",
      "GET /api/v1/rules/holders/{holder_type}/{holder_id}/currencies",
      )
_rows(signed_in,  # the service checks who: the holder (or receiver) or the village's staff
      "POST /api/v1/rules/holders/{holder_type}/{holder_id}/coins/conversions",  # currencies
      "POST /api/v1/rules/time-bank/exchanges",  # tests/test_rules_currencies.py
      )
_rows(admins_anywhere,  # the holder's village is checked after the body is read (403):
      "POST /api/v1/rules/holders/{holder_type}/{holder_id}/levels/selection",  # test_rules_levels
      )
_rows(organizers,
      "POST /api/v1/activities",
      )
_rows(nobody_without_a_code,
      "POST /api/v1/activities/{activity_id}/scan",
      "POST /api/v1/c/{token}",
      )
_rows(staff_anywhere,
      "POST /api/v1/rules/evaluate",
      )
_rows(admins_anywhere,
      "POST /api/v1/villages/{village_id}/exports",
      "DELETE /api/v1/teams/{team_id}/members/{person_id}",
      )


# --- stations (新时代文明实践站: a station's id is its village's), 四单 orders, fund, courtesy,
# sheets, sessions and WeChat: the operations the stations/matching/fund/courtesy/sheets/identity
# branches added.
_rows(anyone,  # public pages: the network, the menu, thanked donors, a pass's masked check
      "GET /api/v1/stations",
      "GET /api/v1/stations/{station_id}",
      "GET /api/v1/matching/service-menu",
      "GET /api/v1/fund/thanks",
      "GET /api/v1/courtesy/passes/{code}",
      "POST /api/v1/auth/refresh",  # the refresh token in the body is the credential
      )
_rows(admins,  # the village named by the path is the caller's (the station's village)
      "PUT /api/v1/stations/{station_id}/profile",
      "POST /api/v1/stations/{station_id}/liaisons",
      "PUT /api/v1/stations/{station_id}/plans/{month}",
      "GET /api/v1/stations/{station_id}/reports/{period}/report.pdf",
      "GET /api/v1/stations/{station_id}/reports/{period}/report.xlsx",
      "GET /api/v1/villages/{village_id}/lists/{kind}/sheet.xlsx",
      "GET /api/v1/villages/{village_id}/notice-sheet.pdf",
      "GET /api/v1/villages/{village_id}/score-sheet.pdf",
      )
_rows(admins_anywhere,  # the village is in the body or the rows: the service keeps to it
      "GET /api/v1/stations/reports",  # a village admin gets their own stations' rows
      "GET /api/v1/teams/progress",
      "GET /api/v1/imports/{kind}/template.xlsx",
      "POST /api/v1/imports/{kind}",
      "GET /api/v1/registry/export.xlsx",
      "GET /api/v1/registry/template.xlsx",
      "GET /api/v1/redemption/vouchers/sheet.pdf",
      )
_rows(town,
      "GET /api/v1/stations/reports/honour-candidates",
      "GET /api/v1/redemption/settlement.xlsx",
      "GET /api/v1/fund/donors/{donor_id}/statement",
      "POST /api/v1/fund/donors",
      "POST /api/v1/fund/donations",
      "POST /api/v1/courtesy/benefits",
      "DELETE /api/v1/users/{user_id}/sessions",
      "DELETE /api/v1/users/{user_id}/wechat",
      )
_rows(household_or_station_staff,
      "GET /api/v1/matching/orders/{order_id}",
      "GET /api/v1/matching/orders/{order_id}/code",
      )
_rows(station_staff,
      "GET /api/v1/matching/orders/{order_id}/candidates",
      )
_rows(only_the_assignee,
      "POST /api/v1/matching/orders/{order_id}/accept",
      )
_rows(residents,  # a pass is a person's: only someone with a person record has one
      "GET /api/v1/courtesy/mine",
      "POST /api/v1/courtesy/benefits/{benefit_id}/claim",
      )
_rows(signed_in,  # 四单 writes read their body first (a reason, a rating, a team): the service
      # then decides per order (household, station staff, assignee: tests/test_matching_*.py)
      "GET /api/v1/matching/orders",
      "POST /api/v1/matching/orders",
      "POST /api/v1/matching/orders/{order_id}/cancel",
      "POST /api/v1/matching/orders/{order_id}/decline",
      "POST /api/v1/matching/orders/{order_id}/dispatch",
      "POST /api/v1/matching/orders/{order_id}/rating",
      "POST /api/v1/courtesy/passes/{code}/use",  # the service: a clerk or staff of its village
      # one's own sessions and WeChat binding
      "GET /api/v1/auth/sessions",
      "DELETE /api/v1/auth/sessions",
      "DELETE /api/v1/auth/sessions/{session_id}",
      "GET /api/v1/auth/wechat",
      "DELETE /api/v1/auth/wechat",
      )


def _run_world(db, tmp_path):
    app, settings, w = build(db, tmp_path)
    v1, v2 = w["village_ids"]
    with db.transaction() as s:
        hh_b = add_household(s, HouseholdDraft(v1, "林阿姨", address="塘边村 2 号"))
        hh_v2 = add_household(s, HouseholdDraft(v2, "黄大伯", address="坑东村 9 号"))
        mate = add_person(s, PersonDraft(v1, "陈小妹", w["household_id"], "13900000001", None,
                                         True))
        other_person = add_person(s, PersonDraft(v2, "黄志愿", hh_v2.id, "13900000002", None,
                                                 True))
        w.update(hh_b=hh_b.id, hh_v2=hh_v2.id, mate=mate.id, other_person=other_person.id)
    # 四单 orders, placed at the counter, of the caller's household, a neighbour's, another
    # village's (each carries the household's phone and address)
    counter = Actor(9700, roles=(("town_admin", None),))
    when = utcnow() + timedelta(days=1)
    w["service_orders"] = {
        target: matching.place_order(db, counter, matching.OrderDraft(
            village_id=village, need="水管漏水", preferred_at=when, household_id=hh,
            contact_phone="13900000009")).id
        for target, village, hh in (("own household", v1, w["household_id"]),
                                    ("own village", v1, hh_b.id),
                                    ("other village", v2, hh_v2.id))}
    people = {"volunteer": w["person_ids"][1], "household_member": w["person_ids"][0]}
    principals = {
        "volunteer": Principal(9601, "志愿者", (("volunteer", v1),), people["volunteer"]),
        "household_member": Principal(9602, "陈大明", (("volunteer", v1),),
                                      people["household_member"]),
        "organizer": Principal(9603, "组织者", (("organizer", v1),)),
        "inspector": Principal(9604, "评议员", (("inspector", v1),)),
        "clerk_a": Principal(CLERK_USER_ID, "店员", (("clerk", v1),)),
        "village_admin_a": Principal(9606, "村管理员", (("village_admin", v1),)),
        "town_admin": Principal(9607, "镇管理员", (("town_admin", None),)),
        "disabled": Principal(9608, "停用", (("village_admin", v1),)),
        "revoked": Principal(9609, "撤销", (("village_admin", v1),)),
    }
    tokens = {k: token_for(db, settings, p) for k, p in principals.items()}
    identity.set_active(db, identity.SYSTEM, 9608, False)
    identity.revoke_role(db, identity.SYSTEM, 9609, "village_admin", v1)
    return app, settings, w, principals, people, tokens


def _targets(path: str, caller: str, w: dict, people: dict) -> list[tuple[str, dict]]:
    """(target name, path values) for the scoped parameters of this path."""
    v1, v2 = w["village_ids"]
    if "{person_id}" in path or "{holder_id}" in path:
        out = [("own village", w["person_ids"][2]), ("own household", w["mate"]),
               ("other village", w["other_person"])]
        if caller in people:
            out.append(("self", people[caller]))
        return [(t, {"person_id": p, "holder_id": p, "holder_type": "person"}) for t, p in out]
    if path.startswith("/api/v1/matching/orders/{order_id}"):
        return [(t, {"order_id": o}) for t, o in w["service_orders"].items()]
    if "{household_id}" in path:
        return [(t, {"household_id": h}) for t, h in (
            ("own household", w["household_id"]), ("own village", w["hh_b"]),
            ("other village", w["hh_v2"]))]
    if "{village_id}" in path or "{scope_id}" in path or "{station_id}" in path:
        # a station is its village's 新时代文明实践站: its id is the village's
        return [(t, {"village_id": v, "scope_id": v, "scope_kind": "village", "station_id": v})
                for t, v in (("own village", v1), ("other village", v2))]
    return [("-", {})]


# Required query parameters get a well-formed value, so the handler (and the service's scope
# check of the village the path names) runs instead of stopping at a 400 about the query.
QUERY_VALUES = {"month": "2026-11", "year": 2026, "period": "2026Q4", "start": "2026-01-01",
                "end": "2026-12-31"}
PATH_VALUES = {"month": "2026-11", "period": "2026Q4", "role": "inspector"}
PATH_OVERRIDES = {"/api/v1/villages/{village_id}/lists/{kind}/sheet.xlsx": {"kind": "households"}}
# a village admin exports their own village's records (the town-wide export is the town admin's)
# and takes back a role held in their own village (a town-wide one is the town admin's)
VILLAGE_A_QUERY = {"GET /api/v1/service-records.csv", "DELETE /api/v1/users/{user_id}/roles/{role}"}


def _query(op: str, operation: dict, known: dict) -> dict:
    out = {"village_id": known["village_id"][0]} if op in VILLAGE_A_QUERY else {}
    for x in operation.get("parameters", []):
        if x.get("in") == "query" and x.get("required"):
            name = x["name"]
            out[name] = QUERY_VALUES[name] if name in QUERY_VALUES else (known.get(name) or [1])[0]
    return out


def _url(path: str, values: dict, known: dict) -> str:
    import re

    def fill(m):
        name = m.group(1)
        if name in values:
            return str(values[name])
        if name in PATH_VALUES:
            return PATH_VALUES[name]
        return str((known.get(name) or [1])[0])
    return re.sub(r"\{([a-z_]+)\}", fill, path)


def _refused(r) -> bool:
    if r.status_code in (401, 403):
        return True
    return r.status_code in (302, 303) and "/signin" in r.headers.get("location", "")


def _operations(client) -> list[tuple[str, str, dict]]:
    schema = client.get("/docs/openapi.json").json()
    ops = [(m.upper(), p, op) for p, item in schema["paths"].items() for m, op in item.items()
           if m in ("get", "post", "put", "patch", "delete")]
    last = {"POST /api/v1/auth/signout": 2, "DELETE": 1}  # changes who is who: run them last
    return sorted(ops, key=lambda o: (last.get(f"{o[0]} {o[1]}", last.get(o[0], 0)), o[:2]))


def test_every_operation_has_a_row_and_every_cell_answers_as_the_table_says(db, tmp_path):
    import time
    started = time.monotonic()
    app, settings, w, principals, people, tokens = _run_world(db, tmp_path)
    known = known_values(w)
    observed: dict[str, dict] = collections.defaultdict(dict)
    wrong = []
    with TestClient(app, base_url="http://testserver.local") as client:
        ops = _operations(client)
        missing = [f"{m} {p}" for m, p, _ in ops if f"{m} {p}" not in POLICY]
        for method, path, operation in ops:
            query = _query(f"{method} {path}", operation, known)
            op = f"{method} {path}"
            for caller in CALLERS:
                for target, values in _targets(path, caller, w, people):
                    headers = {"Idempotency-Key": uuid.uuid4().hex}
                    if caller in tokens:
                        headers["Authorization"] = f"Bearer {tokens[caller]}"
                    body = {} if method in ("POST", "PUT", "PATCH") else None
                    values = {**PATH_OVERRIDES.get(path, {}), **values}
                    r = client.request(method, _url(path, values, known), json=body,
                                       params=query, headers=headers, follow_redirects=False)
                    assert r.status_code < 500, f"{op} as {caller} → {r.status_code} {r.text}"
                    allowed = not _refused(r)
                    observed[op][(caller, target)] = allowed
                    policy = POLICY.get(op)
                    if policy is not None and policy(caller, target) != allowed:
                        wrong.append(f"{op} × {caller} × {target}: {r.status_code} "
                                     f"(table says {'allowed' if not allowed else 'refused'})"
                                     f" {r.text[:120]}")
            if op == "POST /api/v1/auth/signout":  # it ended the callers' tokens: mint anew
                tokens = {k: token_for(db, settings, p) for k, p in principals.items()
                          if k not in ("disabled",)}
    if os.environ.get("MATRIX_PRINT"):
        for op, cells in observed.items():
            yes = sorted(f"{c}@{t.replace(' ', '_')}" for (c, t), ok in cells.items() if ok)
            print(f"{op}\n    {' '.join(yes)}")
    elapsed = time.monotonic() - started
    assert not missing, "operations without a row in POLICY:\n" + "\n".join(missing)
    assert not wrong, f"{len(wrong)} cells differ:\n" + "\n".join(wrong[:60])
    assert elapsed < MAX_SECONDS, f"the matrix took {elapsed:.0f} s"


def test_schema_declares_the_idempotency_key_on_every_operation_that_requires_it(client):
    from api.deps import needs_idempotency_key
    from litestar.handlers import HTTPRouteHandler
    required = {(m.lower(), route.path_format)
                for route in client.app.routes
                for m, (h, _) in getattr(route, "route_handler_map", {}).items()
                if isinstance(h, HTTPRouteHandler) and needs_idempotency_key(h)}
    schema = client.get("/docs/openapi.json").json()
    declared = {(m, p) for p, item in schema["paths"].items() for m, op in item.items()
                if isinstance(op, dict) and any(x.get("name") == "Idempotency-Key"
                                                and x.get("in") == "header" and x["required"]
                                                for x in op.get("parameters", []))}
    assert declared == required and len(declared) >= 50


def test_a_village_admins_station_report_holds_only_their_stations_figures(client, auth, db):
    """The town's totals less one's own row would be the other villages' figures: a village
    admin's totals and 挂牌-only list are of their own stations."""
    from tests.builders.matching import make_town
    t = make_town(db)
    with db.transaction() as s:
        hh = add_household(s, HouseholdDraft(t.w.other_village_id, "黄大伯", address="坑东村 9 号"))
    matching.place_order(db, Actor(9700, roles=(("town_admin", None),)), matching.OrderDraft(
        village_id=t.w.other_village_id, need="水管漏水", preferred_at=utcnow() + timedelta(days=1),
        household_id=hh.id))
    params = {"period": utcnow().strftime("%Y-%m"), "town_id": t.w.town_id}
    town = client.get("/api/v1/stations/reports", headers=auth("town_admin"), params=params).json()
    mine = client.get("/api/v1/stations/reports", params=params,
                      headers=auth("village_admin", village_id=t.w.village_id)).json()
    assert town["totals"]["orders_placed"] == 1 and len(town["stations"]) == 2
    assert [x["station_id"] for x in mine["stations"]] == [t.w.village_id]
    assert mine["totals"]["orders_placed"] == 0
    assert set(mine["sign_only"]) <= {x["name"] for x in mine["stations"]}
