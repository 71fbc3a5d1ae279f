"""The nightly ledger audit and checkpoint, recorded for the ops status page and alerted on.

A run proves the journal (ledger.journal.audit), and only when it is clean hashes the account
heads into a new checkpoint: a checkpoint over a journal that fails its audit would vouch for
the damage. A failed run logs an ERROR line (`ledger audit FAILED`) and sets the metric
`jifen_audit_ok` to 0; `GET /api/v1/ops/audit-status` reports it until a clean run follows.
`refresh_gauges` measures the gauges whose truth lives in the database or on disk.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import msgspec
import structlog
from sqlalchemy import BigInteger, Boolean, String, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import JSON

from ledger import outbox
from ledger.backup import BACKUP_GLOB
from ledger.db import Base, Database
from ledger.errors import Conflict
from ledger.journal.audit import make_checkpoint, run_audit
from ledger.journal.models import Account, BigId, Checkpoint, HolderType, Purpose, Unit
from ledger.journal.schemas import ViolationView
from ledger.metrics import (
    AUDIT_CLEAN_AGE,
    AUDIT_OK,
    BACKUP_LAST_OK,
    BUDGET_AVAILABLE,
    MAX_BUDGET_SERIES,
    TASK_LAG,
)
from ledger.timeutil import UTCDateTime, utcnow
from ledger.view import View

log = logging.getLogger("jifen.audit")

AUDIT_STALE_AFTER = timedelta(hours=36)  # nightly; a day and a half without a run is an alert


class AuditRun(Base):
    __tablename__ = "audit_run"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    ok: Mapped[bool | None] = mapped_column(Boolean, default=None)
    report: Mapped[dict | None] = mapped_column(JSON, default=None)
    checkpoint_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    checkpoint_root: Mapped[str | None] = mapped_column(String(64), default=None)
    error: Mapped[str] = mapped_column(String(500), default="")


def nightly_audit(db: Database, now: datetime | None = None) -> dict:
    """Audit the ledger; if clean, checkpoint it. Always leaves an AuditRun row."""
    started = now or utcnow()
    with db.transaction() as s:
        run = AuditRun(started_at=started)
        s.add(run)
        s.flush()
        run_id = run.id
    try:
        with db.sessions() as s:
            report = run_audit(s).as_dict()
        cp = None
        if report["ok"]:
            with db.transaction() as s:
                made = make_checkpoint(s)
                cp = made or s.scalars(select(Checkpoint).order_by(Checkpoint.id.desc())
                                       .limit(1)).first()
                cp = None if cp is None else (cp.id, cp.root)
        error = ""
    except Exception as exc:  # noqa: BLE001 - an audit that cannot run is a failed audit
        report, cp, error = None, None, f"{type(exc).__name__}: {exc}"[:500]
    ok = bool(report and report["ok"])
    with db.transaction() as s:
        run = s.get(AuditRun, run_id)
        run.finished_at, run.ok, run.report, run.error = utcnow(), ok, report, error
        if cp:
            run.checkpoint_id, run.checkpoint_root = cp
    AUDIT_OK.set(1 if ok else 0)
    if ok:
        log.info("ledger audit clean: %s entries, %s postings; checkpoint %s",
                 report["entries"], report["postings"], cp[0] if cp else None)
    else:
        log.error("ledger audit FAILED: %s", error or [v.get("message") for v in
                                                       report["violations"][:5]])
    return {"run_id": run_id, "ok": ok, "checkpoint": cp[0] if cp else None,
            "violations": len(report["violations"]) if report else None, "error": error}


class AuditRunView(View):
    """One audit run; `violations` are its first 20, `checkpoint_*` the checkpoint a clean
    run made (null when it made none)."""
    id: int
    started_at: str
    finished_at: str | None
    ok: bool | None
    error: str | None
    entries: int | None
    postings: int | None
    violations: list[ViolationView]  # the same as the audit's own answer
    checkpoint_id: int | None
    checkpoint_root: str | None


class Alert(View, omit_defaults=True):
    """Why the status is failing: `run_id` names a failed run, `count` the dead tasks."""
    code: str
    message: str
    run_id: int | None = None
    count: int | None = None


class CheckpointView(View):
    id: int
    root: str
    at: str


class DeadTask(View):
    id: int
    task: str
    attempts: int
    error: str | None
    at: str


class Backlog(View):
    """The outbox: tasks waiting, how long the oldest has waited, the latest dead ones (20)."""
    pending: int
    oldest_pending_s: float
    dead: list[DeadTask]


class AuditStatus(View):
    """`status` is "ok" or "failing" (then `alerts` says why)."""
    status: str
    alerts: list[Alert]
    last_run: AuditRunView | None
    last_clean_run: AuditRunView | None
    latest_checkpoint: CheckpointView | None
    outbox: Backlog


class TaskRetried(View):
    task_id: int
    state: str


def audit_status(db: Database, now: datetime | None = None) -> AuditStatus:
    """What the admin endpoint shows: the last run, the last clean run, the outbox backlog."""
    with db.sessions() as s:
        return msgspec.convert(_audit_status(s, now or utcnow()), AuditStatus)


def retry_task(db: Database, task_id: int) -> TaskRetried:
    """Give a dead background task another round of attempts; one not dead is refused."""
    if not outbox.retry_dead(db, task_id):
        raise Conflict(f"task {task_id} is not dead", code="task_not_dead")
    return TaskRetried(task_id=task_id, state="queued")


def _audit_status(s: Session, now: datetime) -> dict:
    last = s.scalars(select(AuditRun).where(AuditRun.finished_at.is_not(None))
                     .order_by(AuditRun.id.desc()).limit(1)).first()
    clean = s.scalars(select(AuditRun).where(AuditRun.ok.is_(True))
                      .order_by(AuditRun.id.desc()).limit(1)).first()
    cp = s.scalars(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)).first()
    box = outbox.stats(s, now)
    TASK_LAG.set(box["oldest_pending_s"])
    alerts = []
    if last is None:
        alerts.append({"code": "audit_never_run", "message": "账本审计从未运行"})
    else:
        if not last.ok:
            alerts.append({"code": "audit_failed",
                           "message": "最近一次账本审计失败", "run_id": last.id})
        if now - last.started_at > AUDIT_STALE_AFTER:
            alerts.append({"code": "audit_stale", "message": "账本审计超过36小时未运行"})
    if box["dead"]:
        alerts.append({"code": "tasks_dead", "message": "有后台任务多次失败后停止",
                       "count": len(box["dead"])})

    def view(r: AuditRun | None) -> dict | None:
        if r is None:
            return None
        rep = r.report or {}
        return {"id": r.id, "started_at": r.started_at.isoformat(),
                "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                "ok": r.ok, "error": r.error, "entries": rep.get("entries"),
                "postings": rep.get("postings"), "violations": rep.get("violations", [])[:20],
                "checkpoint_id": r.checkpoint_id, "checkpoint_root": r.checkpoint_root}

    return {"status": "failing" if alerts else "ok", "alerts": alerts, "last_run": view(last),
            "last_clean_run": view(clean) if clean and clean is not last else None,
            "latest_checkpoint": None if cp is None else {
                "id": cp.id, "root": cp.root, "at": cp.created_at.isoformat()},
            "outbox": box}


class Liveness(View):
    status: str


class ReadyChecks(View):
    """Each dependency's state: "ok", "down: <error>", or for Redis "not configured …"."""
    database: str
    redis: str


class Readiness(View):
    """`status` "ok" when the database answers, else "degraded"."""
    status: str
    checks: ReadyChecks


def readiness(db: Database, redis_url: str | None) -> Readiness:
    """Ready when the database answers; Redis (rate limits, rankings, broker) is reported too.
    Redis down degrades features but does not make the service unready: check-ins and
    redemptions keep working on the database alone."""
    try:
        with db.engine.connect() as c:
            c.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # noqa: BLE001
        database = f"down: {type(exc).__name__}"
    if redis_url:
        try:
            import redis
            redis.Redis.from_url(redis_url, socket_timeout=0.5,
                                 socket_connect_timeout=0.5).ping()
            cache = "ok"
        except Exception as exc:  # noqa: BLE001
            cache = f"down: {type(exc).__name__}"
    else:
        cache = "not configured (embedded: in-memory stores)"
    return Readiness(status="ok" if database == "ok" else "degraded",
                     checks=ReadyChecks(database=database, redis=cache))


def refresh_gauges(db, settings) -> None:  # noqa: ANN001 - a Database and its Settings
    """Measure, in the process about to expose them, the gauges whose truth lives in the
    database (the audit runs, the outbox, the budgets) or on disk (the backups). A scrape
    while the database is down still answers, with the gauges as they were."""
    now = utcnow()
    try:
        with db.sessions() as s:
            TASK_LAG.set(outbox.stats(s, now)["oldest_pending_s"])
            last = s.scalars(select(AuditRun).where(AuditRun.finished_at.is_not(None))
                             .order_by(AuditRun.id.desc()).limit(1)).first()
            if last is not None:
                AUDIT_OK.set(1 if last.ok else 0)
            clean = s.scalar(select(func.max(AuditRun.finished_at))
                             .where(AuditRun.ok.is_(True)))
            AUDIT_CLEAN_AGE.set((now - clean).total_seconds() if clean else -1)
            rows = s.execute(
                select(Account.holder_id, func.sum(Account.balance - Account.pending_out))
                .where(Account.holder_type == HolderType.VILLAGE,
                       Account.purpose == Purpose.BUDGET, Account.unit == Unit.POINTS)
                .group_by(Account.holder_id).order_by(Account.holder_id)
                .limit(MAX_BUDGET_SERIES))
            for village_id, available in rows:
                BUDGET_AVAILABLE.labels(str(village_id)).set(int(available or 0))
    except Exception as exc:  # noqa: BLE001 - metrics must answer when the database does not
        structlog.get_logger("jifen.metrics").warning("gauges_not_refreshed",
                                                      error=type(exc).__name__)
    newest = _newest_backup(settings.backup_dir)
    if newest is not None:
        BACKUP_LAST_OK.set(newest)


def _newest_backup(folder) -> float | None:  # noqa: ANN001
    if folder is None or not folder.is_dir():
        return None
    times = [p.stat().st_mtime for p in folder.glob(BACKUP_GLOB)]
    return max(times) if times else None
