"""Schemathesis against the app's own OpenAPI schema: every operation, as every role, with valid
and invalid data. No 5xx; every error is a problem detail with a code; every response conforms
to the schema (status documented, content type documented, body matching). A few examples per
operation and role here (CI); `make fuzz` runs bench/fuzz.py for as long as you like."""

from __future__ import annotations

import logging

import pytest
import structlog

from bench.fuzz import Fuzzer, build, principals, problem_failure
from tests.conftest import audit_clean

# Examples per operation for each role (valid and invalid data mixed). Anonymous and clerk
# callers are refused by nearly every operation, so fewer of their requests find anything new.
EXAMPLES = {"anonymous": 1, "clerk": 1}
DEFAULT_EXAMPLES = 2
SEED = 20261123  # fixed, so a CI failure replays the same requests
ROLES = ["anonymous", "town_admin", "village_admin", "organizer", "inspector", "clerk",
         "volunteer"]


@pytest.fixture
def quiet_access_log():
    """Hundreds of requests: keep warnings and errors (a 5xx logs its traceback), drop the
    line per request; restore the configuration for the tests after this one."""
    before = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.configure(wrapper_class=before)


def _explain(failures: list[dict]) -> str:
    return "\n".join(f"{f['operation']} as {f['role']}: {f['why']}\n    {f['curl']}"
                     for f in failures[:20])


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_this_role_within_the_contract(role, db, tmp_path,
                                                              quiet_access_log):
    app, settings, world = build(db, tmp_path)
    assert set(principals(world)) == set(ROLES)
    fuzzer = Fuzzer(app, db, settings, world)
    report = fuzzer.run(examples=EXAMPLES.get(role, DEFAULT_EXAMPLES), seed=SEED, roles=[role])
    assert report.operations >= 100, "the schema lost operations"
    assert report.requests >= report.operations  # each operation was called at least once
    assert report.with_key > 0, "the schema no longer declares Idempotency-Key"
    assert report.hostile >= 2 * 40, "nested and oversized bodies were not sent"
    assert report.server_errors == 0, _explain(report.failures)
    assert report.failures == [], _explain(report.failures)
    audit_clean(db)  # whatever the fuzzer managed to write, the books still balance


def test_the_checker_accepts_a_problem_detail_with_a_code():
    body = b'{"type": "t", "title": "x", "status": 404, "detail": "d", "code": "not_found"}'
    assert problem_failure(404, {"content-type": "application/problem+json"}, body) is None
    assert problem_failure(200, {"content-type": "application/json"}, b"{}") is None


@pytest.mark.parametrize("status,ctype,body,why", [
    (500, "application/problem+json", b'{"code": "internal_error", "status": 500}', "server"),
    (400, "application/json", b'{"status_code": 400, "detail": "x"}', "not application/pro"),
    (404, "application/problem+json", b'{"status": 404, "detail": "x"}', "without a code"),
    (409, "application/problem+json", b'{"status": 400, "code": "x"}', "differs"),
    (422, "application/problem+json", b"<html>", "not JSON"),
])
def test_the_checker_flags_errors_outside_the_contract(status, ctype, body, why):
    assert why in problem_failure(status, {"content-type": ctype}, body)
