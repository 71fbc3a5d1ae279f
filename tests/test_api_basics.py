"""The API's edges: problem details, idempotency over HTTP, auth, health, headers, metrics."""

from __future__ import annotations


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    r = client.get("/ready")
    assert r.status_code == 200 and r.json()["checks"]["database"] == "ok"


def test_openapi_docs_are_served(client):
    assert client.get("/docs/openapi.json").json()["info"]["title"].startswith("Jifen")
    assert client.get("/docs").status_code == 200


def test_write_without_token_is_401_problem(client):
    r = client.post("/api/v1/villages/1/allocations", json={"amount": 5})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "unauthenticated"


def test_forged_token_is_401(client):
    r = client.post("/api/v1/villages/1/allocations", json={"amount": 5},
                    headers={"Authorization": "Bearer abc.def.ghi"})
    assert r.status_code == 401


def test_write_without_idempotency_key_is_refused(client, auth):
    h = auth("town_admin")
    del h["Idempotency-Key"]
    r = client.post("/api/v1/villages/1/allocations", json={"amount": 5}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_required"


def test_idempotent_retry_over_http_returns_first_result_and_conflict_on_new_body(client, auth):
    h = auth("town_admin", user_id=1, key="alloc-1")
    first = client.post("/api/v1/villages/1/allocations", json={"amount": 100}, headers=h)
    again = client.post("/api/v1/villages/1/allocations", json={"amount": 100}, headers=h)
    assert first.status_code == 201 and again.json() == first.json()
    other = client.post("/api/v1/villages/1/allocations", json={"amount": 101}, headers=h)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    audit = client.get("/api/v1/ledger/audit", headers=h).json()
    assert audit["ok"] and audit["entries"] == 1


def test_validation_error_names_the_field(client, auth):
    r = client.post("/api/v1/villages/1/allocations", json={"amount": -1},
                    headers=auth("town_admin"))
    body = r.json()
    assert r.status_code == 400 and body["code"] == "validation_error"
    assert body["errors"][0]["field"] == "amount"


def test_village_admin_cannot_adjust_another_village(client, auth):
    r = client.post("/api/v1/ledger/adjustments", headers=auth("village_admin", village_id=2),
                    json={"village_id": 3, "holder_type": "person", "holder_id": 1,
                          "amount": 5, "memo": "x"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden_village"


def test_budget_exhausted_is_a_distinct_problem(client, auth, db):
    from tests.builders.registry import make_person, make_world
    w = make_world(db, fund=False)
    person = make_person(db, w.own)
    r = client.post("/api/v1/ledger/adjustments", headers=auth("town_admin"), json={
        "village_id": w.own, "holder_type": "person", "holder_id": person, "amount": 5,
        "memo": "x"})
    assert r.status_code == 409 and r.json()["code"] == "budget_exhausted"


def test_no_one_pays_a_holder_of_another_village_from_a_village_budget(client, auth, db):
    from tests.builders.registry import make_person, make_world
    w = make_world(db)
    stranger = make_person(db, w.other)
    r = client.post("/api/v1/ledger/adjustments", headers=auth("town_admin"), json={
        "village_id": w.own, "holder_type": "person", "holder_id": stranger, "amount": 5,
        "memo": "x"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden_village"


def test_responses_carry_request_id_and_security_headers(client):
    r = client.get("/health", headers={"X-Request-ID": "req-12345678"})
    assert r.headers["x-request-id"] == "req-12345678"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_metrics_count_requests(client):
    client.get("/health")
    body = client.get("/metrics").text
    assert "jifen_http_requests_total" in body


def test_a_built_app_bound_to_another_database_serves_from_it_with_a_fresh_state(
        settings, db, sqlite_db, tmp_path):
    from dataclasses import replace

    import pytest
    from litestar.testing import TestClient

    from api.app import bind, create_app
    app = create_app(settings, db)
    app.state.otp_sender = object()  # something a test or a request chose
    other = replace(settings, database_url=sqlite_db.url, data_dir=tmp_path / "other")
    bind(app, other, sqlite_db)
    assert app.state.db is sqlite_db and app.state.settings is other
    assert getattr(app.state, "otp_sender", None) is None  # chosen again for these settings
    with TestClient(app, base_url="http://testserver.local") as c:
        assert c.get("/ready").status_code == 200
    with pytest.raises(ValueError, match="secret_key"):  # the routes' CSRF cookie is built in
        bind(app, replace(settings, secret_key="x" * 43), db)
