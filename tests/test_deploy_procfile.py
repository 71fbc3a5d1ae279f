"""deploy/Procfile under honcho, as one production box runs it: two API workers, a Celery
worker and beat, on PostgreSQL and Redis, configured by a .env file. A volunteer checks in
and out through it; the worker pays the points, logging the request id of the check-out that
handed them on; /metrics adds up the API workers; then everything stops.

Needs PostgreSQL and Redis (CI has both; it fails there, never skips)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from ledger.activities.models import Attendance, PointsState
from ledger.config import Settings
from ledger.db import Database
from ledger.registry.models import Person
from tests.conftest import PG_ADMIN_URL
from tests.builders.pages import form_fields, sign_in
from tests.procs import stop_group
from tests.test_pages_checkin import _activity, _code_url
from tests.builders.redemption import make_person
from tests.test_workers_real import redis_url  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STARTUP_S = 40
PAID_WITHIN_S = 20
HEALTH_CHECKS = 20
SECRET = "d" * 43

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BEAT_WAIT_S = 20  # beat's first send of its 5-second entries, after its own start-up


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def empty_pg(pg_server):  # the session's server proves PostgreSQL is there
    name = f"jifen_deploy_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _wait_ready(base: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("the API did not start:\n" + log.read_text()[-3000:])


def test_procfile_serves_a_check_in_paid_by_its_worker_and_stops(tmp_path, empty_pg,
                                                                  redis_url):  # noqa: F811
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    queue = f"deploy-{uuid.uuid4().hex[:6]}"
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join([
        f"JIFEN_DATABASE_URL={empty_pg}", f"JIFEN_REDIS_URL={redis_url}",
        f"JIFEN_SECRET_KEY={SECRET}", f"JIFEN_DATA_DIR={tmp_path / 'var'}",
        f"JIFEN_PUBLIC_URL={base}", f"JIFEN_PORT={port}", "JIFEN_WEB_WORKERS=2",
        "JIFEN_WORKER_CONCURRENCY=1", f"JIFEN_CELERY_QUEUE={queue}",
        "JIFEN_TRUSTED_PROXIES=127.0.0.1",  # nginx on this box, as deploy/env.example says
        f"PROMETHEUS_MULTIPROC_DIR={tmp_path / 'metrics'}", ""]))
    (tmp_path / "var").mkdir()
    (tmp_path / "metrics").mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("JIFEN_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(PATH=f"{BIN}:{env.get('PATH', '')}", PYTHONPATH=str(ROOT))
    log = tmp_path / "honcho.log"
    started = time.monotonic()
    proc = subprocess.Popen([str(BIN / "honcho"), "start", "-f", str(ROOT / "deploy/Procfile"),
                             "-e", str(env_file), "-d", str(ROOT), "--no-colour"],
                            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    db = None
    try:
        _wait_ready(base, proc, log)
        db = Database(empty_pg)
        settings = Settings(database_url=db.url, redis_url=redis_url, secret_key=SECRET,
                            data_dir=tmp_path / "var", public_base_url=base)
        with httpx.Client(base_url=base, follow_redirects=True, timeout=10) as client:
            village, activity_id = _activity(client, db, settings)
            path = _code_url(client, activity_id).replace(base, "")
            person = make_person(db, village)
            with db.transaction() as s:
                s.get(Person, person).is_volunteer = True
            client.cookies.clear()
            sign_in(client, settings, "volunteer", person_id=person, user_id=302, db=db)
            page = client.get(path)
            r = client.post(path, data=form_fields(page.text, path))
            assert "签到成功" in r.text
            rid = f"deploy-{uuid.uuid4().hex[:12]}"
            again = client.get(path)
            r = client.post(path, data=form_fields(again.text, path),
                            headers={"X-Request-ID": rid})
            assert "签退成功" in r.text
            deadline = time.monotonic() + PAID_WITHIN_S
            state = None
            while time.monotonic() < deadline:
                with db.sessions() as s:
                    state = s.scalar(select(Attendance.points_state)
                                     .where(Attendance.person_id == person))
                if state not in (PointsState.DUE, PointsState.NONE):
                    break
                time.sleep(0.3)
            assert state == PointsState.AWARDED, (state, log.read_text()[-3000:])
        requests_made = 0
        for _ in range(HEALTH_CHECKS):  # a new connection each: either API worker answers
            assert httpx.get(f"{base}/health", timeout=5).status_code == 200
            requests_made += 1
        # nginx on this box (the trusted proxy the .env names) tells the caller's address
        httpx.get(f"{base}/health", headers={"X-Forwarded-For": "203.0.113.7"}, timeout=5)
        requests_made += 1
        body = httpx.get(f"{base}/metrics", timeout=5).text
        health = [line for line in body.splitlines()
                  if line.startswith('jifen_http_requests_total{method="GET",route="/health"')]
        # /health answered by whichever process: all counted, by all of them together
        assert sum(float(x.rsplit(" ", 1)[1]) for x in health) >= requests_made + 1
        # the Celery worker's count comes out of the API's /metrics too (the check-out's points
        # ride the outbox task; so does the rollups' catch-up their posting queued)
        runs = [float(x.rsplit(" ", 1)[1]) for x in body.splitlines() if x.startswith(
            'jifen_tasks_total{state="SUCCESS",task="jifen.outbox.run"}')]
        assert runs and runs[0] >= 1, body[-2000:]
        time.sleep(1)  # the worker's task_done line
        lines = [json.loads(x.split("| ", 1)[1]) for x in log.read_text().splitlines()
                 if " worker.1 " in x and "| {" in x]
        done = [x for x in lines if x.get("event") == "task_done"
                and x.get("task") == "jifen.outbox.run"]
        assert any(x["request_id"] == rid for x in done), lines[-5:]
        web = [json.loads(x.split("| ", 1)[1]) for x in log.read_text().splitlines()
               if " web.1 " in x and "| {" in x]
        assert {"route": "/health", "client": "203.0.113.7"}.items() <= {
            k: v for x in web if x.get("client") == "203.0.113.7" for k, v in x.items()}.items()
        # beat's shortest entries run every few seconds: wait for its first send (bounded)
        deadline = time.monotonic() + BEAT_WAIT_S
        while "Scheduler: Sending due task" not in log.read_text() \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "beat" in log.read_text() and "Scheduler: Sending due task" in log.read_text()
    finally:
        if db is not None:
            db.dispose()
        stop_group(proc)
    assert proc.returncode is not None
    assert time.monotonic() - started < 60
