"""Bodies built to crash the parser (issue 16, break 5): JSON nested 1,000 deep (2 KB, no
sign-in needed) used to raise RecursionError into the catch-all: 500 and a full traceback in the
log for every request. Each is a 400/422 problem detail with its own code, and one warning line."""

from __future__ import annotations

import pytest

from tests.test_security_catalog import CORPUS


@pytest.mark.parametrize("depth", [1_000, 10_000, 200_000])
def test_deeply_nested_json_is_a_400_with_a_warning_and_no_traceback(client, capfd, depth):
    body = '{"phone": ' + "[" * depth + "]" * depth + "}"
    r = client.post("/api/v1/auth/code", content=body,
                    headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text[:300]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "body_too_deep"
    err = capfd.readouterr().err
    assert "request_too_deep" in err and '"level": "warning"' in err
    assert "Traceback" not in err and "unhandled_error" not in err


def test_nested_objects_to_a_signed_in_write_are_refused_the_same_way(client, auth):
    body = '{"village_id": 1, "memo": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}"
    r = client.post("/api/v1/ledger/adjustments", content=body, headers={
        **auth("town_admin"), "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "body_too_deep"


@pytest.mark.parametrize("name", ["self merge", "python name tag", "10,000 nested brackets",
                                  "5,000-digit integer"])
def test_hostile_catalog_is_logged_as_one_warning_without_a_traceback(client, auth, capfd,
                                                                      name):
    text, code = CORPUS[name]
    r = client.post("/api/v1/rules/catalogs", json={"yaml": text}, headers=auth("town_admin"))
    assert r.status_code == 422 and r.json()["code"] == code
    err = capfd.readouterr().err
    assert "catalog_refused" in err and "Traceback" not in err
