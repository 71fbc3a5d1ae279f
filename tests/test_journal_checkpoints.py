"""Checkpoints: a forger who rewrites an entry and recomputes every hash after it (entry digest,
both accounts' chains, balances, heads) passes every per-account check; the checkpoint taken
before the forgery still exposes it, and the audit names that checkpoint."""

from __future__ import annotations

from sqlalchemy import text

from ledger.db import sha256_hex
from ledger.journal import ddl, service
from ledger.journal.audit import make_checkpoint, run_audit
from ledger.journal.models import GENESIS_HASH, JournalEntry
from ledger.journal.posting import chain_suffix, entry_digest
from tests.conftest import audit_clean

SHARDS = 2


def _forge(db, entry_id: int, new_amounts: dict[int, int]) -> None:
    """Rewrite an entry's amounts and make every hash, balance and head consistent again, as
    an attacker with write access to the database would."""
    with db.engine.begin() as c:
        if db.is_sqlite:
            for stmt in ddl.SQLITE_DOWN:
                c.exec_driver_sql(stmt)
        else:
            c.exec_driver_sql("SET LOCAL session_replication_role = replica")
        e = c.execute(text("SELECT * FROM journal_entry WHERE id = :i"), {"i": entry_id}).one()
        for acct, amount in new_amounts.items():
            c.execute(text("UPDATE posting SET amount = :a WHERE entry_id = :e AND account_id = "
                           ":acct"), {"a": amount, "e": entry_id, "acct": acct})
        created = JournalEntry.__table__.c.created_at.type.process_result_value(
            e.created_at, c.dialect)
        details = e.details if isinstance(e.details, dict) else __import__("json").loads(
            e.details)
        digest = entry_digest(unit=e.unit, kind=e.kind, created_at=created, memo=e.memo,
                              source=e.source, source_ref=e.source_ref, actor_id=e.actor_id,
                              details=details, reverses_id=e.reverses_id,
                              lines=list(new_amounts.items()))
        c.execute(text("UPDATE journal_entry SET digest = :d WHERE id = :i"),
                  {"d": digest, "i": entry_id})
        for acct in new_amounts:
            head, balance = GENESIS_HASH, 0
            rows = c.execute(text("SELECT p.id, p.amount, e.digest FROM posting p JOIN "
                                  "journal_entry e ON e.id = p.entry_id WHERE p.account_id = :a "
                                  "ORDER BY p.seq"), {"a": acct}).all()
            for pid, amount, d in rows:
                balance += amount
                head = sha256_hex(head + chain_suffix(d, acct, amount))
                c.execute(text("UPDATE posting SET hash = :h, balance_after = :b WHERE id = :p"),
                          {"h": head, "b": balance, "p": pid})
            c.execute(text("UPDATE account SET balance = :b, head_hash = :h WHERE id = :a"),
                      {"b": balance, "h": head, "a": acct})
        if db.is_sqlite:
            for stmt in ddl.SQLITE_UP:
                c.exec_driver_sql(stmt)


def test_consistent_forgery_before_a_checkpoint_is_caught_only_by_that_checkpoint(db):
    service.allocate(db, shards=SHARDS, town_id=1, village_id=1, amount=100, actor_id=None,
                     key=None)
    award = service.adjust(db, shards=SHARDS, village_id=1, holder_type="person", holder_id=7,
                           amount=10, memo="honest", actor_id=1, key=None).result
    with db.transaction() as s:
        cp = make_checkpoint(s)
    service.adjust(db, shards=SHARDS, village_id=1, holder_type="person", holder_id=7,
                   amount=5, memo="after the checkpoint", actor_id=1, key=None)
    audit_clean(db)

    lines = {p["account_id"]: p["amount"] for p in award["postings"]}
    forged = {a: (15 if n > 0 else -15) for a, n in lines.items()}
    _forge(db, award["entry_id"], forged)

    with db.sessions() as s:
        report = run_audit(s)
    assert [(v.code, v.checkpoint_id) for v in report.violations] == [
        ("checkpoint_broken", cp.id)]


def test_checkpoints_chain_and_cover_only_accounts_changed_since_the_last(db):
    service.allocate(db, shards=SHARDS, town_id=1, village_id=1, amount=100, actor_id=None,
                     key=None)
    with db.transaction() as s:
        first = make_checkpoint(s)
        assert make_checkpoint(s) is None  # nothing changed since
    service.adjust(db, shards=SHARDS, village_id=1, holder_type="person", holder_id=7,
                   amount=10, memo="x", actor_id=1, key=None)
    with db.transaction() as s:
        second = make_checkpoint(s)
    assert second.prev_root == first.root
    assert second.accounts_changed == 2  # the person and the one budget shard drawn on
    assert audit_clean(db)["checkpoints"] == 2
