"""`book.write_award`: one statement on PostgreSQL once the accounts are known, the ordinary
`book.write` path otherwise, and the same answers either way."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ledger.db import Database
from ledger.errors import IdempotencyConflict, InsufficientFunds
from ledger.journal import accounts, book, oneshot, service
from tests.conftest import audit_clean

SHARDS = 4


@pytest.fixture
def fast(monkeypatch) -> list:
    """Records what each one-statement attempt returned (None: it did not apply)."""
    seen: list = []
    real = oneshot.try_post

    def spy(*a, **kw):
        seen.append(real(*a, **kw))
        return seen[-1]

    monkeypatch.setattr(oneshot, "try_post", spy)
    return seen


def _award(db, key: str | None, person: int = 7, amount: int = 5, **kw) -> book.WriteResult:
    return book.write_award(db, key=key, request={"p": person, "a": amount, **kw},
                            village_id=1, holder_type="person", holder_id=person,
                            amount=amount, shards=SHARDS, source="test", **kw)


def _known(db, person: int = 7) -> None:
    """Two awards: the first opens the account, the second finds it and remembers the ids."""
    _award(db, None, person, 1)
    _award(db, None, person, 1)


def _funded(db, amount: int = 1000, person: int = 7) -> None:
    """A village budget of `amount`, and a person this process knows (2 points)."""
    service.allocate(db, shards=SHARDS, town_id=1, village_id=1, amount=amount, actor_id=None,
                     key=None)
    _known(db, person)


def _stored(db, key: str) -> tuple:
    with db.sessions() as s:
        return s.execute(text("SELECT request_hash, result FROM idempotency_record "
                              "WHERE key = :k"), {"k": key}).one()


def _balance(db, person: int) -> int:
    with db.sessions() as s:
        return s.execute(text("SELECT balance FROM account WHERE holder_type = 'person' AND "
                              "holder_id = :h AND purpose = 'points'"), {"h": person}).scalar()


@pytest.mark.postgres
def test_an_award_to_known_accounts_is_one_statement_and_its_key_replays_it(pg_db, fast):
    _funded(pg_db)
    first = _award(pg_db, "k1", details={"rule_item": "x"})
    assert fast and fast[-1] is not None, "the known accounts should take one statement"
    assert not first.replayed
    posted = first.result
    assert [p["amount"] for p in posted["postings"]] == [5, -5]
    assert posted["postings"][0]["balance_after"] == 7 == _balance(pg_db, 7)
    # The record the database built is the result the client returned, and a retry gets it.
    rhash, stored = _stored(pg_db, "k1")
    assert stored == posted and rhash == book.request_hash({"p": 7, "a": 5,
                                                             "details": {"rule_item": "x"}})
    again = _award(pg_db, "k1", details={"rule_item": "x"})
    assert again.replayed and again.result == posted
    with pytest.raises(IdempotencyConflict):
        _award(pg_db, "k1", amount=6, details={"rule_item": "x"})
    assert _balance(pg_db, 7) == 7
    audit_clean(pg_db)


@pytest.mark.postgres
def test_a_refused_award_falls_back_and_is_refused_with_nothing_applied(pg_db, fast):
    _funded(pg_db, 2 + 4 * SHARDS)  # leaves 4 in each shard
    with pytest.raises(InsufficientFunds) as err:
        _award(pg_db, "too-much", amount=4 * SHARDS + 1)
    assert err.value.code == "budget_exhausted"
    assert fast[-1] is None
    with pg_db.sessions() as s:
        assert s.execute(text("SELECT count(*) FROM idempotency_record")).scalar() == 0
        assert book.village_budget_available(s, 1) == 4 * SHARDS
    assert _balance(pg_db, 7) == 2
    # More than any one shard holds but within the budget: the ordinary path consolidates.
    done = _award(pg_db, "fits", amount=4 * SHARDS)
    assert fast[-1] is None and not done.replayed
    assert _balance(pg_db, 7) == 2 + 4 * SHARDS
    audit_clean(pg_db)


@pytest.mark.postgres
def test_a_deduction_in_one_statement_may_take_a_household_below_zero(pg_db, fast):
    _funded(pg_db, 100)
    got = book.write_award(pg_db, key="litter", request={"d": 1}, deduction=True, village_id=1,
                           holder_type="person", holder_id=7, amount=10, shards=SHARDS,
                           source="inspection")
    assert fast[-1] is not None
    assert got.result["kind"] == "deduct" and _balance(pg_db, 7) == -8
    audit_clean(pg_db)


@pytest.mark.postgres
def test_a_stale_remembered_id_never_posts_to_another_account(pg_db, fast):
    _funded(pg_db, person=7)
    _known(pg_db, 8)
    cache = accounts._caches[pg_db.engine]
    key7 = ("points", "person", 7, "points", 0)
    key8 = ("points", "person", 8, "points", 0)
    cache[key7] = cache[key8]  # as if the database had been restored under this process
    _award(pg_db, "to-7", person=7, amount=5)
    assert fast[-1] is None  # the row is not person 7's: refused, and the ordinary path ran
    assert _balance(pg_db, 7) == 7 and _balance(pg_db, 8) == 2
    audit_clean(pg_db)


@pytest.mark.postgres
def test_a_connection_lost_before_the_statement_costs_nothing_and_pays_once(pg_db, fast):
    _funded(pg_db)
    pg_db.engine.dispose()
    _award(pg_db, None, amount=1)
    assert pg_db.engine.pool.checkedin() == 1  # one writer, one pooled connection
    other = Database(pg_db.url)
    with other.engine.connect() as c:  # the server side of that connection goes away
        c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    other.dispose()
    got = _award(pg_db, "after-loss")  # used within the idle window: no ping, the send fails
    assert fast[-1] is None
    assert not got.replayed and _balance(pg_db, 7) == 8
    assert _award(pg_db, "after-loss").replayed
    audit_clean(pg_db)


def test_on_sqlite_it_is_the_ordinary_write(sqlite_db, fast):
    service.allocate(sqlite_db, shards=SHARDS, town_id=1, village_id=1, amount=1000,
                     actor_id=None, key=None)
    for _ in range(3):
        _award(sqlite_db, None)
    first = _award(sqlite_db, "k")
    assert fast == []
    again = _award(sqlite_db, "k")
    assert again.replayed and again.result == first.result
    assert _balance(sqlite_db, 7) == 3 * 5 + 5
    audit_clean(sqlite_db)


@pytest.mark.postgres
def test_ids_remembered_in_bulk_let_a_holder_s_first_award_be_one_statement(pg_db, fast):
    _funded(pg_db)
    with pg_db.transaction() as s:
        for person in range(10, 20):
            accounts.open_account(s, holder_type="person", holder_id=person, purpose="points")
    fresh = Database(pg_db.url)  # another process: nothing remembered yet
    try:
        with fresh.sessions() as s:
            assert accounts.remember_points_accounts(s, "person", range(10, 25)) == 10
        _award(fresh, "a-10", person=10)  # the budget's shards are looked up (and remembered)
        _award(fresh, "a-11", person=11)
        assert fast[-1] is not None
        tried = len(fast)
        _award(fresh, "a-24", person=24)  # no account yet: the ordinary path opens it
        assert len(fast) == tried and _balance(fresh, 24) == 5
    finally:
        fresh.dispose()
    audit_clean(pg_db)


def _warm(db, people) -> None:
    """This process knows the budget's shards and the people's accounts, as a running API
    process does: every award below takes the one-statement path first."""
    with db.transaction() as s:
        for p in people:
            accounts.open_account(s, holder_type="person", holder_id=p, purpose="points")
    with db.sessions() as s:
        accounts.remember_points_accounts(s, "person", list(people))
        accounts.budget_shards(s, 1, SHARDS)


@pytest.mark.postgres
def test_fifty_parallel_one_statement_awards_stop_at_exactly_what_the_budget_affords(pg_db,
                                                                                    fast):
    from tests.test_journal_concurrency import RACERS, _codes, _parallel_db, race
    affordable, amount = 10, 7  # 70 points over 4 shards: no shard alone pays 7 three times
    service.allocate(pg_db, shards=SHARDS, town_id=1, village_id=1, amount=affordable * amount,
                     actor_id=None, key=None)
    wide = _parallel_db(pg_db)
    _warm(wide, range(100, 100 + RACERS))
    outcomes = race(RACERS, lambda i: _award(wide, f"award-{i}", person=100 + i,
                                             amount=amount).result)
    wide.dispose()
    assert _codes(outcomes) == {"ok": affordable, "budget_exhausted": RACERS - affordable}
    assert any(f is not None for f in fast)  # some went through in one statement
    with pg_db.sessions() as s:
        assert book.village_budget_available(s, 1) == 0
    audit_clean(pg_db)


@pytest.mark.postgres
def test_fifty_parallel_one_statement_requests_with_one_key_apply_once(pg_db, fast):
    from tests.test_journal_concurrency import RACERS, _codes, _parallel_db, race
    service.allocate(pg_db, shards=SHARDS, town_id=1, village_id=1, amount=1000, actor_id=None,
                     key=None)
    wide = _parallel_db(pg_db)
    _warm(wide, [7])
    outcomes = race(RACERS, lambda i: _award(wide, "one-key", amount=25))
    wide.dispose()
    assert all(isinstance(o, book.WriteResult) for o in outcomes), _codes(outcomes)
    assert sum(not o.replayed for o in outcomes) == 1
    assert len({o.result["entry_id"] for o in outcomes}) == 1
    assert all(o.result == outcomes[0].result for o in outcomes)
    assert _balance(pg_db, 7) == 25
    audit_clean(pg_db)
