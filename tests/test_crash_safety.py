"""Crash safety: the real server (uvicorn, two worker processes) on PostgreSQL, driven by parallel
clients doing check-ins, manual awards and redemptions with idempotency keys, is killed with
SIGKILL in the middle of the load and restarted. Clients retry every request that was not
acknowledged, with the same key. Then: the audit is clean, every request is in the ledger
exactly once (acknowledged before the crash or after the retry), and nothing is half-applied.

CI runs a short load with two kills. The long run is the same test with bigger numbers:
    JIFEN_CRASH_CLIENTS=8 JIFEN_CRASH_STEPS=150 JIFEN_CRASH_KILLS=10 \\
        .venv/bin/python -m pytest -q tests/test_crash_safety.py -s
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from api.auth import Principal
from bench.fuzz import SECRET, build_settings, seed_world
from ledger.activities import tokens
from ledger.activities.models import Attendance
from ledger.journal import service as journal
from ledger.journal.models import Hold, JournalEntry
from ledger.redemption.models import RedemptionOrder, Reward, Voucher
from ledger.rules.models import AwardRecord
from ledger.timeutil import utcnow
from tests.conftest import audit_clean
from tests.tokens import token_for
from tests.procs import kill_group, stop_group

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = int(os.environ.get("JIFEN_CRASH_CLIENTS", "6"))
STEPS = int(os.environ.get("JIFEN_CRASH_STEPS", "16"))  # awards + orders per client
KILLS = int(os.environ.get("JIFEN_CRASH_KILLS", "2"))
DEADLINE_S = float(os.environ.get("JIFEN_CRASH_DEADLINE_S", "240"))
COST = 10  # points per reward


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`uvicorn api.asgi:app` with two workers, in its own process group (so SIGKILL takes the
    whole server down at once, as a power cut or an OOM kill of the container would)."""

    def __init__(self, db_url: str, tmp: Path) -> None:
        self.port, self.tmp = _free_port(), tmp
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "JIFEN_DATABASE_URL": db_url, "JIFEN_SECRET_KEY": SECRET,
                    "JIFEN_DATA_DIR": str(tmp), "JIFEN_BUDGET_SHARDS": "4",
                    "PYTHONPATH": str(ROOT)}
        self.env.pop("JIFEN_REDIS_URL", None)
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.tmp / f"server-{self.starts}.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.asgi:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "2", "--log-level", "warning"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited at start:\n{self.output()}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not become ready:\n{self.output()}")

    def kill(self) -> None:
        kill_group(self.proc)

    def stop(self) -> None:
        stop_group(self.proc)

    def output(self) -> str:
        return "".join(p.read_text(errors="replace")[-3000:]
                       for p in sorted(self.tmp.glob("server-*.log")))


@dataclass
class Tally:
    acked: int = 0
    retried: int = 0  # requests that failed on the wire and were sent again
    errors: list = field(default_factory=list)
    adjust: dict = field(default_factory=dict)  # key → (person, amount, entry_id)
    orders: dict = field(default_factory=dict)  # key → order_id
    scans: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client(threading.Thread):
    """One volunteer and the village admin who awards them, sending their plan in order and
    retrying any request that got no answer, with the same Idempotency-Key."""

    def __init__(self, i: int, server: Server, db, settings, world: dict, tally: Tally,
                 end: float) -> None:
        super().__init__(daemon=True)
        self.i, self.server, self.world, self.tally, self.end = i, server, world, tally, end
        self.person = world["person_ids"][i]
        vol = Principal(20_000 + i, "志愿者", (("volunteer", None),), person_id=self.person)
        adm = Principal(30_000 + i, "村管理员", (("village_admin", world["village_ids"][0]),))
        self.auth = {"vol": f"Bearer {token_for(db, settings, vol)}",
                     "adm": f"Bearer {token_for(db, settings, adm)}"}

    def plan(self):
        yield "scan", "in", None
        for n in range(STEPS):
            if n % 2 == 0:
                yield "adjust", f"adj-{self.i}-{n}", 1 + n % 5
            else:
                yield "order", f"ord-{self.i}-{n}", None
        yield "scan", "out", None

    def request(self, kind: str, key: str, amount: int | None) -> tuple[str, str, dict, dict]:
        v1 = self.world["village_ids"][0]
        if kind == "adjust":
            return ("/api/v1/ledger/adjustments", "adm", {"Idempotency-Key": key}, {
                "village_id": v1, "holder_type": "person", "holder_id": self.person,
                "amount": amount, "memo": f"crash {key}"})
        if kind == "order":
            return ("/api/v1/redemption/orders", "vol", {"Idempotency-Key": key},
                    {"reward_id": self.world["reward_id"], "quantity": 1})
        token, _ = tokens.rotating_token(SECRET, self.world["activity_id"],
                                         tokens.DEFAULT_ROTATE_S, utcnow())
        return f"/api/v1/c/{token}", "vol", {}, {"action": key}

    def send(self, kind: str, key: str, amount: int | None) -> dict:
        tries = 0
        while time.monotonic() < self.end:
            path, who, headers, body = self.request(kind, key, amount)
            try:
                r = httpx.post(self.server.url + path, json=body, timeout=15,
                               headers={**headers, "Authorization": self.auth[who]})
            except httpx.HTTPError:
                tries += 1
                time.sleep(0.05 * min(tries, 10))  # the server is down: wait, then retry
                continue
            if r.status_code >= 500 or r.status_code == 429:
                tries += 1
                time.sleep(0.1)
                continue
            with self.tally.lock:
                self.tally.acked += 1
                self.tally.retried += 1 if tries else 0
            if r.status_code >= 400:
                raise AssertionError(f"{kind} {key} refused: {r.status_code} {r.text}")
            return r.json()
        raise AssertionError(f"{kind} {key} never acknowledged before the deadline")

    def run(self) -> None:
        try:
            for kind, key, amount in self.plan():
                out = self.send(kind, key, amount)
                with self.tally.lock:
                    if kind == "adjust":
                        self.tally.adjust[key] = (self.person, amount, out["entry_id"])
                    elif kind == "order":
                        self.tally.orders[key] = out["order_id"]
                    else:
                        self.tally.scans[(self.person, key)] += 1
        except Exception as exc:  # noqa: BLE001 - reported by the test thread
            with self.tally.lock:
                self.tally.errors.append(f"client {self.i}: {exc}")


def _killer(server: Server, tally: Tally, total: int, stop: threading.Event,
            kills: list) -> None:
    """SIGKILL the server at evenly spaced points of the load, restart it at once."""
    marks = [total * (k + 1) // (KILLS + 1) for k in range(KILLS)]
    for mark in marks:
        while tally.acked < mark and not stop.is_set():
            time.sleep(0.01)
        if stop.is_set():
            return
        server.kill()
        kills.append(tally.acked)
        time.sleep(0.2)
        server.start()


def _check_ledger(db, tally: Tally, world: dict) -> dict:
    with db.sessions() as s:
        # Awards: one entry per request, the one its acknowledgement named.
        memos = Counter(s.scalars(select(JournalEntry.memo).where(
            JournalEntry.memo.like("crash adj-%"))))
        assert set(memos) == {f"crash {k}" for k in tally.adjust}, "an award is missing"
        assert max(memos.values()) == 1, f"awards applied twice: {memos.most_common(3)}"
        ids = set(s.scalars(select(JournalEntry.id).where(JournalEntry.memo.like("crash adj-%"))))
        assert ids == {e for _, _, e in tally.adjust.values()}
        # Redemptions: one order per request, with its voucher, its pending hold and its stock.
        orders = s.scalars(select(RedemptionOrder).where(
            RedemptionOrder.id != world["order_id"])).all()
        assert sorted(o.id for o in orders) == sorted(tally.orders.values()), \
            "an order was made twice or lost"
        vouchers = Counter(s.scalars(select(Voucher.order_id)))
        holds = {h.id: h for h in s.scalars(select(Hold))}
        for o in orders:
            assert vouchers[o.id] == 1 and holds[o.hold_id].amount == o.amount_points == COST
            assert holds[o.hold_id].status == "pending"
        reward = s.get(Reward, world["reward_id"])
        assert reward.reserved == 1 + len(orders) and reward.issued == 0, \
            "reserved stock does not match the orders"
        # Check-ins: one attendance per volunteer, closed, its points settled once.
        atts = s.scalars(select(Attendance)).all()
        assert len(atts) == CLIENTS and all(a.state == "checked_out" for a in atts)
        assert all(a.points_state != "due" for a in atts), "points left half-paid"
        per_holder = dict(s.execute(select(AwardRecord.holder_id, func.count()).where(
            AwardRecord.item_code == "A07").group_by(AwardRecord.holder_id)).all())
        assert all(n == 1 for n in per_holder.values()), f"check-in paid twice: {per_holder}"
        awarded = sum(1 for a in atts if a.points_state == "awarded")
        assert len(per_holder) == awarded
    return {"awards": len(tally.adjust), "orders": len(orders), "attendances": len(atts),
            "attendances_awarded": awarded}


@pytest.mark.postgres
def test_server_killed_mid_load_loses_nothing_and_applies_nothing_twice(pg_server, pg_db,
                                                                        tmp_path):
    settings = build_settings(pg_db, tmp_path)
    world = seed_world(pg_db, settings, people=CLIENTS)
    for pid in world["person_ids"]:  # enough points for every order the plan makes
        journal.adjust(pg_db, shards=settings.budget_shards, village_id=world["village_ids"][0],
                       holder_type="person", holder_id=pid, amount=COST * STEPS, memo="预存积分",
                       actor_id=1, key=None)
    server = Server(pg_server.url, tmp_path)
    server.start()
    tally, stop, kills = Tally(), threading.Event(), []
    end = time.monotonic() + DEADLINE_S
    clients = [Client(i, server, pg_db, settings, world, tally, end) for i in range(CLIENTS)]
    total = CLIENTS * (STEPS + 2)
    killer = threading.Thread(target=_killer, args=(server, tally, total, stop, kills),
                              daemon=True)
    started = time.monotonic()
    try:
        killer.start()
        for c in clients:
            c.start()
        for c in clients:
            c.join(max(1, end - time.monotonic()))
        stop.set()
        killer.join(30)
        assert not tally.errors, "\n".join(tally.errors) + "\n" + server.output()
        assert tally.acked == total
        assert len(kills) == KILLS, f"the server was killed {len(kills)} times, not {KILLS}"
        figures = _check_ledger(pg_db, tally, world)
        report = audit_clean(pg_db)
    finally:
        stop.set()
        server.stop()
    print(f"\ncrash safety: {total} requests, {len(kills)} SIGKILLs at acks {kills}, "
          f"{tally.retried} retried after no answer, {figures}, entries lost 0, "
          f"audit ok ({report.get('entries', '?')} entries), "
          f"{time.monotonic() - started:.1f} s")
