"""Transactional outbox: background tasks written in the same transaction as the change they
follow, and dispatched only after it commits.

- `enqueue(session, task, args)` adds a row to `outbox` inside the caller's transaction: if the
  transaction rolls back, the task never existed; if it commits, the row is there even if the
  process dies the next instant.
- After the commit, the session's rows are handed to the engine's dispatcher: `INLINE` (embedded
  default: run them in this process at once) or a Celery sender (production; see
  workers/celery_app.py, which attaches it). The relay (`relay`, run by beat every few seconds)
  sends whatever was not done in time: a crash after commit, a lost broker message.
- `run_row` runs a row's handler and marks it done in ONE transaction, under a row lock: a row
  runs to completion exactly once however many times it is delivered. A failure rolls the
  handler's work back and schedules a retry with backoff; after MAX_ATTEMPTS the row is dead and
  shows on the ops status page.

Handlers are plain functions `fn(session, **args) -> dict | None` registered by name with
`@handler("area.name")` in the domain package that owns them.

- `enqueue_once(session, task, key)` queues a task unless a row with the same dedupe key is
  still waiting: a burst of commits queues one row (the rollups' catch-up after every posting).
  A row gives its key up when it starts running, so a commit after that queues a new one. A
  task registered with `coalesce_s` runs inline (embedded) at most once per that interval per
  database; a row left waiting runs at a later commit's dispatch or by the relay. In
  production the workers are sent such a row to run that many seconds after its commit
  (`held_back`), so there too a burst of commits is caught up by one run.

(Over 400 lines on purpose: the row, enqueueing, dispatch, running a row and the relay are one
mechanism whose exactly-once argument reads best in one file.)
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta

from sqlalchemy import (JSON, Index, Integer, String, bindparam, event, func, select, text,
                        update)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger.db import Base, Database, bound
from ledger.errors import InvalidInput
from ledger.journal.models import BigId
from ledger.journal.rawdb import Raw, Sql, dumps
from ledger.timeutil import UTCDateTime, utcnow

log = logging.getLogger("jifen.outbox")

MAX_TASK_CHARS = 64
MAX_ARGS_ITEMS = 1000  # list arguments (holders changed by one commit) are cut into rows this size
MAX_ATTEMPTS = 8
RELAY_BATCH = 500
SEND_BATCH = 100  # outbox ids per Celery message
INLINE_DRAIN = 50  # older due rows an inline dispatch also picks up
DRAIN_EVERY_S = 1.0  # ... looking for them at most this often per database (retries back off
# 5 s or more, a coalesced task runs at most once per its interval: a read per commit found
# nothing almost every time, and cost a statement on every check-out)
_DRAIN = ""  # the drain's own entry in _last_inline
GRACE_S = 60  # a row not done this long after commit is the relay's to send
REDISPATCH_S = 600  # a row sent but not done after this long is sent again
BACKOFF_S = (5, 30, 120, 600, 1800, 3600, 3600, 3600)
_PENDING = "outbox_pending_ids"
_NUDGE = "outbox_nudge"  # a dedupe row was already waiting: an inline dispatch may run it
_TASKS = "outbox_pending_tasks"  # id -> (task, args) of the rows this session queued
MAX_KEY_CHARS = 64


class OutboxRow(Base):
    """One task to run after a commit. Never deleted by the service: done rows are the record of
    what ran (a housekeeping task prunes them after OUTBOX_KEEP_DAYS)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "available_at", postgresql_where=text("done_at IS NULL"),
              sqlite_where=text("done_at IS NULL")),
        Index("ux_outbox_dedupe_key", "dedupe_key", unique=True,
              postgresql_where=text("dedupe_key IS NOT NULL"),
              sqlite_where=text("dedupe_key IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task: Mapped[str] = mapped_column(String(MAX_TASK_CHARS))
    args: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    available_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    result: Mapped[dict | None] = mapped_column(JSON, default=None)
    # set while the row waits (enqueue_once); cleared when it starts running
    dedupe_key: Mapped[str | None] = mapped_column(String(MAX_KEY_CHARS), default=None)


OUTBOX_KEEP_DAYS = 30

Handler = Callable[..., dict | None]
HANDLERS: dict[str, Handler] = {}
# Tasks whose handler runs its own transactions, `fn(db, **args)`: a write with an idempotency
# key (a check-out's points: `book.write` commits the award with its key). The row is marked
# done after the handler returns; a task delivered twice runs twice, and the key answers the
# second run with the first one's result.
OWN_TRANSACTIONS: set[str] = set()
# Tasks run inline (embedded) at most once per this many seconds per database (enqueue_once)
COALESCE_S: dict[str, float] = {}
_last_inline: weakref.WeakKeyDictionary[Engine, dict[str, float]] = weakref.WeakKeyDictionary()


def handler(name: str, *, own_transactions: bool = False, coalesce_s: float = 0.0
            ) -> Callable[[Handler], Handler]:
    """Register `fn(session, **args)` as the handler of outbox task `name` (with
    `own_transactions`: `fn(db, **args)`, which must be idempotent; see OWN_TRANSACTIONS;
    with `coalesce_s`: run inline at most once per that many seconds, see enqueue_once)."""
    if not 1 <= len(name) <= MAX_TASK_CHARS:
        raise ValueError(f"task names are 1..{MAX_TASK_CHARS} characters")

    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        if own_transactions:
            OWN_TRANSACTIONS.add(name)
        if coalesce_s:
            COALESCE_S[name] = coalesce_s
        return fn

    return register


def enqueue(session: Session, task: str, args: dict | None = None, *,
            delay_s: int = 0, now: datetime | None = None) -> int:
    """Add a task to run after this session's transaction commits; returns the outbox id."""
    if not 1 <= len(task) <= MAX_TASK_CHARS:
        raise InvalidInput(f"task names are 1..{MAX_TASK_CHARS} characters", code="task_invalid")
    now = now or utcnow()
    raw = Raw(session)  # one prepared statement, no ORM: a check-out writes one
    row_id = raw.first(_ENQUEUE, {
        "task": task, "args": dumps(args or {}), "now": raw.time(now),
        "at": raw.time(now + timedelta(seconds=delay_s))})[0]
    return _note(session, row_id, task, args or {})


_ENQUEUE = Sql.of(
    "INSERT INTO outbox (task, args, created_at, available_at, attempts, last_error) "
    "VALUES (:task, :args, :now, :at, 0, '') RETURNING id",
    "INSERT INTO outbox (task, args, created_at, available_at, attempts, last_error) "
    "VALUES (:task, CAST(:args AS json), CAST(:now AS timestamp), CAST(:at AS timestamp), "
    "0, '') RETURNING id")


def _note(session: Session, row_id: int, task: str, args: dict | None = None) -> int:
    """`args`: given for a row queued without a dedupe key (`enqueue`)."""
    session.info.setdefault(_PENDING, []).append(row_id)
    session.info.setdefault(_TASKS, {})[row_id] = (task, args)
    return row_id


_ONCE = Sql.of(
    "INSERT INTO outbox (task, args, created_at, available_at, attempts, last_error, "
    "dedupe_key) VALUES (:task, :args, :now, :now, 0, '', :key) "
    "ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id",
    "INSERT INTO outbox (task, args, created_at, available_at, attempts, last_error, "
    "dedupe_key) VALUES (:task, CAST(:args AS json), CAST(:now AS timestamp), "
    "CAST(:now AS timestamp), 0, '', :key) "
    "ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id")


def enqueue_once(session: Session, task: str, key: str, args: dict | None = None) -> int | None:
    """`enqueue`, unless a row with this dedupe key is still waiting (then nothing is added
    and None is returned: that row, which has not started yet, does the work). One statement,
    no ORM flush: this runs on the award path. On PostgreSQL a concurrent transaction that
    just queued the key makes this wait for its commit (the unique index), then skip."""
    if not 1 <= len(key) <= MAX_KEY_CHARS:
        raise InvalidInput(f"dedupe keys are 1..{MAX_KEY_CHARS} characters", code="task_invalid")
    raw = Raw(session)
    row = raw.first(_ONCE, {"task": task, "args": dumps(args or {}),
                            "now": raw.time(utcnow()), "key": key})
    return noted_once(session, row[0] if row else None, task)


# The same insert as a CTE of another PostgreSQL statement (journal/posting.py puts the rollups'
# catch-up into the entry's own statement: no round trip of its own). Written only when the
# statement's entry `e` is; `o_…` parameters from `once_params`; the id read back by `noted_once`.
ONCE_CTE = ("o AS (INSERT INTO outbox (task, args, created_at, available_at, attempts, "
            "last_error, dedupe_key) SELECT :o_task, CAST(:o_args AS json), "
            "CAST(:o_now AS timestamp), CAST(:o_now AS timestamp), 0, '', :o_key FROM e "
            "ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id)")
ONCE_COLUMN = "(SELECT id FROM o)"


def once_params(raw: Raw, task: str, key: str, args: dict | None = None) -> dict:
    return {"o_task": task, "o_args": dumps(args or {}), "o_now": raw.time(utcnow()),
            "o_key": key}


def noted_once(session: Session, row_id: int | None, task: str) -> int | None:
    """What `enqueue_once` inserted (its id, or None when a waiting row had the key), noted
    for the dispatch after commit."""
    if row_id is None:
        session.info[_NUDGE] = True
        return None
    return _note(session, row_id, task)


# ---------------------------------------------------------------------------------------------
# Dispatch after commit


Dispatcher = Callable[[Engine, Sequence[int]], None]


def inline(engine: Engine, ids: Sequence[int]) -> None:
    """Embedded mode: run the rows now, in this process, each in its own transaction; then the
    few older rows that are due (retries after a failure, coalesced rows left waiting), looked
    for at most once per DRAIN_EVERY_S after rows of its own, and at once for a nudge. A
    coalesced task (COALESCE_S) runs at most once per its interval; a row of it left waiting
    keeps its dedupe key, so the commits meanwhile add nothing. In a request, the coalesced
    rows and the drain run after its answer (`after_answer`)."""
    db = database_for(engine)
    if ids:
        queued = getattr(_local, "tasks", None) or {}  # what the committing session queued
        unknown = [oid for oid in ids if oid not in queued]
        if unknown:
            with db.sessions() as s:
                queued = {**queued, **{i: (t, None) for i, t in s.execute(
                    select(OutboxRow.id, OutboxRow.task).where(OutboxRow.id.in_(unknown)))}}
        for oid in ids:
            task, args = queued.get(oid, (None, None))
            if not _may_run_inline(engine, task):
                continue
            if task in OWN_TRANSACTIONS and args is not None:
                _run_own(db, oid, task, args, None)  # committed a moment ago, no key: not done
            elif task in COALESCE_S:
                _now_or_after_answer(lambda oid=oid: run_row(db, oid))
            else:
                run_row(db, oid)
    if _may_drain(engine) if ids else _coalesced_may_run(engine):  # (a nudge: now)
        _now_or_after_answer(lambda: _drain_inline(engine, db))


def held_back(ids: Sequence[int]) -> dict[int, float]:
    """Of the rows a dispatch is handing on, those of a coalesced task (COALESCE_S) that the
    committing session queued: id -> the seconds the workers let it wait before running it
    (production's counterpart of running it inline at most once per interval). Its dedupe key
    is held while it waits, so the commits of that interval queue nothing more, and one run
    takes all they left (the rollups' catch-up of a burst of check-outs). A row sent again
    (the relay) is not held back."""
    queued = getattr(_local, "tasks", None) or {}
    return {oid: COALESCE_S[task] for oid in ids
            if (task := queued.get(oid, (None, None))[0]) in COALESCE_S}


def _drain_inline(engine: Engine, db: Database) -> None:
    with db.sessions() as s:
        due = s.execute(_due_query(utcnow(), INLINE_DRAIN)).all()
    for oid, task in due:
        if _may_run_inline(engine, task):
            run_row(db, oid)


# A request's answer does not wait for the work an inline dispatch finds besides its own rows:
# a coalesced catch-up (the rollups, with the star refresh and boards that ride with them) and
# the drain of older rows. Inside `after_answer` (api/app.py wraps every request in it) that
# work is kept and run when the answer has been sent, on the same process (the embedded
# default); its own rows (a check-out's points) still run before the answer. Elsewhere (the
# CLI, the in-process scheduler, a test calling the domain) it runs at once, as before.
_AFTER_ANSWER: ContextVar[list[Callable[[], None]] | None] = ContextVar(
    "outbox_after_answer", default=None)


def _now_or_after_answer(work: Callable[[], None]) -> None:
    kept = _AFTER_ANSWER.get()
    if kept is None:
        work()
    else:
        kept.append(work)


@contextmanager
def after_answer() -> Iterator[list[Callable[[], None]]]:
    """Keep the work `_now_or_after_answer` is given while the block runs (the request); the
    caller runs the list with `run_after_answer` once the answer is sent."""
    kept: list[Callable[[], None]] = []
    token = _AFTER_ANSWER.set(kept)
    try:
        yield kept
    finally:
        _AFTER_ANSWER.reset(token)


def run_after_answer(kept: list[Callable[[], None]]) -> None:
    """Run what a request left for after its answer (each its own transactions; a failure is
    logged and left to the relay, as a dispatch's is)."""
    for work in kept:
        try:
            work()
        except Exception:  # noqa: BLE001 - the rows stay due; the relay runs them later
            log.exception("outbox work after the answer failed; the relay will retry")


def _once_per(engine: Engine, what: str, gap_s: float) -> bool:
    """True at most once per `gap_s` for `what` (a task, or the drain) per database."""
    last = _last_inline.setdefault(engine, {})
    now = time.monotonic()
    if now - last.get(what, -1e9) < gap_s:
        return False
    last[what] = now
    return True


def _may_drain(engine: Engine) -> bool:
    return _once_per(engine, _DRAIN, DRAIN_EVERY_S)


def _coalesced_may_run(engine: Engine) -> bool:
    last = _last_inline.get(engine, {})
    now = time.monotonic()
    return any(now - last.get(t, -1e9) >= gap for t, gap in COALESCE_S.items())


def _may_run_inline(engine: Engine, task: str | None) -> bool:
    gap = COALESCE_S.get(task or "")
    return not gap or _once_per(engine, task, gap)


_dispatchers: weakref.WeakKeyDictionary[Engine, Dispatcher] = weakref.WeakKeyDictionary()
_databases: weakref.WeakKeyDictionary[Engine, Database] = weakref.WeakKeyDictionary()
_local = threading.local()


def attach(db: Database, dispatcher: Dispatcher) -> None:
    """Choose how this database's committed rows are dispatched (INLINE when never attached)."""
    _dispatchers[db.engine] = dispatcher
    _databases[db.engine] = db


def dispatcher_of(db: Database) -> Dispatcher:
    return _dispatchers.get(db.engine, inline)


def runs_inline(engine: Engine) -> bool:
    """True in the embedded default: background work follows each commit in this process."""
    return _dispatchers.get(engine, inline) is inline


def database_for(engine: Engine) -> Database:
    db = _databases.get(engine)
    if db is None:  # a Database we were never told about: wrap its engine
        db = Database.__new__(Database)
        db.url = str(engine.url)
        db.engine = engine
        from sqlalchemy.orm import sessionmaker
        db.sessions = sessionmaker(engine, expire_on_commit=False)
        _databases[engine] = db
    return db


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if (finished := session.info.pop(_FINISHED, None)) is not None:
        running, marked = finished
        running["marked"] = marked
    ids = session.info.pop(_PENDING, None)
    nudge = session.info.pop(_NUDGE, False)
    tasks = session.info.pop(_TASKS, None)
    if not ids and not nudge:
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if getattr(_local, "dispatching", False):
        return  # a handler committed more rows: the outer dispatch's drain or the relay runs them
    dispatch = _dispatchers.get(engine, inline)
    if not ids and (dispatch is not inline or not _coalesced_may_run(engine)):
        return  # a waiting row was already sent (production) or runs at a later dispatch
    _local.dispatching, _local.tasks = True, tasks
    try:
        dispatch(engine, ids or [])
    except Exception:  # noqa: BLE001 - the commit stands; the relay sends the rows later
        log.exception("outbox dispatch failed; the relay will retry", extra={"ids": ids})
    finally:
        _local.dispatching, _local.tasks = False, None


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    # Rows of a rolled-back transaction never existed. (A rolled-back savepoint's ids may stay
    # listed; dispatching them finds no row and does nothing.)
    session.info.pop(_PENDING, None)
    session.info.pop(_NUDGE, None)
    session.info.pop(_TASKS, None)
    session.info.pop(_FINISHED, None)


# ---------------------------------------------------------------------------------------------
# Running a row


def _claim(s: Session, oid: int) -> OutboxRow | None:
    q = select(OutboxRow).where(OutboxRow.id == oid)
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    return s.scalars(q).first()


# What `run_row` reads first, as plain columns (a worker runs it for every row).
_HEAD = select(OutboxRow.task, OutboxRow.args, OutboxRow.done_at, OutboxRow.dead_at,
               OutboxRow.dedupe_key).where(OutboxRow.id == bindparam("oid"))


def run_row(db: Database, oid: int, now: datetime | None = None) -> str:
    """Run one outbox row exactly once: 'done', 'already_done', 'dead', 'missing', 'failed'.
    (A task with its own transactions runs at least once; see OWN_TRANSACTIONS.)"""
    with db.sessions() as s:
        row = s.execute(_HEAD, {"oid": oid}).first()
        if row is not None and row.dedupe_key is not None and row.done_at is None:
            # from now on a commit queues a new row: what it wrote may be after our reads
            s.execute(update(OutboxRow).where(OutboxRow.id == oid).values(dedupe_key=None))
            s.commit()
        if row is not None and row.task in OWN_TRANSACTIONS:
            if row.done_at is not None:
                return "already_done"
            if row.dead_at is not None:
                return "dead"
            task, args = row.task, dict(row.args or {})
        else:
            task = None
    if task is not None:
        return _run_own(db, oid, task, args, now)
    try:
        with db.transaction() as s:
            row = _claim(s, oid)
            if row is None:
                return "missing"
            if row.done_at is not None:
                return "already_done"
            if row.dead_at is not None:
                return "dead"
            fn = HANDLERS.get(row.task)
            if fn is None:
                raise LookupError(f"no handler registered for task {row.task!r}")
            result = fn(s, **(row.args or {}))
            return _done(row, result, now)
    except Exception as exc:  # noqa: BLE001 - recorded on the row, retried with backoff
        _record_failure(db, oid, exc)
        return "failed"


def _mark_done_sql():
    """A row's run finished, marked by the first run to finish; built once (every check-out's
    award is such a row)."""
    table = OutboxRow.__table__
    values = bound(table, "done_at", "result")
    return update(table).where(table.c.id == bindparam("oid"), table.c.done_at.is_(None)).values(
        **values, sent_at=func.coalesce(table.c.sent_at, values["done_at"]),
        attempts=table.c.attempts + 1)


_MARK_DONE = _mark_done_sql()


# The row a task with its own transactions is running (`_run_own`), for `finish_in`.
_RUNNING: ContextVar[dict | None] = ContextVar("outbox_running", default=None)
_FINISHED = "outbox_finished"  # session.info: the run whose row this transaction marks done


def finish_in(s: Session, result: dict | None) -> None:
    """Inside a task with its own transactions (OWN_TRANSACTIONS): mark the row being run done
    in `s`, the handler's last transaction, so that the work and the mark commit together and
    the run needs no commit of its own for the mark (a check-out's points: one commit fewer).
    Outside such a run (a handler called directly): nothing. If `s` rolls back, the row is
    marked after the handler returns, as before."""
    running = _RUNNING.get()
    if running is None:
        return
    marked = s.execute(_MARK_DONE, {
        "oid": running["oid"], "v_done_at": running["now"] or utcnow(),
        "v_result": result}).rowcount
    s.info[_FINISHED] = (running, bool(marked))


def _run_own(db: Database, oid: int, task: str, args: dict, now: datetime | None) -> str:
    running: dict = {"oid": oid, "now": now}
    token = _RUNNING.set(running)
    try:
        result = HANDLERS[task](db, **args)
        if "marked" in running:  # by the handler's last transaction (finish_in)
            return "done" if running["marked"] else "already_done"
        done = now or utcnow()
        with db.transaction() as s:  # one conditional update: the first run to finish marks it
            marked = s.execute(_MARK_DONE, {
                "oid": oid, "v_done_at": done,
                "v_result": result if isinstance(result, dict) else None}).rowcount
        return "done" if marked else "already_done"
    except Exception as exc:  # noqa: BLE001 - recorded on the row, retried with backoff
        _record_failure(db, oid, exc)
        return "failed"
    finally:
        _RUNNING.reset(token)


def _done(row: OutboxRow, result, now: datetime | None) -> str:  # noqa: ANN001 - a task's answer
    """Mark a row's run finished (inside the transaction that claimed it)."""
    row.done_at = now or utcnow()
    row.sent_at = row.sent_at or row.done_at
    row.attempts += 1
    row.result = result if isinstance(result, dict) else None
    return "done"


def _record_failure(db: Database, oid: int, exc: Exception) -> None:
    now = utcnow()
    with db.transaction() as s:
        row = _claim(s, oid)
        if row is None or row.done_at is not None:
            return
        row.attempts += 1
        row.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if row.attempts >= MAX_ATTEMPTS:
            row.dead_at = now
            log.error("outbox task %s (id %s) is dead after %s attempts: %s", row.task, oid,
                      row.attempts, row.last_error)
        else:
            row.available_at = now + timedelta(seconds=BACKOFF_S[row.attempts - 1])
            row.sent_at = None
            log.warning("outbox task %s (id %s) failed (attempt %s): %s", row.task, oid,
                        row.attempts, row.last_error)


# ---------------------------------------------------------------------------------------------
# The relay: the safety net that sends what the after-commit dispatch did not get done


def _due_query(now: datetime, limit: int):  # noqa: ANN202
    """(id, task) of the unsent rows that are due, oldest first (the inline drain)."""
    return (select(OutboxRow.id, OutboxRow.task)
            .where(OutboxRow.done_at.is_(None), OutboxRow.dead_at.is_(None),
                   OutboxRow.available_at <= now, OutboxRow.sent_at.is_(None))
            .order_by(OutboxRow.available_at, OutboxRow.id).limit(limit))


def _due_ids(s: Session, now: datetime, limit: int, *, include_unsent_grace: bool = True
             ) -> list[int]:
    q = select(OutboxRow.id).where(OutboxRow.done_at.is_(None), OutboxRow.dead_at.is_(None),
                                   OutboxRow.available_at <= now)
    if include_unsent_grace:
        grace = now - timedelta(seconds=GRACE_S)
        q = q.where(((OutboxRow.sent_at.is_(None)) & (OutboxRow.created_at <= grace))
                    | (OutboxRow.sent_at <= now - timedelta(seconds=REDISPATCH_S))
                    | ((OutboxRow.sent_at.is_(None)) & (OutboxRow.attempts > 0)))
    else:
        q = q.where(OutboxRow.sent_at.is_(None))
    q = q.order_by(OutboxRow.available_at, OutboxRow.id).limit(limit)
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return list(s.scalars(q))


def _unfinished_due(now: datetime, limit: int | None):  # noqa: ANN202 - a Select
    """Ids of the rows neither done nor dead that are due, oldest first (whether sent or not)."""
    return (select(OutboxRow.id).where(OutboxRow.done_at.is_(None), OutboxRow.dead_at.is_(None),
                                       OutboxRow.available_at <= now)
            .order_by(OutboxRow.id).limit(limit))


def relay(db: Database, send: Callable[[list[int]], None], *, now: datetime | None = None,
          limit: int | None = RELAY_BATCH, grace: bool = True) -> int:
    """Mark due rows sent and hand them to `send` in batches; returns how many were sent.
    `grace=False` sends every unfinished due row at once, up to `limit` (None: all; tests,
    `drain`)."""
    now = now or utcnow()
    with db.transaction() as s:
        if grace:
            ids = _due_ids(s, now, limit)
        else:
            ids = list(s.scalars(_unfinished_due(now, limit)))
        if ids:
            s.execute(update(OutboxRow).where(OutboxRow.id.in_(ids)).values(sent_at=now))
    sent = 0
    for i in range(0, len(ids), SEND_BATCH):
        batch = ids[i:i + SEND_BATCH]
        try:
            send(batch)
            sent += len(batch)
        except Exception:  # noqa: BLE001 - broker down: unmark so the next relay tries again
            log.exception("outbox relay could not send %s rows", len(batch))
            with db.transaction() as s:
                s.execute(update(OutboxRow).where(OutboxRow.id.in_(batch)).values(sent_at=None))
    return sent


def _hold(_engine: Engine, _ids: Sequence[int]) -> None:
    """The dispatcher while `held`: committed rows wait for the drain at the end."""


@contextmanager
def held(db: Database) -> Iterator[None]:
    """Batch work (the demo's generated quarter: hundreds of commits in a row): the rows its
    commits queue wait, instead of running after each commit, and are drained once when the
    block ends without error; a coalescing task (the rollups' catch-up) then runs once for the
    whole batch instead of once per commit. On an error the rows stay for the relay."""
    engine = db.engine
    before = _dispatchers.get(engine)
    _dispatchers[engine] = _hold
    _databases.setdefault(engine, db)
    try:
        yield
    finally:
        if before is None:
            _dispatchers.pop(engine, None)
        else:
            _dispatchers[engine] = before
    drain(db)


def drain(db: Database) -> int:
    """Hand on every due row now, until none is left: run in this process (embedded), or sent
    to the workers (production). Returns how many rows were run or sent. A row that fails is
    rescheduled (backoff) and left for later."""
    dispatch = dispatcher_of(db)
    if dispatch is not inline:  # once each (a RELAY_BATCH limit would leave the rest waiting)
        return relay(db, lambda ids: dispatch(db.engine, ids), grace=False, limit=None)
    n = 0
    while True:
        with db.sessions() as s:
            ids = list(s.scalars(_unfinished_due(utcnow(), RELAY_BATCH)))
        if not ids:
            return n
        _local.dispatching = True  # rows these runs queue are picked up by the next round
        try:
            for oid in ids:
                run_row(db, oid)
        finally:
            _local.dispatching = False
        n += len(ids)


def stats(s: Session, now: datetime | None = None) -> dict:
    """Backlog figures for the ops page and the metrics gauge."""
    now = now or utcnow()
    pending = s.execute(select(func.count(), func.min(OutboxRow.created_at)).where(
        OutboxRow.done_at.is_(None), OutboxRow.dead_at.is_(None))).one()
    dead = list(s.execute(select(OutboxRow.id, OutboxRow.task, OutboxRow.attempts,
                                 OutboxRow.last_error, OutboxRow.dead_at)
                          .where(OutboxRow.dead_at.is_not(None), OutboxRow.done_at.is_(None))
                          .order_by(OutboxRow.id.desc()).limit(20)))
    oldest = pending[1]
    return {"pending": int(pending[0]),
            "oldest_pending_s": (now - oldest).total_seconds() if oldest else 0.0,
            "dead": [{"id": r[0], "task": r[1], "attempts": r[2], "error": r[3],
                      "at": r[4].isoformat()} for r in dead]}


def prune(db: Database, now: datetime | None = None, keep_days: int = OUTBOX_KEEP_DAYS) -> int:
    """Delete done rows older than `keep_days`."""
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    with db.transaction() as s:
        return s.execute(OutboxRow.__table__.delete().where(
            OutboxRow.done_at.is_not(None), OutboxRow.done_at < cutoff)).rowcount or 0


def retry_dead(db: Database, oid: int) -> bool:
    """Give a dead row another round of attempts (after fixing what killed it)."""
    with db.transaction() as s:
        return bool(s.execute(update(OutboxRow).where(
            OutboxRow.id == oid, OutboxRow.dead_at.is_not(None), OutboxRow.done_at.is_(None))
            .values(dead_at=None, attempts=0, sent_at=None, available_at=utcnow())).rowcount)
