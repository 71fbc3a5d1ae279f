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
from datetime import timedelta

from celery import Celery, signals
from celery.schedules import crontab

from ledger import outbox
from ledger.activities import awards  # noqa: F401 - registers the check-out points' handler
from ledger.config import Settings, load_settings
from ledger.db import Database
from ledger.recognition import leaderboards

log = logging.getLogger("jifen.workers")

QUEUE = os.environ.get("JIFEN_CELERY_QUEUE", "jifen")
VISIBILITY_S = int(os.environ.get("JIFEN_CELERY_VISIBILITY_S", "3600"))
RUN_OUTBOX = "jifen.outbox.run"

# name → (schedule, kwargs). Times are the town's local time (Asia/Shanghai).
BEAT = {
    "outbox-relay": ("jifen.outbox.relay", timedelta(seconds=10)),
    "rollups-recent": ("jifen.rollups.catch_up", timedelta(seconds=5), {"mode": "recent"}),
    "rollups-full": ("jifen.rollups.catch_up", timedelta(minutes=10), {"mode": "full"}),
    "sweep-holds": ("jifen.sweep.holds", timedelta(minutes=1)),
    "sweep-vouchers": ("jifen.sweep.vouchers", timedelta(minutes=5)),
    "sweep-checkouts": ("jifen.sweep.checkouts", timedelta(minutes=10)),
    "post-notices": ("jifen.rules.post_due_notices", timedelta(minutes=15)),
    "expire-points": ("jifen.rules.expire_points", crontab(hour=0, minute=30)),
    "audit-nightly": ("jifen.audit.nightly", crontab(hour=2, minute=30)),
    "stars-nightly": ("jifen.stars.recompute", crontab(hour=3, minute=0)),
    "boards-nightly": ("jifen.boards.rebuild", crontab(hour=3, minute=30)),
    "outbox-prune": ("jifen.outbox.prune", crontab(hour=4, minute=0)),
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


app = make_app(os.environ.get("JIFEN_REDIS_URL") or None)


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


@signals.worker_process_init.connect
def _after_fork(**_kw) -> None:
    _state.pop("db", None)  # never share a parent's connections with a forked child


def celery_sender(queue: str = QUEUE, celery_app: Celery | None = None) -> outbox.Dispatcher:
    """Send committed outbox rows to the workers, one message per batch of ids."""
    target = celery_app or app

    def send(_engine, ids) -> None:  # noqa: ANN001
        ids = list(ids)
        for i in range(0, len(ids), outbox.SEND_BATCH):
            target.send_task(RUN_OUTBOX, args=[ids[i:i + outbox.SEND_BATCH]], queue=queue)

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
