"""Metrics: with PROMETHEUS_MULTIPROC_DIR, the samples of several processes (API workers, the
Celery worker) are added up into one /metrics; the gauges read from the database are measured
by the process that exposes them; logs are JSON lines that carry the request id."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import structlog

from ledger import metrics

ROOT = Path(__file__).resolve().parent.parent


def _child(folder: Path, code: str) -> int:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60,
                         capture_output=True, text=True,
                         env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder),
                              "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.strip())


def test_several_processes_report_as_one(tmp_path):
    inc = ("import os; from ledger.metrics import REQUESTS, AUDIT_OK; "
           "REQUESTS.labels('GET', '/x', '200').inc({n}); AUDIT_OK.set({ok}); print(os.getpid())")
    first = _child(tmp_path, inc.format(n=3, ok=0))
    _child(tmp_path, inc.format(n=4, ok=1))
    text, _ = metrics.exposition(tmp_path)
    body = text.decode()
    assert 'jifen_http_requests_total{method="GET",route="/x",status="200"} 7.0' in body
    assert "jifen_audit_ok 1.0" in body  # the most recent measurement, whoever made it
    # the children are gone: their files are pruned (a restart starts the sums afresh)
    assert metrics.prune_dead_processes(tmp_path) >= 2
    assert not list(tmp_path.glob(f"*_{first}.db"))


def test_metrics_measure_audit_outbox_and_budgets_when_scraped(client, db):
    from ledger import ops
    from tests.builders.recognition import make_world
    w = make_world(db)
    ops.nightly_audit(db)
    body = client.get("/metrics").text
    assert "jifen_audit_ok 1.0" in body
    assert "jifen_outbox_oldest_pending_seconds" in body
    assert f'jifen_budget_available_points{{village_id="{w.villages[0]}"}}' in body


def test_stdlib_and_structlog_lines_are_json_with_the_request_id(capsys):
    from ledger.logs import configure_logging
    configure_logging()
    structlog.contextvars.bind_contextvars(request_id="req-12345678")
    try:
        logging.getLogger("jifen.workers").warning("stdlib line %s", 1)
        structlog.get_logger("jifen.x").info("structlog_line", n=2)
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    std = [x for x in lines if x.get("event") == "stdlib line 1"]
    own = [x for x in lines if x.get("event") == "structlog_line"]
    assert std and std[0]["request_id"] == "req-12345678" and std[0]["logger"] == "jifen.workers"
    assert own and own[0]["request_id"] == "req-12345678" and own[0]["n"] == 2
