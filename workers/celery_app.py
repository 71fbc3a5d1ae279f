"""The one Celery app of Jifen.

Embedded default (JIFEN_REDIS_URL unset): tasks run in-process — the outbox runs its rows right
after each commit (ledger.outbox.inline) and a task called with `.delay()` runs eagerly.
Production (JIFEN_REDIS_URL set): Redis is broker and result backend; start one or more
workers and exactly one beat:

    celery -A workers.celery_app worker --loglevel=INFO --concurrency 2
    celery -A workers.celery_app beat --loglevel=INFO

Messages are acknowledged after the task ends (acks_late), so a worker killed mid-task leaves
its message to be delivered again (after JIFEN_CELERY_VISIBILITY_S, default one hour); the
outbox relay also sends again any row not done after ten minutes. Every task is idempotent.
"""

from __future__ import annotations

import logging
import os
import threading

import structlog
from datetime import timedelta

from celery import Celery, signals
from celery.schedules import crontab

from ledger import heap, outbox
from ledger.activities import awards  # noqa: F401 - registers the check-out points' handler
from ledger.config import Settings, env, env_int, load_settings
from ledger.db import Database
from ledger.logs import configure_logging
from ledger.metrics import TASKS_RUN
from ledger.recognition import leaderboards

log = logging.getLogger("jifen.workers")

# Read at import (the celery command imports this module before any settings object exists),
# through ledger.config like every setting, after the .env file.
QUEUE = env("JIFEN_CELERY_QUEUE", "jifen")
VISIBILITY_S = env_int("JIFEN_CELERY_VISIBILITY_S", 3600)
RUN_OUTBOX = "jifen.outbox.run"

# name → (schedule, kwargs). Times are the town's local time (Asia/Shanghai).
BEAT = {
    "outbox-relay": ("jifen.outbox.relay", timedelta(seconds=10)),
    "rollups-recent": ("jifen.rollups.catch_up", timedelta(seconds=5), {"mode": "recent"}),
    "rollups-full": ("jifen.rollups.catch_up", timedelta(minutes=10), {"mode": "full"}),
    "sweep-holds": ("jifen.sweep.holds", timedelta(minutes=1)),
    "sweep-vouchers": ("jifen.sweep.vouchers", timedelta(minutes=5)),
    "sweep-checkouts": ("jifen.sweep.checkouts", timedelta(minutes=10)),
    "orders-deadlines": ("jifen.matching.sweep", timedelta(minutes=5)),
    "post-notices": ("jifen.rules.post_due_notices", timedelta(minutes=15)),
    "expire-points": ("jifen.rules.expire_points", crontab(hour=0, minute=30)),
    "audit-nightly": ("jifen.audit.nightly", crontab(hour=2, minute=30)),
    "stars-nightly": ("jifen.stars.recompute", crontab(hour=3, minute=0)),
    "boards-nightly": ("jifen.boards.rebuild", crontab(hour=3, minute=30)),
    "outbox-prune": ("jifen.outbox.prune", crontab(hour=4, minute=0)),
    "backup-nightly": ("jifen.backup.nightly", crontab(hour=1, minute=30)),
}


def make_app(redis_url: str | None) -> Celery:
    app = Celery("jifen", include=["workers.tasks"])
    common = dict(task_serializer="json", accept_content=["json"], result_serializer="json",
                  timezone="Asia/Shanghai", enable_utc=True, task_default_queue=QUEUE,
                  task_ignore_result=True, worker_hijack_root_logger=False)
    if redis_url:
        app.conf.update(
            broker_url=redis_url, result_backend=redis_url, result_expires=24 * 3600,
            task_acks_late=True, task_reject_on_worker_lost=True,
            worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True,
            broker_transport_options={
                "visibility_timeout": VISIBILITY_S,
                "unacked_restore_interval": min(10, max(1, VISIBILITY_S // 2)),
                "unacked_restore_throttle": 1 if VISIBILITY_S < 60 else 10},
            beat_schedule={name: {"task": v[0], "schedule": v[1],
                                  "kwargs": v[2] if len(v) > 2 else {}}
                           for name, v in BEAT.items()},
            **common)
    else:
        app.conf.update(task_always_eager=True, task_eager_propagates=True,
                        broker_url="memory://", **common)
    return app


app = make_app(env("JIFEN_REDIS_URL"))


# ---------------------------------------------------------------------------------------------
# The database and settings of a worker process (one engine per process, made after fork)

_lock = threading.Lock()
_state: dict = {}


def settings() -> Settings:
    with _lock:
        if "settings" not in _state:
            _state["settings"] = load_settings()
        return _state["settings"]


def db() -> Database:
    with _lock:
        if "db" not in _state:
            s = _state.get("settings") or load_settings()
            _state["settings"] = s
            database = Database(s.database_url)
            attach_dispatcher(database, s)
            _state["db"] = database
        return _state["db"]


@signals.worker_init.connect
@signals.beat_init.connect
def _yield_to_requests(**_kw) -> None:
    """Background work takes the niceness `Settings.worker_nice` before it starts (the pool's
    processes are forked after, and inherit it): on a box shared with the API, the kernel runs
    a request before a task when both are waiting for a core. Never lowered (unprivileged)."""
    yield_cpu(settings().worker_nice)


def yield_cpu(nice: int) -> int:
    """Raise this process's niceness to at least `nice`; the niceness it then has."""
    now = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > now:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    return os.getpriority(os.PRIO_PROCESS, 0)


@signals.worker_process_init.connect
def _after_fork(**_kw) -> None:
    _state.pop("db", None)  # never share a parent's connections with a forked child
    heap.settle()  # what the worker keeps, out of the collector's walks


# ---------------------------------------------------------------------------------------------
# Logs: JSON through structlog (ledger/logs.py), with the request id of the API request that
# sent a task carried in the message headers and bound while the task runs.

REQUEST_ID_HEADER = "jifen_request_id"


@signals.setup_logging.connect
def _setup_logging(**_kw) -> None:
    configure_logging()  # connecting here keeps Celery from installing its own handlers


@signals.before_task_publish.connect
def _carry_request_id(headers=None, **_kw) -> None:  # noqa: ANN001
    rid = structlog.contextvars.get_contextvars().get("request_id")
    if rid and headers is not None:
        headers[REQUEST_ID_HEADER] = rid


@signals.task_prerun.connect
def _bind_request_id(task=None, task_id=None, **_kw) -> None:  # noqa: ANN001
    rid = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    if task is not None and task.request.is_eager:
        return  # in process: the caller's context is already bound
    structlog.contextvars.bind_contextvars(task=getattr(task, "name", ""), task_id=task_id,
                                           **({"request_id": rid} if rid else {}))


@signals.task_postrun.connect
def _unbind_request_id(task=None, state=None, **_kw) -> None:  # noqa: ANN001
    if task is not None and task.request.is_eager:
        return
    TASKS_RUN.labels(getattr(task, "name", "?"), state or "?").inc()
    structlog.get_logger("jifen.workers").info("task_done", state=state)
    structlog.contextvars.unbind_contextvars("task", "task_id", "request_id")


# Sending runs right after a request's commit, so with the broker down it must give up quickly:
# the rows wait in the outbox and the relay sends them later. Three tries within about 0.3 s
# (Celery's default retries for longer). No result is kept (the outbox row records what ran), so
# sending never subscribes to the result store either: with Redis down that subscription alone
# retried for 19 s after every commit.
SEND_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}


def celery_sender(queue: str = QUEUE, celery_app: Celery | None = None) -> outbox.Dispatcher:
    """Send committed outbox rows to the workers, one message per batch of ids."""
    target = celery_app or app

    def send(_engine, ids) -> None:  # noqa: ANN001
        later = outbox.held_back(ids)  # a coalesced task: run after its interval, once
        ids = [i for i in ids if i not in later]
        for i in range(0, len(ids), outbox.SEND_BATCH):
            target.send_task(RUN_OUTBOX, args=[ids[i:i + outbox.SEND_BATCH]], queue=queue,
                             ignore_result=True, retry_policy=SEND_RETRY)
        for oid, wait_s in later.items():
            target.send_task(RUN_OUTBOX, args=[[oid]], queue=queue, countdown=wait_s,
                             ignore_result=True, retry_policy=SEND_RETRY)

    return send


def attach_dispatcher(database: Database, s: Settings, *, queue: str = QUEUE) -> None:
    """How this process hands committed outbox rows on (a check-out's points among them), and
    where its live boards are: production → Celery and Redis; embedded → in-process and
    memory."""
    if s.tasks == "celery":
        outbox.attach(database, celery_sender(queue))
    else:
        outbox.attach(database, outbox.inline)
    leaderboards.configure(database.engine, s.redis_url)
