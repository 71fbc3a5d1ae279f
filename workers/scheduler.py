"""The beat schedule run in-process, for the embedded default (no Redis, no Celery beat):
`jifen serve` runs it on a thread of its own when tasks are not sent to Celery (nothing to start
by hand), and `jifen scheduler` runs it alone; both call the same task functions at the same
times as Celery beat would."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from celery.schedules import schedule as every

from ledger.timeutil import utcnow
from workers.celery_app import BEAT, app
from workers.tasks import TASKS

log = logging.getLogger("jifen.scheduler")
TICK_S = 1.0


def _schedules() -> dict:
    out = {}
    for name, entry in BEAT.items():
        task, when = entry[0], entry[1]
        sched = every(run_every=when, app=app) if isinstance(when, timedelta) else when
        sched.app = app
        out[name] = (task, sched, entry[2] if len(entry) > 2 else {})
    return out


def run_due(last_run: dict[str, datetime], now: datetime | None = None) -> list[str]:
    """Run every entry that is due; returns their names. `last_run` is updated."""
    now = now or utcnow()
    ran = []
    for name, (task, sched, kwargs) in _schedules().items():
        last = last_run.setdefault(name, now)
        is_due, _next = sched.is_due(last)
        if not is_due:
            continue
        last_run[name] = now
        try:
            TASKS[task](**kwargs)
            ran.append(name)
        except Exception:  # noqa: BLE001 - one failing job must not stop the others
            log.exception("scheduled task %s failed", task)
    return ran


def overdue_at_start(now: datetime | None = None) -> dict[str, datetime]:
    """Last-run times that make every interval job due at once: a service that was down
    catches up (notices that ended, holds and vouchers that expired, points left due) when it
    starts, not an interval later. Jobs at a time of day (crontab) keep their time."""
    now = now or utcnow()
    return {name: now - sched.run_every for name, (_task, sched, _kw) in _schedules().items()
            if isinstance(sched, every) and isinstance(sched.run_every, timedelta)}


def run_forever(stop: threading.Event | None = None, *, catch_up: bool = False) -> None:
    stop = stop or threading.Event()
    last: dict[str, datetime] = overdue_at_start() if catch_up else {}
    log.info("embedded scheduler started: %s jobs", len(BEAT))
    while not stop.is_set():
        run_due(last)
        stop.wait(TICK_S)


def start_in_background() -> threading.Event:
    """The schedule on a daemon thread of this process (`jifen serve` without Celery): set the
    returned event to stop it. Interval jobs run once at start (overdue_at_start)."""
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(stop,), kwargs={"catch_up": True},
                     name="jifen-scheduler", daemon=True).start()
    return stop
