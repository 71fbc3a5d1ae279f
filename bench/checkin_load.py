"""Check-in load test: 2,000 volunteers check in and out of one activity within one minute
through the real HTTP API (uvicorn in a subprocess, PostgreSQL), after a rising rate of check-ins
and check-outs (each volunteer out a second after in) to find the highest one served with p99
under 100 ms; afterwards it proves every attendance was paid exactly once and that the ledger
audit is clean. First, on the same server, pgbench's TPC-B at 8 clients: the highest sustained
check-in+out rate is printed as a ratio of it, so that runs on different machines compare.
Not part of the test run:

    .venv/bin/python -m bench.checkin_load [--volunteers 2000] [--workers 2] [--rates 50,100,…]

Environment: JIFEN_BENCH_PG_URL (an admin URL; default postgresql+psycopg://postgres@127.0.0.1
:5432/postgres). A scratch database is created and dropped. See bench/README-checkins.md.
(Over 400 lines: one script whose steps read top to bottom.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text

from api.auth import Principal
from bench import loadgen
from bench.cpu import CpuUse
from ledger.activities import planning
from ledger.activities.models import Attendance, PointsState
from ledger.activities.planning import ActivityDraft, Actor
from ledger.config import Settings
from ledger.db import Database
from ledger.journal import ddl
from ledger.journal import service as journal
from ledger.journal.models import Account, HolderType, JournalEntry, Purpose, Unit
from ledger.models import metadata
from ledger.registry import service as registry
from ledger.registry.models import Person, Town, Village
from ledger.rules import store
from ledger.rules.models import AwardRecord
from ledger.timeutil import utcnow
from tests.tokens import bearer

ADMIN_URL = os.environ.get("JIFEN_BENCH_PG_URL",
                           "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ORGANIZER = 700
POINTS_PER_ATTENDANCE = 3
P99_TARGET_MS = 100.0
STEP_SECONDS = 10
OUT_AFTER_S = 1.0
WARMUP_VOLUNTEERS = 20
TPCB_CLIENTS = 8
CONNECTIONS = 400  # the generator's open connections at most
ADDRESSES = 1024  # volunteers' phones come from many addresses (X-Forwarded-For)
CATALOG = """
catalog:
  code: bench
  name: 压测目录
  town: 宝盖镇
  effective_from: 2024-01-01
  approval: {approved_by: 压测, decision: 压测〔2026〕1号}
  subjects: [person]
  recorders: [organizer, admin]
categories:
  - code: A
    name: 志愿服务
    items:
      - {code: P1, name: 参加志愿服务活动, points: 3, subjects: [person]}
"""


def scratch_db() -> tuple[str, str]:
    name = f"jifen_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_db(name: str) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def seed(db: Database, settings: Settings, people: int,
         started_ago: timedelta = timedelta(minutes=5)) -> tuple[int, list[int], int]:
    """Schema, a town with one village, `people` volunteers, a catalog, a budget, and an open
    activity that started `started_ago` (five minutes) ago."""
    metadata.create_all(db.engine)
    with db.engine.begin() as c:
        for stmt in ddl.statements("postgresql"):
            c.exec_driver_sql(stmt)
    now = utcnow()
    with db.transaction() as s:
        town = Town(name="宝盖镇", city="石狮市", prefecture="泉州市", created_at=now)
        s.add(town)
        s.flush()
        village = Village(town_id=town.id, name="塘后村", kind="village", created_at=now)
        s.add(village)
        s.flush()
        rows = [{"village_id": village.id, "name": f"志愿者{i}", "is_volunteer": True,
                 "created_at": now} for i in range(people)]
        s.execute(Person.__table__.insert(), rows)
        ids = list(s.scalars(select(Person.id).order_by(Person.id)))
        registry.open_points_accounts(s, "person", ids, now=now)  # as the registry does
        town_id, village_id = town.id, village.id
    store.import_catalog(db, CATALOG, actor_id=1, town_id=town_id)
    journal.allocate(db, shards=settings.budget_shards, town_id=town_id, village_id=village_id,
                     amount=10**9, actor_id=1, key=None)
    org = Actor(ORGANIZER, roles=(("organizer", village_id),))
    act = planning.create_activity(db, org, ActivityDraft(
        village_id=village_id, title="压测：家园清洁", rule_item_code="P1",
        starts_at=now - started_ago, ends_at=now + timedelta(hours=3)), now=now)
    planning.set_status(db, org, act.id, "open", now=now)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE"))  # autovacuum is off on these machines
    return act.id, ids, village_id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(url: str, secret: str, data_dir: Path, port: int, redis_url: str | None) -> dict:
    """Embedded mode (no Redis: memory limiter, follow-up work in the API process after each
    commit) or production mode (Redis limiter and boards, follow-up work on a Celery worker)."""
    env = {**os.environ, "JIFEN_DATABASE_URL": url, "JIFEN_SECRET_KEY": secret,
           "JIFEN_DATA_DIR": str(data_dir), "JIFEN_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "JIFEN_CELERY_QUEUE": f"bench-{uuid.uuid4().hex[:8]}"}
    env.pop("JIFEN_REDIS_URL", None)
    env.pop("JIFEN_TASKS", None)
    if redis_url:
        env["JIFEN_REDIS_URL"] = redis_url  # JIFEN_TASKS defaults to celery
    return env


def drop_redis(env: dict, redis_url: str, db_name: str) -> None:
    """Production mode, at the end: what the run left in Redis but its rate limits' counters
    (they expire): its Celery queue and bindings (each run names its own queue, `server_env`),
    with any message no worker took, and the boards and users' states kept under its scratch
    database's name."""
    import redis
    r = redis.Redis.from_url(redis_url)
    queue = env["JIFEN_CELERY_QUEUE"]
    r.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}",
             *r.scan_iter(match=f"jifen:*{db_name}:*", count=1000))


def start_workers(env: dict, log: Path) -> list[subprocess.Popen]:
    """Production mode: one Celery worker (the outbox's tasks) and beat (the roll-ups)."""
    base = [sys.executable, "-m", "celery", "-A", "workers.celery_app"]
    queue = env["JIFEN_CELERY_QUEUE"]
    return [subprocess.Popen(base + args, env=env, stdout=subprocess.DEVNULL,
                             stderr=(log.parent / f"{name}.log").open("w"))
            for name, args in (("worker", ["worker", "-Q", queue, "--concurrency", "1",
                                           "--loglevel", "WARNING", "--without-gossip",
                                           "--without-mingle"]),
                               ("beat", ["beat", "--loglevel", "WARNING", "-s",
                                         str(log.parent / "beat-schedule")]))]


def start_server(env: dict, port: int, workers: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", "api.asgi:app", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--log-level", "warning",
           "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1",
           "--timeout-keep-alive", "75"]  # as behind a load balancer
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"server exited; see {log}")
        time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("server did not become ready")


class Load:
    """Open-loop requests at scheduled instants; latencies and errors kept per kind."""

    def __init__(self, base: str, db: Database, settings: Settings, activity_id: int) -> None:
        self.base, self.db, self.settings, self.activity_id = base, db, settings, activity_id
        self.client = None  # made in `run`, inside the event loop
        org = Principal(ORGANIZER, roles=(("organizer", None),))
        self.org_headers = bearer(db, settings, org)
        self.token = ""
        self.lat: dict[str, list[float]] = {}
        self.sent: list[tuple[float, float]] = []  # (perf_counter when sent, ms) a request
        self.errors: dict[str, int] = {}

    async def refresh_code(self, stop: asyncio.Event) -> None:
        """What the organizer's screen does: fetch the current code every few seconds."""
        while not stop.is_set():
            why = ""  # the screen retries at its next refresh
            try:
                status, body = await loadgen.get(
                    self.client, f"/api/v1/activities/{self.activity_id}/checkin-code",
                    headers=self.org_headers)
                if status == 200:
                    self.token = json.loads(body)["token"]
                else:
                    why = f"code:{status}"
            except loadgen.ERRORS as exc:
                why = f"code:{type(exc).__name__}"
            if why:
                self.errors[why] = self.errors.get(why, 0) + 1
            try:
                await asyncio.wait_for(stop.wait(), timeout=5)
            except TimeoutError:
                pass

    def headers(self, person_id: int) -> dict:
        p = Principal(10_000 + person_id, roles=(("volunteer", None),), person_id=person_id)
        return {**bearer(self.db, self.settings, p),
                "X-Forwarded-For": f"10.{person_id % ADDRESSES // 256}.{person_id % 256}.9"}

    async def scan(self, kind: str, person_id: int, at: float, headers: dict) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        body = {"action": "out"} if kind == "out" else {}
        t = time.perf_counter()
        why = ""
        try:
            status, answer = await loadgen.post_json(self.client, f"/api/v1/c/{self.token}",
                                                     body, headers)
            if status != 200:
                why = json.loads(answer).get("code", str(status))
            elif json.loads(answer)["action"] != ("check_out" if kind == "out" else "check_in"):
                why = "repeated"
        except loadgen.ERRORS as exc:
            why = type(exc).__name__
        self.lat.setdefault(kind, []).append((time.perf_counter() - t) * 1000)
        self.sent.append((t, self.lat[kind][-1]))
        if why:
            self.errors[f"{kind}:{why}"] = self.errors.get(f"{kind}:{why}", 0) + 1

    async def run(self, plan: list[tuple[str, int, float]],
                  started: Callable[[], None] | None = None) -> float:
        """plan: (kind, person, seconds from start); returns the wall time taken. `started` is
        called when the volunteers' sign-ins are made, just before the first request."""
        stop = asyncio.Event()
        self.client = loadgen.session(self.base, CONNECTIONS)
        refresher = asyncio.create_task(self.refresh_code(stop))
        while not self.token:
            await asyncio.sleep(0.05)
        heads = {p: self.headers(p) for _, p, _ in plan}
        if started is not None:
            started()
        t0 = time.monotonic() + 0.5
        await asyncio.gather(*(self.scan(k, p, t0 + at, heads[p]) for k, p, at in plan))
        took = time.monotonic() - t0  # from the first scheduled request to the last answer
        stop.set()
        await refresher
        await self.client.close()
        return took


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def slow_seconds(sent: list[tuple[float, float]], over_ms: float = 50.0, top: int = 5) -> str:
    """Where in the minute the requests over `over_ms` were: the seconds (from the first
    request) holding most of them, with how many requests were sent in each: a tail made by
    the busiest seconds (CPU saturated) reads differently from one spread thin (pauses)."""
    if not sent:
        return "no requests"
    t0 = min(t for t, _ in sent)
    by_second: dict[int, list[int]] = {}
    for t, ms in sent:
        got = by_second.setdefault(int(t - t0), [0, 0])
        got[0] += 1
        got[1] += ms > over_ms
    slow = sum(n for _, n in by_second.values())
    worst = sorted(by_second.items(), key=lambda kv: -kv[1][1])[:top]
    parts = ", ".join(f"{sec}-{sec + 1} s {n} of {sent_n}" for sec, (sent_n, n) in worst if n)
    return f"requests over {over_ms:.0f} ms: {slow}; most in (second: slow of sent) {parts or '-'}"


def step_plan(people: list[int], rate: int) -> list[tuple[str, int, float]]:
    """`rate` requests a second, half check-ins and half check-outs: volunteer j checks in at
    2j/rate s and out OUT_AFTER_S later."""
    plan = []
    for j, p in enumerate(people):
        plan += [("in", p, 2 * j / rate), ("out", p, 2 * j / rate + OUT_AFTER_S)]
    return plan


def minute_plan(people: list[int], rnd: random.Random) -> list[tuple[str, int, float]]:
    """Check-ins spread over the first 30 s, each check-out 20–30 s after its check-in."""
    plan = []
    for p in people:
        t_in = rnd.uniform(0, 30)
        plan += [("in", p, t_in), ("out", p, t_in + rnd.uniform(20, 29.5))]
    return plan


PAY_PATIENCE_S = 120.0


async def wait_paid(db: Database, people: list[int]) -> float | None:
    """Production mode answers a check-out with its points due and a worker pays them: wait
    until none is due (None after PAY_PATIENCE_S)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < PAY_PATIENCE_S:
        with db.sessions() as s:
            due = s.scalar(select(func.count()).select_from(Attendance).where(
                Attendance.person_id.in_(people), Attendance.points_state == PointsState.DUE))
        if not due:
            return time.monotonic() - t0
        await asyncio.sleep(0.2)
    return None


def verify(db: Database, people: list[int]) -> dict:
    """Every checked-out attendance paid exactly once, nobody paid twice; the audit clean."""
    with db.sessions() as s:
        atts = s.execute(select(Attendance.person_id, Attendance.state, Attendance.points_state)
                         .where(Attendance.person_id.in_(people))).all()
        per = dict(s.execute(select(AwardRecord.holder_id, func.count()).where(
            AwardRecord.holder_id.in_(people)).group_by(AwardRecord.holder_id)).all())
        balances = dict(s.execute(select(Account.holder_id, Account.balance).where(
            Account.unit == Unit.POINTS, Account.holder_type == HolderType.PERSON,
            Account.purpose == Purpose.POINTS, Account.holder_id.in_(people))).all())
        award_entries = s.scalar(select(func.count()).select_from(JournalEntry).where(
            JournalEntry.kind == "award", JournalEntry.source == "rule"))
        # How long a volunteer waited for the points after the check-out was answered: the
        # attendance notes the award (updated_at) in the award's own transaction.
        delays = [(u - o).total_seconds() * 1e3 for o, u in s.execute(
            select(Attendance.check_out_at, Attendance.updated_at).where(
                Attendance.person_id.in_(people),
                Attendance.points_state == PointsState.AWARDED)).all()]
    out = [a.person_id for a in atts if a.state == "checked_out"]
    report = journal.audit(db)
    return {
        "attendances": len(atts), "checked_out": len(out),
        "paid": sum(1 for a in atts if a.points_state == PointsState.AWARDED),
        "paid_exactly_once": all(per.get(p) == 1 and balances.get(p) == POINTS_PER_ATTENDANCE
                                 for p in out),
        "paid_twice": sum(1 for n in per.values() if n > 1),
        "award_entries": award_entries,
        "points_after_check_out_ms": {"p50": round(pct(delays, 50), 1),
                                      "p99": round(pct(delays, 99), 1),
                                      "max": round(max(delays), 1)} if delays else None,
        "audit_ok": report["ok"], "audit_violations": report["violations"][:5],
    }


def summary_line(name: str, load: Load, took: float, n: int) -> str:
    lat = [v for k in ("in", "out") for v in load.lat.get(k, [])]
    return (f"{name}: {n} requests in {took:.1f} s = {n / took:.0f} req/s; "
            f"p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms; "
            f"errors {sum(load.errors.values())} {load.errors or ''}")


async def main_async(args) -> int:
    name, url = scratch_db()
    tmp = Path(tempfile.mkdtemp(prefix="jifen-bench-"))
    secret = uuid.uuid4().hex + uuid.uuid4().hex
    settings = Settings(database_url=url, redis_url=None, secret_key=secret, data_dir=tmp,
                        budget_shards=8)
    rates = [int(r) for r in args.rates.split(",")]
    need = args.volunteers + WARMUP_VOLUNTEERS + sum(r * STEP_SECONDS // 2 for r in rates)
    db = Database(url)
    proc, helpers, env = None, [], {}
    try:
        tpcb_tps = 0.0
        if args.tpcb_seconds > 0:
            from bench.tpcb import tpcb_rate
            tpcb_tps = tpcb_rate(ADMIN_URL, args.tpcb_seconds, TPCB_CLIENTS)
            print(f"pgbench TPC-B on this server, {TPCB_CLIENTS} clients, {args.tpcb_seconds} s: "
                  f"{tpcb_tps:.0f} tps")
        act_id, ids, _ = seed(db, settings, need)
        port = free_port()
        env = server_env(url, secret, tmp, port, args.redis_url if args.tasks == "celery"
                         else None)
        helpers = start_workers(env, tmp / "server.log") if args.tasks == "celery" else []
        proc = start_server(env, port, args.workers, tmp / "server.log")
        print(f"server: {args.workers} uvicorn worker(s), tasks {args.tasks}"
              + (f" (Celery worker and beat, Redis {args.redis_url})" if helpers else
                 " (in the API process, memory limiter)"))
        best, offset = 0, args.volunteers + WARMUP_VOLUNTEERS
        # Not measured: a fresh server's first scans open its connections, prepare its
        # statements and fill its caches (the first step's p99 was 70-120 ms, the next 25 ms).
        warm = Load(f"http://127.0.0.1:{port}", db, settings, act_id)
        await warm.run(step_plan(ids[args.volunteers:offset], 10))
        print(f"warm-up: {WARMUP_VOLUNTEERS} volunteers in and out at 10/s (not measured)"
              + (f", errors {warm.errors}" if warm.errors else ""))
        for rate in rates:  # on a fresh server first: check-ins and -outs, rising rate
            group = ids[offset:offset + rate * STEP_SECONDS // 2]
            offset += len(group)
            step = Load(f"http://127.0.0.1:{port}", db, settings, act_id)
            plan = step_plan(group, rate)
            took = await step.run(plan)
            v = step.lat.get("in", []) + step.lat.get("out", [])
            # The plan's own rate: its last check-out comes OUT_AFTER_S after the last check-in,
            # so it offers a little under `rate` (9.3/s for 10/s); kept up with when the answers
            # end within 10 % of the plan's span.
            offered = len(plan) / max(at for _, _, at in plan)
            achieved = len(plan) / took
            ok = pct(v, 99) < P99_TARGET_MS and not step.errors and achieved >= 0.9 * offered
            print(f"check-in+out rate {rate}/s for {STEP_SECONDS} s: offered {offered:.1f}/s, "
                  f"achieved {achieved:.1f}/s, "
                  f"p50 {pct(v, 50):.1f} ms, p99 {pct(v, 99):.1f} ms, "
                  f"errors {sum(step.errors.values())} {step.errors or ''} "
                  f"{'ok' if ok else 'OVER'}")
            if not ok:
                break
            best = rate
        ratio = f" = {best / tpcb_tps:.3f} of TPC-B ({tpcb_tps:.0f} tps)" if tpcb_tps else ""
        print(f"highest check-in+out rate with p99 < {P99_TARGET_MS:.0f} ms: {best}/s{ratio}")
        await asyncio.sleep(5)
        rnd = random.Random(7)
        minute = ids[:args.volunteers]
        load = Load(f"http://127.0.0.1:{port}", db, settings, act_id)
        cpu = CpuUse(ADMIN_URL, name, {"API": [proc.pid], **(
            {"tasks": [h.pid for h in helpers]} if helpers else {})})
        took = await load.run(minute_plan(minute, rnd), started=cpu.start)
        cpu.stop()
        print(summary_line(f"one minute, {len(minute)} volunteers in and out", load, took,
                           2 * len(minute)))
        print(f"  {cpu.line(len(minute), 'volunteer (in and out)')}")
        for kind in ("in", "out"):
            v = load.lat.get(kind, [])
            print(f"  {kind:>3}: p50 {pct(v, 50):.1f} ms, p99 {pct(v, 99):.1f} ms")
        print(f"  {slow_seconds(load.sent)}")
        waited = await wait_paid(db, minute)
        print(f"  points due after the last answer: all paid {waited:.1f} s later"
              if waited is not None else
              f"  points still due {PAY_PATIENCE_S:.0f} s after the last answer")
        check = verify(db, minute)
        print(f"  verified: {check}")
        final = journal.audit(db)
        print(f"audit after all steps: {'clean' if final['ok'] else 'FAILED'}")
        good = check["paid_exactly_once"] and not check["paid_twice"] and check["audit_ok"] \
            and final["ok"] and not load.errors
        return 0 if good else 1
    finally:
        for h in helpers:
            h.terminate()
            try:
                h.wait(timeout=15)
            except subprocess.TimeoutExpired:
                h.kill()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:  # keep-alive connections hold a graceful stop
                proc.kill()
                proc.wait(timeout=15)
        db.dispose()
        drop_db(name)
        if helpers:
            drop_redis(env, args.redis_url, name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--volunteers", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rates", default="10,20,40,60,80,100,150,200,300,400",
                    help="requests per second (check-ins and check-outs) of the rising steps")
    ap.add_argument("--tpcb-seconds", type=int, default=10,
                    help="length of the TPC-B run beside it (0: skip)")
    ap.add_argument("--tasks", choices=("inline", "celery"), default="inline",
                    help="inline: embedded mode; celery: production mode with Redis, a worker "
                         "and beat")
    ap.add_argument("--redis-url", default=os.environ.get("JIFEN_BENCH_REDIS_URL",
                                                          "redis://127.0.0.1:6379/14"))
    ap.add_argument("--other-work", type=float, default=0.0, metavar="CORES",
                    help="CPU-bound processes worth CORES cores running beside the whole "
                         "bench, TPC-B included (the issue's loaded machine of TPC-B ~2,000)")
    args = ap.parse_args()
    from bench.tpcb import other_work
    with other_work(args.other_work):
        sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
