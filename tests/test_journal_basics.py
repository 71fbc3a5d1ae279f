"""The journal's guarantees, one behaviour per test."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger.errors import Conflict, IdempotencyConflict, InsufficientFunds, InvalidInput
from ledger.journal import book, holds, queries, service
from ledger.journal.accounts import open_account
from ledger.journal.audit import make_checkpoint, run_audit
from ledger.journal.posting import Line, post_entry
from ledger.timeutil import utcnow
from tests.conftest import audit_clean

SHARDS = 4


def _fund(db, village=1, amount=1000):
    return service.allocate(db, shards=SHARDS, town_id=1, village_id=village, amount=amount,
                            actor_id=None, key=None)


def _award(db, person, amount, key=None, village=1):
    return service.adjust(db, shards=SHARDS, village_id=village, holder_type="person",
                          holder_id=person, amount=amount, memo="test", actor_id=9, key=key)


def _points(db, person):
    with db.transaction() as s:
        return queries.get_account(s, open_account(s, holder_type="person", holder_id=person,
                                                   purpose="points"))


def test_award_moves_points_from_village_budget_and_balances(db):
    _fund(db)
    _award(db, 7, 30)
    assert _points(db, 7).balance == 30
    with db.sessions() as s:
        assert book.village_budget_available(s, 1) == 970
    audit_clean(db)


def test_budgets_sum_each_villages_shards_within_the_villages_asked_for(db):
    _fund(db, village=1, amount=1000)
    _fund(db, village=2, amount=500)
    _award(db, 7, 30, village=1)
    every = {b.village_id: (b.balance, b.held, b.available) for b in queries.budgets(db)}
    assert every == {1: (970, 0, 970), 2: (500, 0, 500)}
    assert [b.village_id for b in queries.budgets(db, within={2})] == [2]
    assert queries.budgets(db, within=set()) == []


def test_unbalanced_entry_is_refused_and_nothing_applied(db):
    with pytest.raises(InvalidInput) as e, db.transaction() as s:
        a = open_account(s, holder_type="person", holder_id=1, purpose="points")
        b = open_account(s, holder_type="town", holder_id=1, purpose="funding")
        post_entry(s, unit="points", kind="award", lines=[Line.of(a, 5), Line.of(b, -4)])
    assert e.value.code == "entry_unbalanced"
    audit_clean(db)


def test_single_posting_entry_is_refused(db):
    with pytest.raises(InvalidInput) as e, db.transaction() as s:
        post_entry(s, unit="points", kind="award", lines=[Line.of(1, 0)])
    assert e.value.code == "entry_too_few_postings"


@pytest.mark.parametrize("sql", ["UPDATE posting SET amount = amount + 1",
                                 "DELETE FROM posting",
                                 "UPDATE journal_entry SET memo = 'edited'",
                                 "DELETE FROM journal_entry"])
def test_journal_update_or_delete_is_refused_by_the_database(db, sql):
    _fund(db)
    _award(db, 7, 30)
    with pytest.raises(DBAPIError) as e, db.transaction() as s:
        s.execute(text(sql))
    assert "append-only" in str(e.value)
    audit_clean(db)


def test_same_key_same_body_returns_first_result(db):
    _fund(db)
    first = _award(db, 7, 30, key="k-1")
    again = _award(db, 7, 30, key="k-1")
    assert again.replayed and again.result == first.result
    assert _points(db, 7).balance == 30


def test_same_key_different_body_is_idempotency_conflict_and_applies_nothing(db):
    _fund(db)
    _award(db, 7, 30, key="k-1")
    with pytest.raises(IdempotencyConflict) as e:
        _award(db, 7, 31, key="k-1")
    assert e.value.code == "idempotency_conflict" and e.value.status == 409
    assert _points(db, 7).balance == 30


def test_a_retry_refused_by_its_own_first_effect_still_replays_the_first_result(db):
    """The key is checked after the work: a retried spend that the first attempt made
    unaffordable answers with the first result, not with insufficient points."""
    _fund(db, amount=50)
    first = _award(db, 7, 50, key="k-all")  # spends the whole budget
    again = _award(db, 7, 50, key="k-all")  # the work alone would be budget_exhausted
    assert again.replayed and again.result == first.result
    with pytest.raises(IdempotencyConflict):
        _award(db, 7, 49, key="k-all")
    with pytest.raises(InsufficientFunds) as e:  # a new request is refused as before
        _award(db, 7, 50, key="k-new")
    assert e.value.code == "budget_exhausted"
    assert _points(db, 7).balance == 50
    audit_clean(db)


def test_budget_cannot_be_overspent(db):
    _fund(db, amount=100)
    _award(db, 7, 100)
    with pytest.raises(InsufficientFunds) as e:
        _award(db, 8, 1)
    assert e.value.code == "budget_exhausted"
    audit_clean(db)


def test_award_larger_than_any_shard_consolidates_shards(db):
    _fund(db, amount=100)  # 25 per shard
    _award(db, 7, 90)
    assert _points(db, 7).balance == 90
    with db.sessions() as s:
        assert book.village_budget_available(s, 1) == 10
    audit_clean(db)


def test_a_writer_whose_shard_ran_short_keeps_the_shard_that_could_pay(db, monkeypatch):
    """A writer thread draws on its own shard (posting.writer_slot); once that shard could not
    pay and another was found, its later awards go there at once, not through a retry each."""
    import threading
    _fund(db, amount=100)  # 25 per shard
    found, errors = [], []
    real = book.prepare_shards
    monkeypatch.setattr(book, "prepare_shards",
                        lambda *a: (found.append(a[1].amount), real(*a))[1])

    def writer():  # a thread of its own: its number and memory start afresh
        try:
            _award(db, 7, 25)  # all of its shard
            _award(db, 7, 5)  # its shard is empty: moved to one that can pay
            _award(db, 7, 5)  # straight to that one
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    t = threading.Thread(target=writer)
    t.start()
    t.join()
    assert errors == [] and found == [-5]
    assert _points(db, 7).balance == 35
    with db.sessions() as s:
        assert book.village_budget_available(s, 1) == 65
    audit_clean(db)


def test_a_writer_whose_shard_is_not_yet_opened_is_paid_from_one_that_is(db):
    """The budget was allocated over fewer shards than an award asks for (the shard setting
    was raised later): the missing shards are opened inside the award's transaction, so a
    rolled-back attempt opens them again under new ids. A writer whose slot names one of them
    must still be paid on its retry (keyed by the retry hint on shard 0, not the whole tuple:
    before, every retry chose the same fresh shard and the award failed as 'budget shard
    retries exhausted', which the Procfile's Celery worker hit). It shows on PostgreSQL, whose
    sequences do not roll back; SQLite gives a rolled-back id out again."""
    import threading
    _fund(db, amount=100)  # SHARDS shards of 25
    errors = []

    def writer():
        from ledger.journal import posting
        posting._THREAD.slot = SHARDS + 1  # a shard past those the allocation opened
        try:
            service.adjust(db, shards=SHARDS * 2, village_id=1, holder_type="person",
                           holder_id=7, amount=5, memo="test", actor_id=9, key=None)
            service.adjust(db, shards=SHARDS * 2, village_id=1, holder_type="person",
                           holder_id=7, amount=5, memo="test", actor_id=9, key=None)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    t = threading.Thread(target=writer)
    t.start()
    t.join()
    assert errors == []
    assert _points(db, 7).balance == 10
    with db.sessions() as s:
        assert book.village_budget_available(s, 1) == 90
    audit_clean(db)


def test_deduction_may_take_holder_negative_but_spending_may_not(db):
    _fund(db)
    _award(db, 7, 10)
    _award(db, 7, -25)
    assert _points(db, 7).balance == -15
    with db.transaction() as s:
        shop = open_account(s, holder_type="provider", holder_id=1, purpose="redeemed")
        pts = open_account(s, holder_type="person", holder_id=7, purpose="points")
    with pytest.raises(InsufficientFunds) as e, db.transaction() as s:
        holds.reserve(s, unit="points", debit_account_id=pts, credit_account_id=shop, amount=1,
                      ttl_s=60)
    assert e.value.code == "insufficient_points"
    audit_clean(db)


def test_reversal_names_original_and_cannot_repeat(db):
    _fund(db)
    entry = _award(db, 7, 40).result["entry_id"]
    rev = service.reverse(db, entry_id=entry, reason="wrong person", actor_id=1, key=None)
    assert _points(db, 7).balance == 0
    with db.sessions() as s:
        from ledger.journal.models import JournalEntry
        assert s.get(JournalEntry, rev.entry_id).reverses_id == entry
    with pytest.raises(Conflict) as e:
        service.reverse(db, entry_id=entry, reason="again", actor_id=1, key=None)
    assert e.value.code == "already_reversed"
    audit_clean(db)


def _hold(db, amount=50, ttl_s=60):
    with db.transaction() as s:
        shop = open_account(s, holder_type="provider", holder_id=1, purpose="redeemed")
        pts = open_account(s, holder_type="person", holder_id=7, purpose="points")
        return holds.reserve(s, unit="points", debit_account_id=pts, credit_account_id=shop,
                             amount=amount, ttl_s=ttl_s), pts, shop


def test_hold_reserves_then_posts_once(db):
    _fund(db)
    _award(db, 7, 80)
    hid, _pts, _shop = _hold(db)
    acct = _points(db, 7)
    assert (acct.balance, acct.pending_out, acct.available) == (80, 50, 30)
    service.post_hold(db, hold_id=hid, actor_id=1, key=None)
    assert (_points(db, 7).balance, _points(db, 7).pending_out) == (30, 0)
    with pytest.raises(Conflict) as e:
        service.post_hold(db, hold_id=hid, actor_id=1, key=None)
    assert e.value.code == "hold_posted"
    audit_clean(db)


def test_void_releases_hold_and_it_cannot_post_afterwards(db):
    _fund(db)
    _award(db, 7, 80)
    hid, *_ = _hold(db)
    service.void_hold(db, hold_id=hid, key=None)
    assert _points(db, 7).available == 80
    with pytest.raises(Conflict) as e:
        service.post_hold(db, hold_id=hid, actor_id=1, key=None)
    assert e.value.code == "hold_voided"
    audit_clean(db)


def test_sweep_voids_expired_holds_only(db):
    _fund(db)
    _award(db, 7, 80)
    h_old, *_ = _hold(db, amount=10, ttl_s=1)
    _hold(db, amount=20, ttl_s=3600)
    with db.transaction() as s:
        s.execute(text("UPDATE hold SET expires_at = created_at WHERE id = :i"), {"i": h_old})
    assert service.sweep_expired_holds(db) == 1
    assert service.sweep_expired_holds(db) == 0
    assert _points(db, 7).pending_out == 20
    audit_clean(db)


def test_balance_as_of_past_instant_and_statement_paging(db):
    _fund(db)
    t0 = utcnow()
    for i in range(5):
        _award(db, 7, 10 + i)
    acct = _points(db, 7)
    with db.sessions() as s:
        assert queries.balance_as_of(s, acct.id, t0) == 0
        assert queries.balance_as_of(s, acct.id, utcnow() + timedelta(seconds=1)) == 60
        page1 = queries.statement(s, acct.id, limit=2)
        page2 = queries.statement(s, acct.id, limit=2, before_seq=page1["next_before_seq"])
        page3 = queries.statement(s, acct.id, limit=2, before_seq=page2["next_before_seq"])
    assert [i["amount"] for i in page1["items"] + page2["items"] + page3["items"]] == \
        [14, 13, 12, 11, 10]
    assert page3["next_before_seq"] is None


def _tamper(db, sql):
    """Edit the journal behind the application's back, as an attacker with DB access would."""
    with db.engine.begin() as c:
        if db.is_sqlite:
            for stmt in __import__("ledger.journal.ddl", fromlist=["x"]).SQLITE_DOWN:
                c.exec_driver_sql(stmt)
        else:
            c.exec_driver_sql("SET LOCAL session_replication_role = replica")
        c.exec_driver_sql(sql)


def test_audit_names_first_bad_posting_after_tampering(db):
    _fund(db)
    e1 = _award(db, 7, 10).result["entry_id"]
    _award(db, 7, 20)
    _tamper(db, f"UPDATE posting SET amount = 11 WHERE entry_id = {e1} AND amount = 10")
    with db.sessions() as s:
        report = run_audit(s)
    assert not report.ok
    codes = {v.code for v in report.violations}
    assert {"chain_broken", "balance_mismatch", "entry_unbalanced"} <= codes
    broken = [v for v in report.violations if v.code == "chain_broken"]
    assert broken[0].entry_id == e1


def test_editing_entry_details_breaks_digest_and_checkpoint(db):
    _fund(db)
    e1 = _award(db, 7, 10).result["entry_id"]
    with db.transaction() as s:
        assert make_checkpoint(s) is not None
    audit_clean(db)
    _tamper(db, f"UPDATE journal_entry SET memo = 'forged' WHERE id = {e1}")
    with db.sessions() as s:
        codes = {v.code for v in run_audit(s).violations}
    assert "entry_digest_mismatch" in codes and "chain_broken" in codes


def test_allocation_over_the_most_shards_allowed_posts_and_awards_draw_on_it(db):
    from ledger.journal.accounts import MAX_BUDGET_SHARDS
    service.allocate(db, shards=MAX_BUDGET_SHARDS, town_id=1, village_id=3, amount=630,
                     actor_id=None, key=None)
    service.adjust(db, shards=MAX_BUDGET_SHARDS, village_id=3, holder_type="person",
                   holder_id=7, amount=600, memo="big", actor_id=1, key=None)
    with db.sessions() as s:
        assert book.village_budget_available(s, 3) == 30
    audit_clean(db)


def test_hold_made_by_a_flow_cannot_be_resolved_through_the_generic_operations(db):
    _fund(db)
    _award(db, 7, 80)
    with db.transaction() as s:
        shop = open_account(s, holder_type="provider", holder_id=1, purpose="redeemed")
        pts = open_account(s, holder_type="person", holder_id=7, purpose="points")
        hid = holds.reserve(s, unit="points", debit_account_id=pts, credit_account_id=shop,
                            amount=30, ttl_s=60, source="redemption", source_ref="1")
    for call in (lambda: service.post_hold(db, hold_id=hid, actor_id=1, key=None),
                 lambda: service.void_hold(db, hold_id=hid, key=None)):
        with pytest.raises(Conflict) as e:
            call()
        assert e.value.code == "hold_owned_by_flow"
    assert (_points(db, 7).balance, _points(db, 7).pending_out) == (80, 30)
    audit_clean(db)


def test_a_stale_remembered_account_id_is_caught_and_never_credits_another_holder(db):
    """As after a database restored under a running process: the process remembers an id that
    now names another holder's account. The posting notices, forgets and retries."""
    from ledger.journal import accounts
    _fund(db)
    _award(db, 7, 10)
    _award(db, 8, 10)
    _points(db, 7), _points(db, 8)  # looked up again: both ids are now remembered
    with db.transaction() as s:
        cache = accounts._cache(s)
        key7 = ("points", "person", 7, "points", 0)
        key8 = ("points", "person", 8, "points", 0)
        cache[key7] = cache[key8]  # person 7's key now points at person 8's account
    _award(db, 7, 5)
    assert (_points(db, 7).balance, _points(db, 8).balance) == (15, 10)
    audit_clean(db)


def test_a_forked_process_numbers_its_writers_afresh():
    """Writer numbers pick a budget's shard: a forked child (a Celery prefork worker) must not
    inherit its parent's numbers, or every child starts on the parent's shard."""
    import os

    from ledger.journal import posting
    mine = posting.writer_slot()
    assert posting.writer_slot() == mine  # a thread keeps its number
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its number and leave at once
        try:
            os.write(write, str(posting.writer_slot()).encode())
        finally:
            os._exit(0)
    os.close(write)
    child = int(os.read(read, 64))
    os.close(read)
    os.waitpid(pid, 0)
    assert child != mine  # drawn from 2**30 starts: equal by chance once in a billion
