"""Races with real parallel connections: no overspend, no over-award, no double apply.

PostgreSQL tests use real threads, each on its own connection (row locks decide); the SQLite
test runs the same overspend race with threads against one file (one writer at a time).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy.exc import OperationalError

from ledger.db import Database
from ledger.errors import DomainError, InsufficientFunds
from ledger.journal import book, holds, queries, service
from ledger.journal.accounts import open_account
from ledger.journal.posting import Line, post_entry
from ledger.view import View
from tests.conftest import audit_clean

RACERS = 50
SHARDS = 8  # the ledger's default budget shard count
CONNECT_PATIENCE_S = 60


def race(n: int, fn) -> list:
    """Run fn(i) in n threads released at the same instant; each outcome is a result or the
    exception it raised."""
    barrier = threading.Barrier(n)
    out: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what we assert on
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a racer hung"
    return out


def _parallel_db(db: Database) -> Database:
    """A second engine on the same database with a connection for every racer, opened before
    the race so that all of them really run at once."""
    wide = Database(db.url, pool_size=RACERS + 2, max_overflow=0)
    conns = []
    deadline = time.monotonic() + CONNECT_PATIENCE_S
    while len(conns) < (1 if wide.is_sqlite else RACERS):
        try:
            conns.append(wide.engine.connect())
        except OperationalError:  # the server's connection slots are shared with other suites
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    for c in conns:
        c.close()
    return wide


def _holder_with(db: Database, points: int, person: int = 7) -> tuple[int, int]:
    """A person holding exactly `points`, and a shop; built through the usual flows."""
    service.allocate(db, shards=SHARDS, town_id=1, village_id=1, amount=points, actor_id=None,
                     key=None)
    service.adjust(db, shards=SHARDS, village_id=1, holder_type="person", holder_id=person,
                   amount=points, memo="seed", actor_id=1, key=None)
    with db.transaction() as s:
        pts = open_account(s, holder_type="person", holder_id=person, purpose="points")
        shop = open_account(s, holder_type="provider", holder_id=1, purpose="redeemed")
    return pts, shop


def _balance(db: Database, account_id: int) -> tuple[int, int]:
    with db.sessions() as s:
        acct = queries.get_account(s, account_id)
        return acct.balance, acct.pending_out


def _codes(outcomes: list) -> Counter:
    return Counter(o.code if isinstance(o, DomainError) else
                   ("ok" if isinstance(o, (dict, View)) else repr(o)) for o in outcomes)


def _spend_race(db: Database) -> None:
    pts, shop = _holder_with(db, 100)
    wide = _parallel_db(db)

    def spend(i: int) -> dict:
        return book.write(wide, lambda s: post_entry(
            s, unit="points", kind="redeem", source="test", source_ref=str(i),
            lines=[Line.of(pts, -10), Line.of(shop, 10, hot=True)]).as_dict(),
            key=f"spend-{i}", request={"i": i}).result

    outcomes = race(RACERS, spend)
    wide.dispose()
    assert _codes(outcomes) == {"ok": 10, "insufficient_points": 40}
    assert _balance(db, pts) == (0, 0)
    assert _balance(db, shop) == (100, 0)
    audit_clean(db)


@pytest.mark.postgres
def test_fifty_parallel_spends_against_ten_spends_worth_exactly_ten_win_on_postgres(pg_db):
    _spend_race(pg_db)


def test_fifty_parallel_spends_against_ten_spends_worth_exactly_ten_win_on_sqlite(sqlite_db):
    _spend_race(sqlite_db)


@pytest.mark.postgres
def test_fifty_parallel_holds_reserve_exactly_ten_and_all_ten_post(pg_db):
    pts, shop = _holder_with(pg_db, 100)
    wide = _parallel_db(pg_db)

    def reserve_and_post(i: int) -> dict:
        hold_id = book.write(wide, lambda s: {"hold_id": holds.reserve(
            s, unit="points", debit_account_id=pts, credit_account_id=shop, amount=10,
            ttl_s=600)}, key=f"hold-{i}", request={"i": i}).result["hold_id"]
        return book.write(wide, lambda s: holds.post_hold(s, hold_id).as_dict(),
                          key=f"post-{i}", request={"hold": hold_id}).result

    outcomes = race(RACERS, reserve_and_post)
    wide.dispose()
    assert _codes(outcomes) == {"ok": 10, "insufficient_points": 40}
    assert _balance(pg_db, pts) == (0, 0)
    assert _balance(pg_db, shop) == (100, 0)
    audit_clean(pg_db)


@pytest.mark.postgres
def test_many_clerks_posting_one_hold_post_it_exactly_once(pg_db):
    pts, shop = _holder_with(pg_db, 30)
    with pg_db.transaction() as s:
        hold_id = holds.reserve(s, unit="points", debit_account_id=pts, credit_account_id=shop,
                                amount=30, ttl_s=600)
    wide = _parallel_db(pg_db)
    outcomes = race(RACERS, lambda i: service.post_hold(wide, hold_id=hold_id, actor_id=i,
                                                        key=None))
    wide.dispose()
    assert _codes(outcomes) == {"ok": 1, "hold_posted": RACERS - 1}
    assert _balance(pg_db, pts) == (0, 0)
    audit_clean(pg_db)


@pytest.mark.postgres
def test_parallel_awards_on_one_shared_sharded_budget_stop_at_exactly_what_it_affords(pg_db):
    affordable, amount = 10, 7  # 70 points spread over 8 shards: no shard alone holds 7 twice
    service.allocate(pg_db, shards=SHARDS, town_id=1, village_id=1, amount=affordable * amount,
                     actor_id=None, key=None)
    wide = _parallel_db(pg_db)
    outcomes = race(RACERS, lambda i: service.adjust(
        wide, shards=SHARDS, village_id=1, holder_type="person", holder_id=100 + i,
        amount=amount, memo="race", actor_id=1, key=f"award-{i}").result)
    wide.dispose()
    assert _codes(outcomes) == {"ok": affordable, "budget_exhausted": RACERS - affordable}
    with pg_db.sessions() as s:
        assert book.village_budget_available(s, 1) == 0
    audit_clean(pg_db)


@pytest.mark.postgres
def test_parallel_requests_with_one_idempotency_key_apply_once(pg_db):
    service.allocate(pg_db, shards=SHARDS, town_id=1, village_id=1, amount=1000, actor_id=None,
                     key=None)
    wide = _parallel_db(pg_db)
    outcomes = race(RACERS, lambda i: service.adjust(
        wide, shards=SHARDS, village_id=1, holder_type="person", holder_id=7, amount=25,
        memo="same request", actor_id=1, key="one-key"))
    wide.dispose()
    assert all(isinstance(o, book.WriteResult) for o in outcomes), _codes(outcomes)
    assert sum(not o.replayed for o in outcomes) == 1
    assert len({o.result["entry_id"] for o in outcomes}) == 1
    with pg_db.transaction() as s:
        pts = open_account(s, holder_type="person", holder_id=7, purpose="points")
    assert _balance(pg_db, pts) == (25, 0)
    audit_clean(pg_db)


@pytest.mark.postgres
def test_parallel_reversals_of_one_entry_reverse_it_once(pg_db):
    service.allocate(pg_db, shards=SHARDS, town_id=1, village_id=1, amount=100, actor_id=None,
                     key=None)
    entry = service.adjust(pg_db, shards=SHARDS, village_id=1, holder_type="person", holder_id=7,
                           amount=40, memo="wrong person", actor_id=1, key=None).result
    wide = _parallel_db(pg_db)
    outcomes = race(RACERS, lambda i: service.reverse(
        wide, entry_id=entry["entry_id"], reason="race", actor_id=i, key=None))
    wide.dispose()
    assert _codes(outcomes) == {"ok": 1, "already_reversed": RACERS - 1}
    with pg_db.sessions() as s:
        assert book.village_budget_available(s, 1) == 100
    audit_clean(pg_db)


def test_refused_spend_leaves_the_transaction_usable_and_nothing_applied(db):
    """A refusal inside a caller's transaction undoes its own partial work (the entry's other
    account is put back, hash chain included), so the caller may go on and commit."""
    pts, shop = _holder_with(db, 5)
    with db.transaction() as s:
        funding = open_account(s, holder_type="town", holder_id=1, purpose="funding")
    assert funding < pts  # locked (and changed) first, then the refusal on pts undoes it
    before = _balance(db, funding)
    with db.transaction() as s:
        with pytest.raises(InsufficientFunds) as e:
            post_entry(s, unit="points", kind="redeem",
                       lines=[Line.of(funding, 6), Line.of(pts, -6)])
        assert e.value.code == "insufficient_points"
        post_entry(s, unit="points", kind="redeem", lines=[Line.of(pts, -5),
                                                           Line.of(shop, 5, hot=True)])
    assert _balance(db, pts) == (0, 0)
    assert _balance(db, funding) == before
    audit_clean(db)
