"""`jifen serve` without Celery runs the periodic jobs itself: started on a database with a
voucher long expired, the service expires it (and gives the points back) with nothing else
started. `jifen serve --lan` binds this machine's address and puts it in its QR codes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from api.cli import lan_address
from ledger import migrate
from ledger.db import Database
from ledger.redemption.models import Voucher
from ledger.redemption.service import redeem
from ledger.timeutil import utcnow
from tests.builders.redemption import (
    give_points,
    make_person,
    make_reward,
    make_shop,
    make_town,
    points,
)

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 40
SECRET = "serve-" + "k" * 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if k not in ("JIFEN_REDIS_URL", "JIFEN_TASKS", "JIFEN_PUBLIC_URL")}
    env.update(JIFEN_DATABASE_URL=f"sqlite:///{tmp_path / 'jifen.sqlite3'}",
               JIFEN_DATA_DIR=str(tmp_path), JIFEN_SECRET_KEY=SECRET)
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - the process keeps it
    return subprocess.Popen([sys.executable, "-m", "api.cli", "serve", *args], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_serve_runs_the_periodic_jobs_without_celery(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'jifen.sqlite3'}")
    migrate.upgrade(db)
    t = make_town(db, villages=1)
    person = make_person(db, t["villages"][0])
    give_points(db, "person", person, t["villages"][0], 100)
    shop = make_shop(db, t["town"])
    rice = make_reward(db, shop, name="大米一袋", cost_points=30)
    order = redeem(db, reward_id=rice.id, holder_type="person", holder_id=person,
                   quantity=1, actor_id=person, key=None, now=utcnow() - timedelta(days=30))
    assert points(db, "person", person)["available"] == 70
    proc = _serve(tmp_path, "--port", str(_free_port()))
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            with db.sessions() as s:
                status = s.query(Voucher).filter_by(code=order.voucher.code).one().status
            if status != "issued" or time.monotonic() > deadline or proc.poll() is not None:
                break
            time.sleep(0.5)
    finally:
        _stop(proc)
        db.dispose()
    log = (tmp_path / "serve.log").read_text()
    assert status == "expired", log
    assert "periodic jobs" in log
    db = Database(f"sqlite:///{tmp_path / 'jifen.sqlite3'}")
    assert points(db, "person", person)["available"] == 100
    db.dispose()


def test_lan_mode_binds_this_machines_address_and_puts_it_in_the_qr_codes(tmp_path):
    from api.auth import COOKIE, Principal
    from tests.tokens import token_for
    from ledger.activities import planning
    from ledger.config import Settings
    from ledger.rules import store
    address = lan_address()
    if address == "127.0.0.1":
        pytest.fail("this machine has no network address to test LAN mode with")
    port = _free_port()
    base = f"http://{address}:{port}"
    url = f"sqlite:///{tmp_path / 'jifen.sqlite3'}"
    db = Database(url)
    migrate.upgrade(db)
    store.load_shipped(db)
    village = make_town(db, villages=1)["villages"][0]
    organizer = planning.Actor(user_id=77, roles=(("organizer", village),))
    now = utcnow()
    act = planning.create_activity(db, organizer, planning.ActivityDraft(
        village_id=village, title="河道清理", rule_item_code="A07", starts_at=now,
        ends_at=now + timedelta(hours=2)))
    planning.set_status(db, organizer, act.id, "open")
    settings = Settings(database_url=url, redis_url=None, secret_key=SECRET, data_dir=tmp_path,
                        public_base_url=base)
    token = token_for(db, settings, Principal(user_id=77, name="组织者",
                                              roles=(("organizer", village),)))
    db.dispose()
    proc = _serve(tmp_path, "--lan", "--port", str(port))
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        qr = httpx.get(f"{base}/org/activities/{act.id}/qr", cookies={COOKIE: token})
        assert qr.status_code == 200
        assert f"{base}/c/" in qr.text and "127.0.0.1" not in qr.text
    finally:
        _stop(proc)
