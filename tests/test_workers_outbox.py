"""The transactional outbox: a task exists only if its transaction committed, runs after the
commit, runs to completion exactly once however often it is delivered, is retried with backoff
when it fails, and is sent again by the relay when a crash lost it."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ledger import ops, outbox
from ledger.outbox import OutboxRow
from ledger.timeutil import utcnow
from tests.builders.recognition import award, make_world

RUNS: list[dict] = []


@outbox.handler("test.record")
def _record(s, n: int, fail: bool = False) -> dict:
    from ledger.registry.models import Town
    if fail:
        raise RuntimeError("handler failed")
    s.add(Town(name=f"任务镇{n}", created_at=utcnow()))  # a visible effect, in the same txn
    RUNS.append({"n": n})
    return {"n": n}


def _towns(db, n):
    from ledger.registry.models import Town
    with db.sessions() as s:
        return s.scalar(select(func.count()).select_from(Town).where(Town.name == f"任务镇{n}"))


@pytest.fixture(autouse=True)
def _clear():
    RUNS.clear()


def test_a_task_runs_after_its_transaction_commits(db):
    outbox.attach(db, outbox.inline)
    with db.transaction() as s:
        oid = outbox.enqueue(s, "test.record", {"n": 1})
        assert RUNS == []  # not before the commit
    assert RUNS == [{"n": 1}] and _towns(db, 1) == 1
    with db.sessions() as s:
        row = s.get(OutboxRow, oid)
        assert row.done_at is not None and row.result == {"n": 1} and row.attempts == 1


def test_a_rolled_back_transaction_leaves_no_task(db):
    outbox.attach(db, outbox.inline)
    with pytest.raises(RuntimeError), db.transaction() as s:
        outbox.enqueue(s, "test.record", {"n": 2})
        raise RuntimeError("the posting failed")
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxRow)) == 0
    assert RUNS == []


def test_delivering_a_row_twice_runs_it_once(db):
    outbox.attach(db, lambda engine, ids: None)  # a broker that never delivers
    with db.transaction() as s:
        oid = outbox.enqueue(s, "test.record", {"n": 3})
    assert outbox.run_row(db, oid) == "done"
    assert outbox.run_row(db, oid) == "already_done"
    assert RUNS == [{"n": 3}] and _towns(db, 3) == 1


def test_the_relay_sends_what_a_crash_left_behind(db):
    sent: list[list[int]] = []
    outbox.attach(db, lambda engine, ids: None)  # the process died before dispatching
    with db.transaction() as s:
        oid = outbox.enqueue(s, "test.record", {"n": 4})
    assert outbox.relay(db, sent.append) == 0  # within the grace: the fast path may still run
    later = utcnow() + timedelta(seconds=outbox.GRACE_S + 1)
    assert outbox.relay(db, sent.append, now=later) == 1 and sent == [[oid]]
    assert outbox.relay(db, sent.append, now=later) == 0  # marked sent: not twice
    lost = later + timedelta(seconds=outbox.REDISPATCH_S + 1)  # the message was lost
    assert outbox.relay(db, sent.append, now=lost) == 1
    for ids in sent:
        for i in ids:
            outbox.run_row(db, i)
    assert RUNS == [{"n": 4}]


@outbox.handler("test.chain")
def _chain(s, n: int) -> dict:
    """A task whose run queues another (as a check-out's points queue the rollups' catch-up)."""
    RUNS.append({"chain": n})
    if n > 0:
        outbox.enqueue(s, "test.chain", {"n": n - 1})
    return {"n": n}


def test_held_rows_wait_for_the_end_of_the_batch_and_run_once_in_order(db):
    outbox.attach(db, outbox.inline)
    with outbox.held(db):
        for n in (11, 12):
            with db.transaction() as s:
                outbox.enqueue(s, "test.record", {"n": n})
            assert RUNS == []  # committed, waiting: nothing runs after each commit
        with db.transaction() as s:
            outbox.enqueue(s, "test.chain", {"n": 2})
    # drained at the end, oldest first, and what the runs queued too
    assert RUNS == [{"n": 11}, {"n": 12}, {"chain": 2}, {"chain": 1}, {"chain": 0}]
    assert _towns(db, 11) == 1 and _towns(db, 12) == 1
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxRow)
                        .where(OutboxRow.done_at.is_(None))) == 0
    with db.transaction() as s:  # after the block: the embedded default again
        outbox.enqueue(s, "test.record", {"n": 13})
    assert RUNS[-1] == {"n": 13}


def test_a_batch_that_fails_leaves_its_rows_for_the_relay(db):
    outbox.attach(db, outbox.inline)
    with pytest.raises(RuntimeError), outbox.held(db):
        with db.transaction() as s:
            oid = outbox.enqueue(s, "test.record", {"n": 14})
        raise RuntimeError("the batch stopped half way")
    assert RUNS == []  # not drained: the relay sends it (the commit stands)
    later = utcnow() + timedelta(seconds=outbox.GRACE_S + 1)
    sent: list[list[int]] = []
    assert outbox.relay(db, sent.append, now=later) == 1 and sent == [[oid]]


def test_a_held_batch_in_production_is_sent_to_the_workers_at_the_end(db, monkeypatch):
    monkeypatch.setattr(outbox, "RELAY_BATCH", 2)  # a batch bigger than the relay's round
    sent: list[list[int]] = []
    outbox.attach(db, lambda engine, ids: sent.append(list(ids)))  # the Celery sender's shape
    with outbox.held(db):
        ids = []
        for n in (15, 16, 17):
            with db.transaction() as s:
                ids.append(outbox.enqueue(s, "test.record", {"n": n}))
        assert sent == []
    assert sent == [ids] and RUNS == []  # every row, once; the workers run them


def test_a_broker_refusing_the_relay_leaves_rows_to_send_again(db):
    outbox.attach(db, lambda engine, ids: None)
    with db.transaction() as s:
        outbox.enqueue(s, "test.record", {"n": 5})

    def down(ids):
        raise ConnectionError("broker down")

    later = utcnow() + timedelta(seconds=outbox.GRACE_S + 1)
    assert outbox.relay(db, down, now=later) == 0
    assert outbox.relay(db, lambda ids: None, now=later) == 1


def test_a_failing_task_backs_off_then_dies_and_can_be_retried(db, caplog):
    outbox.attach(db, lambda engine, ids: None)
    with db.transaction() as s:
        oid = outbox.enqueue(s, "test.record", {"n": 6, "fail": True})
    with caplog.at_level(logging.WARNING, logger="jifen.outbox"):
        for _ in range(outbox.MAX_ATTEMPTS):
            assert outbox.run_row(db, oid) == "failed"
    assert outbox.run_row(db, oid) == "dead"
    assert "is dead after" in caplog.text
    with db.sessions() as s:
        row = s.get(OutboxRow, oid)
        assert row.dead_at is not None and "handler failed" in row.last_error
    assert ops.audit_status(db).outbox.dead[0].id == oid
    assert outbox.retry_dead(db, oid)
    with db.transaction() as s:
        s.get(OutboxRow, oid).args = {"n": 6}  # the cause was fixed
    assert outbox.run_row(db, oid) == "done" and _towns(db, 6) == 1


def test_an_unknown_task_is_retried_not_lost(db):
    outbox.attach(db, lambda engine, ids: None)
    with db.transaction() as s:
        oid = outbox.enqueue(s, "test.nobody_handles_this", {})
    assert outbox.run_row(db, oid) == "failed"
    with db.sessions() as s:
        row = s.get(OutboxRow, oid)
        assert row.done_at is None and row.available_at > utcnow()


def test_nightly_audit_checkpoints_a_clean_ledger_and_alerts_on_a_broken_one(db, caplog):
    w = make_world(db)
    award(db, w.villages[0], "person", w.people[0], 5)
    out = ops.nightly_audit(db)
    assert out["ok"] and out["checkpoint"] is not None
    st = ops.audit_status(db)
    assert st.status == "ok" and st.last_run.checkpoint_root == st.latest_checkpoint.root
    _tamper(db)
    with caplog.at_level(logging.ERROR, logger="jifen.audit"):
        out = ops.nightly_audit(db)
    assert not out["ok"] and out["checkpoint"] is None  # never checkpoint a broken journal
    assert "ledger audit FAILED" in caplog.text
    st = ops.audit_status(db)
    assert st.status == "failing"
    assert [a.code for a in st.alerts] == ["audit_failed"]
    assert st.last_clean_run.ok is True


def _tamper(db):
    """Change a posting's amount behind the journal's back (the triggers must be lifted)."""
    from sqlalchemy import text
    with db.engine.begin() as c:
        if db.is_sqlite:
            c.exec_driver_sql("DROP TRIGGER posting_no_update")
            c.execute(text("UPDATE posting SET amount = amount + 1 WHERE id = "
                           "(SELECT MAX(id) FROM posting WHERE amount > 0)"))
        else:
            c.execute(text("SET LOCAL session_replication_role = replica"))
            c.execute(text("UPDATE posting SET amount = amount + 1 WHERE id = "
                           "(SELECT MAX(id) FROM posting WHERE amount > 0)"))


def test_the_api_process_hands_tasks_to_the_workers_in_production_mode(db, settings):
    """JIFEN_TASKS=celery: the API attaches the Celery sender at start (it must not run the
    follow-up work in the request path); inline mode keeps the in-process dispatch."""
    from dataclasses import replace

    from litestar.testing import TestClient

    from api.app import create_app
    from ledger.config import Settings

    with pytest.raises(ValueError, match="JIFEN_REDIS_URL"):
        replace(settings, redis_url=None, tasks="celery")
    with pytest.raises(ValueError, match="JIFEN_TASKS"):
        replace(settings, tasks="threads")
    prod = replace(settings, redis_url="redis://127.0.0.1:6379/15", tasks="celery")
    assert isinstance(prod, Settings)
    with TestClient(create_app(prod, db)):
        assert not outbox.runs_inline(db.engine)
    with TestClient(create_app(replace(settings, tasks="inline"), db)):
        assert outbox.runs_inline(db.engine)


def test_load_settings_picks_the_task_mode_from_the_environment(monkeypatch, tmp_path):
    from ledger.config import load_settings
    monkeypatch.setenv("JIFEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("JIFEN_TASKS", raising=False)
    monkeypatch.delenv("JIFEN_REDIS_URL", raising=False)
    assert load_settings().tasks == "inline"
    monkeypatch.setenv("JIFEN_REDIS_URL", "redis://127.0.0.1:6379/15")
    assert load_settings().tasks == "celery"
    monkeypatch.setenv("JIFEN_TASKS", "inline")
    assert load_settings().tasks == "inline"


AFTER: list[str] = []


@outbox.handler("test.after_answer", coalesce_s=0.001)
def _after_answer(s) -> None:
    AFTER.append("catch-up")


def test_a_requests_coalesced_work_runs_after_its_answer_is_sent(db):
    """Embedded: a commit's own rows run before the answer; a coalesced catch-up (the rollups)
    waits until the answer has been sent (api/app.after_answer), and outside a request it runs
    at once as before."""
    import threading
    import time

    import anyio

    from api.app import after_answer
    outbox.attach(db, outbox.inline)
    AFTER.clear()

    async def app(scope, receive, send):  # a handler: it commits, then answers
        def commit():
            with db.transaction() as s:
                outbox.enqueue(s, "test.after_answer")
                outbox.enqueue(s, "test.record", {"n": 7})
            AFTER.append(f"own row ran: {RUNS == [{'n': 7}]}")
        await anyio.to_thread.run_sync(commit)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message):
        AFTER.append(message["type"])

    # In a thread of its own: Playwright's sync API (the e2e tests, when one ran earlier in this
    # process) keeps an event loop running in the main thread, where anyio.run would refuse.
    ran = threading.Thread(target=anyio.run, args=(after_answer(app), {"type": "http"}, None,
                                                   send))
    ran.start()
    ran.join()
    assert AFTER == ["own row ran: True", "http.response.start", "http.response.body",
                     "catch-up"]
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxRow)
                        .where(OutboxRow.done_at.is_(None))) == 0
    AFTER.clear()
    time.sleep(0.01)  # past the coalescing interval
    with db.transaction() as s:  # no request: at once
        outbox.enqueue(s, "test.after_answer")
    assert AFTER == ["catch-up"]


@outbox.handler("test.coalesced", coalesce_s=2.5)
def _coalesced(s) -> dict:
    return {}


def test_production_sends_a_coalesced_row_to_run_after_its_interval_and_the_rest_at_once(db):
    """The rollups' catch-up in production: its row waits its interval on the workers (holding
    its dedupe key, so the commits meanwhile queue nothing more); other rows go at once."""
    import uuid

    from ledger.recognition import rollups
    from workers.celery_app import celery_sender

    sent: list[tuple[list[int], float | None]] = []

    class Broker:
        def send_task(self, _name, args, queue, countdown=None, **_kw) -> None:  # noqa: ANN001
            sent.append((args[0], countdown))

    key = f"test-{uuid.uuid4().hex[:8]}"
    outbox.attach(db, celery_sender("q", Broker()))
    try:
        with db.transaction() as s:
            plain = outbox.enqueue(s, "test.record", {"n": 1})
            held = outbox.enqueue_once(s, "test.coalesced", key)
        with db.transaction() as s:  # the key is still held: nothing more is queued or sent
            assert outbox.enqueue_once(s, "test.coalesced", key) is None
    finally:
        outbox.attach(db, outbox.inline)
    assert sent == [([plain], None), ([held], 2.5)]
    assert outbox.COALESCE_S[rollups.CATCH_UP_TASK] == rollups.INLINE_INTERVAL_S == 1.0
    sent.clear()  # never run (no worker here): the relay sends it again, and not held back
    send = celery_sender("q", Broker())
    outbox.relay(db, lambda ids: send(db.engine, ids),
                 now=utcnow() + timedelta(seconds=outbox.GRACE_S + 1))
    assert [countdown for ids, countdown in sent if held in ids] == [None]


@outbox.handler("test.own_finish", own_transactions=True)
def _own_finish(db, n: int, fail_after_mark: bool = False) -> dict:
    """A task with its own transactions whose last one marks its row done (`finish_in`)."""
    from ledger.registry.models import Town
    with db.transaction() as s:
        s.add(Town(name=f"任务镇{n}", created_at=utcnow()))
        s.flush()
        outbox.finish_in(s, {"n": n, "marked": "in its transaction"})
        if fail_after_mark:
            raise RuntimeError("the handler's last transaction failed after the mark")
    RUNS.append({"n": n})
    return {"n": n, "marked": "after"}


def _commits(db) -> list[int]:
    from sqlalchemy import event
    seen: list[int] = []
    event.listen(db.engine, "commit", lambda conn: seen.append(1))
    return seen


def test_an_own_transactions_task_marks_its_row_done_in_its_last_transaction(db):
    """The mark commits with the handler's work: one commit for the run, not two (a
    check-out's points), and the row's result is the one given with the mark."""
    outbox.attach(db, outbox.inline)
    with db.transaction() as s:
        oid = outbox.enqueue(s, "test.own_finish", {"n": 31})
        seen = _commits(db)
    assert RUNS == [{"n": 31}] and _towns(db, 31) == 1
    assert len(seen) == 2  # the enqueueing transaction and the handler's; no third to mark
    with db.sessions() as s:
        row = s.get(OutboxRow, oid)
        assert row.done_at is not None and row.attempts == 1
        assert row.result == {"n": 31, "marked": "in its transaction"}
    assert outbox.run_row(db, oid) == "already_done"  # a second delivery finds it done


def test_a_mark_rolled_back_with_its_transaction_leaves_the_row_to_retry(db):
    outbox.attach(db, outbox.inline)
    with db.transaction() as s:
        oid = outbox.enqueue(s, "test.own_finish", {"n": 32, "fail_after_mark": True})
    assert _towns(db, 32) == 0
    with db.sessions() as s:
        row = s.get(OutboxRow, oid)
        assert row.done_at is None and row.attempts == 1 and "after the mark" in row.last_error


def test_finish_in_outside_a_run_marks_nothing(db):
    outbox.attach(db, outbox.inline)
    with db.transaction() as s:
        oid = outbox.enqueue(s, "test.record", {"n": 33})  # runs (and is marked) at commit
    with db.transaction() as s:
        outbox.finish_in(s, {"n": "stray"})
    with db.sessions() as s:
        assert s.get(OutboxRow, oid).result == {"n": 33}
