"""Posting many entries at once (journal/bulk.py): the same chains, balances and overdraft
rules as posting one by one, proved by the audit; a refusal anywhere applies nothing (the
digest's text, `posting.canonical_body`, shared with posting one by one: test_journal_digest);
a big load on PostgreSQL puts posting's foreign keys back (validated) or, when the tables are
busy, checks row by row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from ledger.errors import InsufficientFunds
from ledger.journal import bulk, service
from ledger.journal.accounts import budget_shards, open_account, open_accounts
from ledger.journal.audit import run_audit
from ledger.journal.bulk import BulkEntry, post_many
from ledger.journal.models import Account, JournalEntry, Posting
from ledger.journal.posting import Line, post_entry

SHARDS = 4
T0 = datetime(2021, 3, 1, 4, tzinfo=UTC)


def _setup(db, budget: int) -> tuple[tuple[int, ...], list[int]]:
    service.allocate(db, shards=SHARDS, town_id=1, village_id=1, amount=budget, actor_id=None,
                     key=None)
    with db.transaction() as s:
        shards = budget_shards(s, 1, SHARDS)
        got = open_accounts(s, [("points", "person", p, "points", 0) for p in (5, 6, 7)])
    return shards, [got[("points", "person", p, "points", 0)] for p in (5, 6, 7)]


def _award(shards, holder: int, amount: int, day: int) -> BulkEntry:
    return BulkEntry("points", "award" if amount > 0 else "deduct",
                     [Line.of(holder, amount), Line(shards, -amount, hot=True)],
                     T0 + timedelta(days=day), memo="历史\t导入\n第二行", source="import",
                     source_ref=f"r{day}", details={"import": {"line": day}})


def test_bulk_entries_chain_like_single_postings_and_audit_clean(db):
    shards, (a, b, c) = _setup(db, 1000)
    with db.transaction() as s:
        ids = post_many(s, [_award(shards, a, 100, 1), _award(shards, b, 50, 2),
                            _award(shards, a, -30, 3)])
        # a posting after the batch extends the same chains
        post_entry(s, unit="points", kind="award", lines=[
            Line.of(c, 5), Line.of(shards[0], -5, hot=True)])
    assert ids == sorted(ids) and len(ids) == 3
    with db.sessions() as s:
        bal = dict(s.execute(select(Account.id, Account.balance)
                             .where(Account.id.in_((a, b, c)))).all())
        assert bal == {a: 70, b: 50, c: 5}
        first = s.get(JournalEntry, ids[0])
        assert first.created_at == T0 + timedelta(days=1) and first.memo == "历史\t导入\n第二行"
        assert first.details == {"import": {"line": 1}}
        report = run_audit(s)
        assert report.ok, report.violations


def test_bulk_batch_consolidates_shards_when_none_alone_can_pay(db):
    shards, (a, _, _) = _setup(db, 400)  # 100 on each of 4 shards
    with db.transaction() as s:
        post_many(s, [_award(shards, a, 350, 1)])
    with db.sessions() as s:
        kinds = [k for (k,) in s.execute(select(JournalEntry.kind).order_by(JournalEntry.id))]
        assert kinds[-2:] == ["rebalance", "award"]
        assert s.scalar(select(func.sum(Account.balance)).where(Account.id.in_(shards))) == 50
        assert run_audit(s).ok


def test_bulk_refusal_applies_nothing(db):
    shards, (a, b, _) = _setup(db, 100)
    with db.sessions() as s:
        before = s.scalar(select(func.count()).select_from(JournalEntry))
    with pytest.raises(InsufficientFunds) as err, db.transaction() as s:
        post_many(s, [_award(shards, a, 60, 1), _award(shards, b, 60, 2)])
    assert err.value.code == "budget_exhausted"
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(JournalEntry)) == before
        assert s.scalar(select(func.sum(Account.balance)).where(Account.id.in_(shards))) == 100
        assert run_audit(s).ok


def test_open_accounts_finds_existing_and_creates_missing_once(db):
    with db.transaction() as s:
        old = open_account(s, holder_type="person", holder_id=9, purpose="points")
    keys = [("points", "person", 9, "points", 0), ("minutes", "person", 9, "points", 0)]
    with db.transaction() as s:
        got = open_accounts(s, keys)
    with db.transaction() as s:
        again = open_accounts(s, keys)
    assert got == again and got[keys[0]] == old and len(set(got.values())) == 2


def _foreign_keys(s) -> list[str]:
    return sorted(s.scalars(text("SELECT conname FROM pg_constraint WHERE contype = 'f' "
                                 "AND conrelid = 'posting'::regclass")))


def _indexes(s) -> list[str]:
    return sorted(s.scalars(text("SELECT indexname || ': ' || indexdef FROM pg_indexes "
                                 "WHERE tablename IN ('posting', 'journal_entry')")))


def _many(shards, holders, n: int) -> list[BulkEntry]:
    return [_award(shards, holders[i % len(holders)], 1 + i % 3, i) for i in range(n)]


@pytest.mark.parametrize("ratio, kept", [(bulk.UNINDEXED_TABLE_RATIO, 2), (0, 8)])
def test_big_load_on_postgres_drops_and_rebuilds_the_foreign_keys_and_indexes(
        pg_db, monkeypatch, ratio, kept):
    """Big beside the journal: only the primary keys kept while loading; less big (ratio 0
    here): the indexes kept, the foreign keys still dropped."""
    db = pg_db
    monkeypatch.setattr(bulk, "UNINDEXED_TABLE_RATIO", ratio)
    shards, holders = _setup(db, 10_000)
    with db.sessions() as s:
        before, indexes = _foreign_keys(s), _indexes(s)
    assert len(before) == 2 and len(indexes) == 8
    monkeypatch.setattr(bulk, "UNCHECKED_MIN_POSTINGS", 10)
    seen = []
    real = bulk._post_pg

    def copy(raw, book, entries, unchecked):
        seen.append(raw.cur.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                                    "AND conrelid = 'posting'::regclass").fetchone()[0])
        seen.append(raw.cur.execute("SELECT count(*) FROM pg_indexes WHERE tablename IN "
                                    "('posting', 'journal_entry')").fetchone()[0])
        return real(raw, book, entries, unchecked)

    monkeypatch.setattr(bulk, "_post_pg", copy)
    with db.transaction() as s:
        post_many(s, _many(shards, holders, 40))
    assert seen == [0, kept]  # loaded without the per-row checks
    with db.sessions() as s:
        assert _foreign_keys(s) == before and _indexes(s) == indexes
        assert s.scalar(select(func.count()).select_from(Posting).where(
            Posting.account_id.in_(holders))) == 40
        report = run_audit(s)
        assert report.ok, report.violations


def test_big_load_on_postgres_checks_row_by_row_when_the_journal_is_busy(pg_db, monkeypatch):
    db = pg_db
    shards, holders = _setup(db, 10_000)
    monkeypatch.setattr(bulk, "UNCHECKED_MIN_POSTINGS", 10)
    monkeypatch.setattr(bulk, "UNCHECKED_LOCK_TIMEOUT_MS", 50)
    with db.engine.connect() as reader:  # a reader of the journal in a transaction
        reader.execute(select(func.count()).select_from(Posting))
        with db.transaction() as s:
            post_many(s, _many(shards, holders, 40))
            assert len(_foreign_keys(s)) == 2
        reader.rollback()
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Posting).where(
            Posting.account_id.in_(holders))) == 40
        assert run_audit(s).ok


@pytest.mark.parametrize("unchecked", [False, True])
def test_a_load_streamed_in_chunks_draws_more_ids_when_a_consolidation_needs_one(
        db, monkeypatch, unchecked):
    """Chunks of 3 entries written while the next are computed (PostgreSQL: COPY); entry 7
    needs its shards consolidated, so its chunk takes one id more than was drawn: the ids stay
    in posting order and each caller's entry gets its own."""
    monkeypatch.setattr(bulk, "STREAM_CHUNK", 3)
    if unchecked:
        monkeypatch.setattr(bulk, "UNCHECKED_MIN_POSTINGS", 10)
        monkeypatch.setattr(bulk, "UNCHECKED_TABLE_RATIO", 10**6)
    shards, (a, b, c) = _setup(db, 400)  # 100 on each of 4 shards
    batch = [_award(shards, (a, b, c)[i % 3], 10, i) for i in range(7)]  # 70 from shard 1
    batch += [_award(shards, a, 250, 7)] + [_award(shards, b, 1, 8 + i) for i in range(5)]
    with db.transaction() as s:
        ids = post_many(s, batch)
    with db.sessions() as s:
        got = s.execute(select(JournalEntry.id, JournalEntry.kind, JournalEntry.source_ref)
                        .where(JournalEntry.source.in_(("import", "rebalance")))
                        .order_by(JournalEntry.id)).all()
        assert [k for _, k, _ in got] == ["award"] * 7 + ["rebalance"] + ["award"] * 6
        by_ref = {ref: i for i, _, ref in got if ref}
        assert ids == [by_ref[f"r{i}"] for i in range(13)]
        assert s.scalar(select(func.sum(Account.balance)).where(Account.id.in_(shards))) == 75
        report = run_audit(s)
        assert report.ok, report.violations


@pytest.mark.parametrize("unchecked", [False, True])
def test_a_refusal_after_chunks_were_written_applies_nothing(db, monkeypatch, unchecked):
    monkeypatch.setattr(bulk, "STREAM_CHUNK", 2)
    if unchecked:
        monkeypatch.setattr(bulk, "UNCHECKED_MIN_POSTINGS", 10)
        monkeypatch.setattr(bulk, "UNCHECKED_TABLE_RATIO", 10**6)
    shards, (a, b, _) = _setup(db, 100)
    with db.sessions() as s:
        before = s.scalar(select(func.count()).select_from(JournalEntry))
        indexes = _indexes(s) if db.engine.dialect.name == "postgresql" else []
    batch = [_award(shards, a, 10, i) for i in range(9)] + [_award(shards, b, 20, 9)]
    with pytest.raises(InsufficientFunds) as err, db.transaction() as s:
        post_many(s, batch)
    assert err.value.code == "budget_exhausted"
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(JournalEntry)) == before
        assert s.scalar(select(func.sum(Account.balance)).where(Account.id.in_(shards))) == 100
        if indexes:
            assert _indexes(s) == indexes
        assert run_audit(s).ok


def test_postgres_streams_an_accounts_postings_together_each_in_seq_order(pg_db):
    """The COPY sends a chunk's postings by account (the indexes on (account_id, …) then take
    them leaf after leaf); an account's ids still follow its seq, and the chains verify."""
    shards, holders = _setup(pg_db, 1000)
    with pg_db.transaction() as s:
        post_many(s, _many(shards, holders[::-1], 12))
    with pg_db.sessions() as s:
        rows = s.execute(select(Posting.account_id, Posting.seq).join(
            JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(JournalEntry.source == "import").order_by(Posting.id)).all()
        assert [a for a, _ in rows] == sorted(a for a, _ in rows)
        for a in {a for a, _ in rows}:
            seqs = [q for b, q in rows if b == a]
            assert seqs == sorted(seqs)
        report = run_audit(s)
        assert report.ok, report.violations


def test_postgres_rewrites_most_accounts_of_a_load_on_their_own_pages(pg_db):
    """account's pages are filled to ACCOUNT_FILLFACTOR: the write-back's new row versions
    fit beside the old ones (HOT: no index entries written) for most accounts even when a load
    rewrites every account on a page (pages filled whole, as before: almost none did)."""
    shards, _ = _setup(pg_db, 10_000)
    with pg_db.transaction() as s:
        got = open_accounts(s, [("points", "person", p, "points", 0) for p in range(100, 300)])
    holders = sorted(got.values())
    with pg_db.transaction() as s:
        post_many(s, _many(shards, holders, len(holders)))
        hot, updated = s.execute(text(
            "SELECT n_tup_hot_upd, n_tup_upd FROM pg_stat_xact_user_tables "
            "WHERE relname = 'account'")).one()
    assert updated == len(holders) + 1  # and the one shard that paid
    assert hot >= updated // 3, (hot, updated)
