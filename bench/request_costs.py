"""What a check-in and a check-out request cost the API process through HTTP, beside the
framework's own floor: where the minute's API CPU goes beyond the scan itself.

    .venv/bin/python -m bench.request_costs                 # 300 volunteers in, then out
    .venv/bin/python -m bench.request_costs --redis-url redis://127.0.0.1:6379/9

One uvicorn worker in production mode (the Redis rate limiter and users' states, the
after-commit hand-over to Celery; no worker consumes the messages, and the run's queue is
deleted at the end), the scratch database `bench.checkin_load` seeds, and requests one after
another (the load generator's CPU is not counted: the figures are the API process's CPU from
`/proc` and the database's backends', a request each). `GET /health` (no database, no Redis)
is the floor of uvicorn, Litestar and the app's middleware. Compare with `bench.checkin_costs`
(the same scans in process, no HTTP): the difference is the request's way in and out (the
token, the user's state, the rate limit, the hand-over, the answer). First, pgbench's TPC-B on
the same server (`--tpcb-seconds`, 0 skips it): each request's CPU is printed in TPC-B
transactions' worth too, so that runs on machines of different speed compare.
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import uuid
from pathlib import Path

import httpx

from bench import checkin_load as load
from bench.cpu import CpuUse
from bench.tpcb import tpcb_rate
from ledger.config import Settings
from ledger.db import Database

WARMUP = 40
CODE_EVERY = 50  # requests between two fetches of the current code (it lives 30 s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.request_costs", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--volunteers", type=int, default=300)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    ap.add_argument("--tpcb-seconds", type=float, default=10)
    args = ap.parse_args(argv)
    tps = tpcb_rate(load.ADMIN_URL, args.tpcb_seconds, load.TPCB_CLIENTS)
    name, url = load.scratch_db()
    tmp = Path(tempfile.mkdtemp(prefix="jifen-requests-"))
    secret = uuid.uuid4().hex + uuid.uuid4().hex
    settings = Settings(database_url=url, redis_url=None, secret_key=secret, data_dir=tmp,
                        budget_shards=8)
    db = Database(url)
    proc = None
    env: dict = {}
    try:
        act_id, ids, _ = load.seed(db, settings, WARMUP + args.volunteers)
        port = load.free_port()
        env = load.server_env(url, secret, tmp, port, args.redis_url)
        proc = load.start_server(env, port, 1, tmp / "server.log")
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        gen = load.Load(f"http://127.0.0.1:{port}", db, settings, act_id)
        heads = {p: gen.headers(p) for p in ids}

        def code() -> str:
            r = client.get(f"/api/v1/activities/{act_id}/checkin-code",
                           headers=gen.org_headers)
            r.raise_for_status()
            return r.json()["token"]

        def scans(people: list[int], action: str) -> None:
            token = ""
            for i, p in enumerate(people):
                if i % CODE_EVERY == 0:
                    token = code()
                r = client.post(f"/api/v1/c/{token}", headers=heads[p],
                                json={"action": "out"} if action == "out" else {})
                if r.status_code != 200:
                    raise RuntimeError(f"{action}: {r.status_code} {r.text[:300]}")

        def measured(label: str, n: int, run) -> None:  # noqa: ANN001
            cpu = CpuUse(load.ADMIN_URL, name, {"API": [proc.pid]})
            cpu.start()
            run()
            cpu.stop()
            api, base = cpu.seconds["API"], cpu.seconds["database"]
            worth = (f"   = {(api + base) / n * tps / (os.cpu_count() or 1):.1f} TPC-B "
                     f"transactions' worth (TPC-B {tps:,.0f} tps)" if tps else "")
            print(f"  {label:<26} API process {api * 1000 / n:6.2f} ms   "
                  f"database {base * 1000 / n:5.2f} ms   a request{worth}")

        warm, group = ids[:WARMUP], ids[WARMUP:]
        scans(warm, "in")
        scans(warm, "out")
        print(f"{args.volunteers} volunteers, one uvicorn worker, production mode "
              f"(Redis {args.redis_url}); CPU a request:")
        measured("GET /health", 2 * len(group),
                 lambda: [client.get("/health") for _ in range(2 * len(group))])
        measured("check-in", len(group), lambda: scans(group, "in"))
        measured("check-out (points queued)", len(group), lambda: scans(group, "out"))
        return 0
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        db.dispose()
        load.drop_db(name)
        if env.get("JIFEN_CELERY_QUEUE"):  # no worker takes its messages
            load.drop_redis(env, args.redis_url, name)


if __name__ == "__main__":
    raise SystemExit(main())
