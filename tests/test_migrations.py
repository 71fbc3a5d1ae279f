"""The Alembic head builds the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from ledger import migrate
from ledger.db import Database


def _check(db: Database) -> None:
    migrate.upgrade(db)
    assert migrate.pending_differences(db) == []
    with db.engine.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar()


def test_migrations_upgrade_empty_sqlite_to_head_matching_models(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    _check(db)
    db.dispose()


@contextmanager
def _empty_postgres(pg_server) -> Iterator[Database]:
    from sqlalchemy import create_engine

    from tests.conftest import PG_ADMIN_URL
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = pg_server.name + "_mig"
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_migrations_upgrade_empty_postgres_to_head_matching_models(pg_server):
    with _empty_postgres(pg_server) as db:
        _check(db)


@pytest.mark.postgres
def test_0015_lets_postgres_inline_the_hash_function_with_the_same_hashes(pg_server):
    """Inlined, the guarded UPDATE computes the hash in its own expression: no SQL function
    call whose body is parsed again on every execution (journal/ddl.py, revision 0015)."""
    text_in = "中文 head|42"

    def called(db: Database) -> tuple[str, str]:
        with db.engine.connect() as c:
            plan = "\n".join(c.execute(text(
                "EXPLAIN VERBOSE SELECT jifen_sha256(:t || n) FROM generate_series(1, 2) n"),
                {"t": text_in}).scalars())  # not a constant: the call is planned, not folded
            return plan, c.execute(text("SELECT jifen_sha256(:t)"), {"t": text_in}).scalar()

    with _empty_postgres(pg_server) as db:
        migrate.upgrade(db, "0014")
        before, hashed_before = called(db)
        migrate.upgrade(db)
        after, hashed_after = called(db)
    assert "jifen_sha256(" in before and "jifen_sha256(" not in after, (before, after)
    assert "encode(sha256(convert_to(" in after
    assert hashed_before == hashed_after == hashlib.sha256(text_in.encode()).hexdigest()


@pytest.mark.postgres
def test_0016_fills_account_pages_to_leave_room_for_the_next_row_version(pg_server):
    """The head and the models agree on account's fillfactor (autogenerate does not compare
    storage parameters, so this does)."""
    from ledger.journal.models import ACCOUNT_FILLFACTOR

    def options(db: Database) -> list[str] | None:
        with db.engine.connect() as c:
            return c.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'account'")
                             ).scalar()

    with _empty_postgres(pg_server) as db:
        migrate.upgrade(db, "0015")
        before = options(db)
        migrate.upgrade(db)
        after = options(db)
    assert before is None and after == [f"fillfactor={ACCOUNT_FILLFACTOR}"]
