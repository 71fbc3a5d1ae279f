"""Dependency faults. Redis down: check-ins, awards and redemptions keep working on the database
alone; rate limits fall back to each process's memory (still enforced); live rankings answer a
503 problem (leaderboard_unavailable) and come back once Redis does. Broker down: postings
commit, their follow-up tasks wait in the outbox and run once the broker is back.

Each test starts its own redis-server on a free port and kills it with SIGKILL, so the fault is
real (connection refused), not a mock."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from api.auth import Principal
from bench.fuzz import SECRET, seed_world
from ledger import outbox
from ledger.activities import tokens
from ledger.config import Settings
from ledger.journal import queries
from ledger.journal.accounts import open_account
from ledger.outbox import OutboxRow
from ledger.recognition import leaderboards, rollups
from ledger.recognition.tasks import rebuild_all
from ledger.timeutil import utcnow
from tests.conftest import audit_clean
from tests.tokens import bearer
from tests.test_workers_real import Worker

REDIS_SERVER = shutil.which("redis-server")
SEND_GIVES_UP_S = 3  # a request whose commit's tasks cannot reach the broker still answers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test alone, on a port nobody else uses."""

    def __init__(self, tmp: Path) -> None:
        if REDIS_SERVER is None:
            pytest.fail("redis-server is not installed (make sysdeps installs it)")
        self.port, self.tmp = _free_port(), tmp
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError("private redis-server did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)


@pytest.fixture
def private_redis(tmp_path):
    servers: list[PrivateRedis] = []

    def make() -> PrivateRedis:
        servers.append(PrivateRedis(tmp_path).start())
        return servers[-1]

    yield make
    for s in servers:
        if s.proc and s.proc.poll() is None:
            s.kill()


def _app(db, tmp_path, redis_url: str):
    from litestar.testing import TestClient

    from api.app import create_app
    settings = Settings(database_url=db.url, redis_url=redis_url, secret_key=SECRET,
                        data_dir=tmp_path, public_base_url="http://testserver", budget_shards=4)
    leaderboards.configure(db.engine, redis_url)  # as a production process does (JIFEN_REDIS_URL)
    world = seed_world(db, settings, people=4)
    return TestClient(create_app(settings, db), base_url="http://testserver"), settings, world


def _bearer(db, settings: Settings, p: Principal) -> dict:
    return bearer(db, settings, p)


class Actors:
    def __init__(self, db, settings: Settings, world: dict) -> None:
        self.db, self.settings, self.w = db, settings, world
        v1 = world["village_ids"][0]
        self.admin = _bearer(db, settings, Principal(9002, "村管理员", (("village_admin", v1),)))
        self.town = _bearer(db, settings, Principal(9001, "镇管理员", (("town_admin", None),)))

    def volunteer(self, i: int) -> dict:
        return _bearer(self.db, self.settings, Principal(9100 + i, "志愿者", (("volunteer", None),),
                                                person_id=self.w["person_ids"][i]))

    def award(self, client, i: int, amount: int) -> dict:
        r = client.post("/api/v1/ledger/adjustments", headers={
            **self.admin, "Idempotency-Key": uuid.uuid4().hex}, json={
            "village_id": self.w["village_ids"][0], "holder_type": "person",
            "holder_id": self.w["person_ids"][i], "amount": amount, "memo": "故障演练奖励"})
        assert r.status_code == 201, r.text
        return r.json()

    def scan(self, client, i: int, action: str = "in"):
        tok, _ = tokens.rotating_token(SECRET, self.w["activity_id"], tokens.DEFAULT_ROTATE_S,
                                       utcnow())
        return client.post(f"/api/v1/c/{tok}", headers=self.volunteer(i), json={"action": action})

    def order(self, client, i: int) -> dict:
        r = client.post("/api/v1/redemption/orders", headers={
            **self.volunteer(i), "Idempotency-Key": uuid.uuid4().hex},
            json={"reward_id": self.w["reward_id"], "quantity": 1})
        assert r.status_code == 201, r.text
        return r.json()

    def ranking(self, client):
        return client.get(f"/api/v1/recognition/rankings/village/{self.w['village_ids'][0]}",
                          params={"metric": "points", "period": "month"})


def _scan_until_limited(a: Actors, client, i: int) -> int:
    """Scan as volunteer i until refused; returns how many scans got through."""
    for n in range(40):
        r = a.scan(client, i)
        if r.status_code == 429:
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
            return n
        assert r.status_code == 200, r.text
    raise AssertionError("40 scans in a row were never rate limited")


def _points(db, person_id: int) -> int:
    with db.transaction() as s:
        return queries.account_view(queries.get_account(s, open_account(
            s, holder_type="person", holder_id=person_id, purpose="points")))["balance"]


def _rl_keys(r: PrivateRedis) -> list[bytes]:
    return r.client().keys("jifen:rl:*")


def test_redis_down_writes_go_on_limits_degrade_to_memory_and_rankings_recover(
        db, tmp_path, private_redis):
    r = private_redis()
    client, settings, w = _app(db, tmp_path, r.url)
    a = Actors(db, settings, w)
    person = w["person_ids"]
    with client:
        # Redis up: the limiter counts in Redis, the board is in Redis.
        assert a.scan(client, 0).status_code == 200
        assert _rl_keys(r), "the rate limiter does not use Redis while it is up"
        a.award(client, 0, 7)
        rollups.catch_up(db)
        assert a.ranking(client).status_code == 200

        r.kill()  # --- Redis down -------------------------------------------------------
        before = _points(db, person[1])
        a.award(client, 1, 40)  # awards commit
        assert a.scan(client, 1).json()["action"] == "check_in"  # check-ins commit
        order = a.order(client, 1)  # redemptions commit
        assert order["voucher"]["status"] == "issued"
        assert _points(db, person[1]) == before + 40
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["checks"]["redis"].startswith("down")
        # Rate limiting still holds, from this process's memory.
        assert _scan_until_limited(a, client, 2) == 12
        # Rankings say so, as a problem with its own code, instead of a wrong answer.
        rollups.catch_up(db)
        down = a.ranking(client)
        assert down.status_code == 503, down.text
        assert down.json()["code"] == "leaderboard_unavailable"

        r.start()  # --- Redis back (empty: it kept nothing) ------------------------------
        assert a.scan(client, 3).status_code == 200
        assert _rl_keys(r), "the rate limiter did not go back to Redis"
        rebuild_all(db)  # the nightly rebuild (or the next catch-up) refills the boards
        up = a.ranking(client)
        assert up.status_code == 200, up.text
        values = {e["holder_id"]: e["value"] for e in up.json()["entries"]}
        assert values[person[1]] == _points(db, person[1])  # the award made while down counts
        assert values[person[0]] == _points(db, person[0])
    audit_clean(db)


def test_broker_down_postings_commit_and_their_tasks_run_when_it_returns(
        db, tmp_path, private_redis):
    from workers.celery_app import celery_sender, make_app
    r = private_redis()
    client, settings, w = _app(db, tmp_path, r.url)
    a = Actors(db, settings, w)
    queue = f"jifen-faults-{uuid.uuid4().hex[:8]}"
    broker = make_app(r.url)
    worker = None
    try:
        with client:
            # As the production process does at start (JIFEN_TASKS=celery), on our own queue.
            send = celery_sender(queue, broker)
            outbox.attach(db, send)
            r.kill()  # --- broker down -------------------------------------------------
            before = _points(db, w["person_ids"][0])
            for n in (3, 4, 5):
                started = time.monotonic()
                a.award(client, 0, n)  # commits, though the broker is unreachable
                # ... and answers at once: sending gives up quickly, the relay sends later
                assert time.monotonic() - started < SEND_GIVES_UP_S
            asked = client.post("/api/v1/recognition/stars/recompute", headers={
                **a.town, "Idempotency-Key": uuid.uuid4().hex}, json={})
            assert asked.status_code == 202, asked.text
            assert _points(db, w["person_ids"][0]) == before + 12
            with db.sessions() as s:
                waiting = s.scalars(select(OutboxRow).where(OutboxRow.done_at.is_(None))).all()
            assert waiting, "the follow-up task was lost with the broker"
            assert all(row.attempts == 0 for row in waiting)
            # The relay cannot send either: it leaves the rows for its next round.
            assert outbox.relay(db, lambda ids: send(db.engine, ids), grace=False) == 0

            r.start()  # --- broker back ------------------------------------------------
            worker = Worker(db.url, r.url, queue, tmp_path).start()
            sent = outbox.relay(db, lambda ids: send(db.engine, ids), grace=False)
            assert sent == len(waiting)
            end = time.monotonic() + 120
            while time.monotonic() < end:
                with db.sessions() as s:
                    left = s.scalars(select(OutboxRow.id).where(
                        OutboxRow.done_at.is_(None))).all()
                if not left:
                    break
                time.sleep(0.3)
            assert not left, f"tasks {left} never ran:\n{worker.output()}"
            task = client.get(f"/api/v1/recognition/tasks/{asked.json()['task_id']}",
                              headers=a.town)
            assert task.status_code == 200 and task.json()["state"] == "done", task.text
    finally:
        outbox.attach(db, outbox.inline)
        if worker:
            worker.stop()
    audit_clean(db)
