"""The old root paths that moved under their module's prefix (issue #22) answer for one release:
each is served by the new path's handler, with the same answer, marked `Deprecation`, `Sunset`
and `Link: <new>; rel="successor-version"`; the OpenAPI document shows only the new paths, and
the addresses printed on paper are not in the table."""

from __future__ import annotations

import pytest

from api.aliases import MOVED, SUNSET_HTTP_DATE, successor

# One request per old prefix: (method, old path, json body or None, role or None). Each reaches
# its handler (an answer of the handler's own, never the router's `not_found`).
REQUESTS: dict[str, tuple[str, str, dict | None, str | None]] = {
    "/api/v1/attendances": ("POST", "/api/v1/attendances/987654/confirm", None, "town_admin"),
    "/api/v1/certificates": ("GET", "/api/v1/certificates/NOSUCHCODE/verification", None, None),
    "/api/v1/plates": ("GET", "/api/v1/plates/NOSUCHPLATE/inspection", None, "town_admin"),
    "/api/v1/entries": ("POST", "/api/v1/entries/987654/reversal", {"reason": "录错了"},
                        "town_admin"),
    "/api/v1/holds": ("POST", "/api/v1/holds/987654/void", None, "town_admin"),
    "/api/v1/accounts": ("GET", "/api/v1/accounts/987654", None, "town_admin"),
    "/api/v1/audit": ("GET", "/api/v1/audit", None, "town_admin"),
    "/api/v1/adjustments": ("POST", "/api/v1/adjustments", {"village_id": 1}, "town_admin"),
    "/api/v1/tasks": ("GET", "/api/v1/tasks/987654", None, "town_admin"),
    "/api/v1/honor-definitions": ("GET", "/api/v1/honor-definitions", None, "town_admin"),
    "/api/v1/honor-lists": ("GET", "/api/v1/honor-lists", None, None),
    "/api/v1/rankings": ("GET", "/api/v1/rankings/galaxy/1", None, None),
    "/api/v1/star-config": ("GET", "/api/v1/star-config/volunteer", None, None),
    "/api/v1/stars/recompute": ("POST", "/api/v1/stars/recompute", {"town_id": 987654},
                                "town_admin"),
    "/api/v1/reports/stations": ("GET", "/api/v1/reports/stations?period=2026-03", None,
                                 "town_admin"),
    "/api/v1/reports/honour-candidates": (
        "GET", "/api/v1/reports/honour-candidates?period=2026Q1", None, "town_admin"),
}


def test_every_alias_has_a_request():
    assert set(REQUESTS) == set(MOVED)


VOLATILE = ("request_id", "instance", "at", "checked_at", "started_at", "finished_at")


def _call(client, auth, method: str, path: str, body: dict | None, role: str | None):
    headers = auth(role) if role else {}
    return client.request(method, path, json=body, headers=headers)


def _comparable(r) -> tuple:
    ctype = r.headers.get("content-type", "")
    body = r.json() if "json" in ctype else r.content
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in VOLATILE}
    return r.status_code, body


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_answers_as_the_new_one_marked_deprecated(client, auth, old):
    method, path, body, role = REQUESTS[old]
    new = successor(path.split("?")[0]) + ("?" + path.split("?")[1] if "?" in path else "")
    assert new.startswith(MOVED[old])
    was, now = _call(client, auth, method, path, body, role), \
        _call(client, auth, method, new, body, role)
    assert now.status_code not in (404, 405) or now.json()["code"] != "not_found", now.text
    assert _comparable(was)[0] == _comparable(now)[0]
    if was.status_code >= 400 or method == "GET":  # a write answers its own new result
        assert _comparable(was) == _comparable(now)
    assert was.headers["deprecation"] == "true"
    assert was.headers["sunset"] == SUNSET_HTTP_DATE
    assert was.headers["link"] == f'<{new.split("?")[0]}>; rel="successor-version"'
    assert "deprecation" not in now.headers and "link" not in now.headers


def test_openapi_shows_the_new_paths_only(client):
    paths = client.get("/docs/openapi.json").json()["paths"]
    for old, new in MOVED.items():
        assert not any(p == old or p.startswith(old + "/") for p in paths), old
        assert any(p == new or p.startswith(new + "/") for p in paths), new


def test_a_prefix_matches_whole_segments_only():
    assert successor("/api/v1/holds") == "/api/v1/ledger/holds"
    assert successor("/api/v1/holdsx") is None
    assert successor("/api/v1/reports/stationsx") is None
    assert successor("/api/v1/rules/entries/1/explanation") is None  # rules' own, not moved
    assert successor("/api/v1/ledger/holds") is None


@pytest.mark.parametrize("printed", ["/cert/{code:str}", "/c/{token:str}", "/h/{plate:str}",
                                     "/honors/{list_id:int}", "/v/{code:str}"])
def test_addresses_printed_on_paper_stay_routes_of_their_own(app, printed):
    """Certificates, check-in codes, door plates, posters and vouchers print these: pages that
    never move, so no alias may take them over."""
    paths = {r.path for r in app.routes}
    prefix = printed.split("{")[0]
    assert any(p.startswith(prefix) for p in paths), sorted(paths)
    assert successor(prefix + "x") is None
