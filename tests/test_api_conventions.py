"""The conventions of docs/api.md, checked on the OpenAPI document the app serves (so a new route
that breaks one fails here), and the one paging walked end to end on two kinds of list."""

from __future__ import annotations

import re

import pytest

from ledger.paging import MAX_PAGE
from tests.builders.registry import make_household, make_world

API = "/api/v1/"
# The six lists paged before the cursor had one name keep their old parameter for one release
# (docs/api.md, "cursor name"); no other route may take one.
OLD_CURSORS = {
    "/api/v1/villages/{village_id}/households": "after_id",
    "/api/v1/villages/{village_id}/people": "after_id",
    "/api/v1/activities/{activity_id}/attendances": "after_id",
    "/api/v1/redemption/rewards": "after_id",
    "/api/v1/redemption/orders": "before_id",
    "/api/v1/ledger/accounts/{account_id}/statement": "before_seq",
}
REMOVAL_WORDS = {"revoke", "remove", "delete", "unbind", "unassign", "leave", "drop", "destroy",
                 "clear", "unlink"}
FILE_SUFFIXES = {"application/pdf": ".pdf", "image/png": ".png", "image/svg+xml": ".svg",
                 "text/csv": ".csv", "application/yaml": ".yaml",
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx"}
FORMAT_WORDS = {"pdf", "png", "svg", "csv", "xlsx", "yaml", "json"}


@pytest.fixture
def schema(client) -> dict:
    return client.get("/docs/openapi.json").json()


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete") and path.startswith(API):
                yield method, path, op


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _json_body(schema: dict, op: dict) -> dict | None:
    ok = op.get("responses", {}).get("200", {})
    body = ok.get("content", {}).get("application/json", {}).get("schema")
    return None if body is None else _resolve(schema, body)


def _query(op: dict) -> dict[str, dict]:
    return {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}


def test_every_list_is_paged_with_limit_and_one_cursor(schema):
    lists, wrong = [], []
    for method, path, op in _operations(schema):
        body = _json_body(schema, op)
        if method != "get" or body is None:
            continue
        if body.get("type") == "array":
            wrong.append(f"GET {path} answers a bare array: page it (items, next_cursor)")
            continue
        if (body.get("properties", {}).get("items", {}).get("type")) != "array":
            continue
        lists.append(path)
        q = _query(op)
        limit = q.get("limit", {}).get("schema", {})
        if not (limit.get("minimum") == 1 and 1 <= limit.get("maximum", 0) <= MAX_PAGE):
            wrong.append(f"GET {path}: limit 1..{MAX_PAGE} missing or unbounded ({limit})")
        if "cursor" not in q:
            wrong.append(f"GET {path}: no cursor parameter")
        if "next_cursor" not in body.get("properties", {}):
            wrong.append(f"GET {path}: the answer has no next_cursor")
        others = {n for n in q if re.fullmatch(r"(after|before)_[a-z]+", n)}
        if others - {OLD_CURSORS.get(path)}:
            wrong.append(f"GET {path}: another cursor name {sorted(others)}")
    assert not wrong, "\n".join(wrong)
    assert len(lists) >= 20  # the walk saw the lists, not an empty schema
    assert set(OLD_CURSORS) <= set(lists)


def test_removals_are_deletes(schema):
    wrong = [f"{m.upper()} {p}" for m, p, _ in _operations(schema)
             if m != "delete" and p.rstrip("/").rsplit("/", 1)[-1] in REMOVAL_WORDS]
    assert not wrong, "removals by DELETE on the thing removed:\n" + "\n".join(wrong)
    deletes = [p for m, p, _ in _operations(schema) if m == "delete"]
    assert "/api/v1/users/{user_id}/roles/{role}" in deletes


def test_files_are_named_by_their_suffix_and_exports_are_json(schema):
    wrong = []
    for method, path, op in _operations(schema):
        if method != "get":
            continue
        last = path.rstrip("/").rsplit("/", 1)[-1]
        if last in FORMAT_WORDS:
            wrong.append(f"GET {path}: a format as a path segment; use a suffix (….{last})")
        media = set(op.get("responses", {}).get("200", {}).get("content", {}))
        for m in media:
            suffix = FILE_SUFFIXES.get(m.split(";")[0].strip())
            if suffix and not path.endswith(suffix):
                wrong.append(f"GET {path}: answers {m} without the {suffix} suffix")
        if last == "export" and media - {"application/json"}:
            wrong.append(f"GET {path}: …/export is JSON; a file takes a suffix")
    assert not wrong, "\n".join(wrong)


def test_a_village_listing_walks_with_the_cursor_and_the_old_name_alike(client, auth, db):
    w = make_world(db, fund=False)
    made = [make_household(db, w.own, members=1)["id"] for _ in range(5)]
    h = auth("village_admin", village_id=w.own)
    url = f"/api/v1/villages/{w.own}/households"
    seen, cursor, pages = [], None, 0
    while True:
        r = client.get(url, headers=h, params={"limit": 2, **({"cursor": cursor} if cursor
                                                              else {})})
        assert r.status_code == 200
        page = r.json()
        seen += [x["id"] for x in page["items"]]
        pages += 1
        assert page["next_after_id"] == (int(page["next_cursor"]) if page["next_cursor"]
                                         else None)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made and pages == 3
    old = client.get(url, headers=h, params={"limit": 2, "after_id": made[1]}).json()
    assert [x["id"] for x in old["items"]] == made[2:4]
    both = client.get(url, headers=h, params={"cursor": str(made[1]), "after_id": made[1]})
    forged = client.get(url, headers=h, params={"cursor": "abc"})
    assert both.status_code == forged.status_code == 422
    assert both.json()["code"] == forged.json()["code"] == "cursor_invalid"
    assert client.get(url, headers=h, params={"limit": MAX_PAGE + 1}).status_code == 400


def test_a_list_read_whole_pages_the_same_way(client, auth, db):
    w = make_world(db, fund=False)
    h = auth("town_admin")
    everyone = client.get("/api/v1/villages", headers=h, params={"limit": MAX_PAGE}).json()
    ids = [v["id"] for v in everyone["items"]]
    assert {w.own, w.other} <= set(ids) and ids == sorted(ids)
    first = client.get("/api/v1/villages", headers=h, params={"limit": 1}).json()
    rest = client.get("/api/v1/villages", headers=h,
                      params={"limit": MAX_PAGE, "cursor": first["next_cursor"]}).json()
    assert [v["id"] for v in first["items"] + rest["items"]] == ids
    assert rest["next_cursor"] is None and first["next_cursor"] == str(ids[0])
