"""The PostgreSQL pool hands out working connections: one idle past `PING_IDLE_S` is checked
first, and a connection the server dropped meanwhile is replaced, not handed to the caller."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text

from ledger.db import Database
from tests.conftest import PG_ADMIN_URL


def _pid(db: Database) -> int:
    with db.sessions() as s:
        return s.execute(text("SELECT pg_backend_pid()")).scalar()


def test_a_connection_dropped_while_idle_is_replaced_before_use(pg_db):
    db = Database(pg_db.url, pool_size=1, max_overflow=0, ping_idle_s=0.2)
    try:
        first = _pid(db)
        assert _pid(db) == first  # recently used: handed out again as is
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            assert c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar()
        admin.dispose()
        time.sleep(0.3)
        second = _pid(db)  # the check found it dead; the pool connected afresh
        assert second != first
        with db.transaction() as s:
            assert s.execute(text("SELECT 1")).scalar() == 1
    finally:
        db.dispose()


def test_a_rolled_back_read_keeps_the_statements_prepared_on_its_connection(pg_db):
    """SQLAlchemy ends a read-only session with ROLLBACK; psycopg forgot every prepared
    statement of the connection on it (and sent DEALLOCATE ALL), so they were parsed and
    planned again on nearly every use. A rolled-back transaction's writes are still undone."""
    db = Database(pg_db.url, pool_size=1, max_overflow=0)
    try:
        with db.transaction() as s:
            s.execute(text("CREATE TABLE keep_probe (x int)"))
        prepared = "SELECT count(*) FROM pg_prepared_statements"
        with db.sessions() as s:
            for _ in range(6):  # psycopg prepares a statement at its fifth use
                s.execute(text("SELECT count(*) FROM keep_probe WHERE x > :v"), {"v": 0})
            assert s.execute(text(prepared)).scalar() >= 1
        with db.sessions() as s:  # rolled back on close: writes undone, statements kept
            s.execute(text("INSERT INTO keep_probe VALUES (1)"))
        with db.sessions() as s:
            assert s.execute(text(prepared)).scalar() >= 1
            assert s.execute(text("SELECT count(*) FROM keep_probe")).scalar() == 0
            before = s.connection().connection.dbapi_connection.pgconn.backend_pid
        with db.transaction() as s:
            s.execute(text("ALTER TABLE keep_probe ADD COLUMN y int"))  # psycopg forgets them
        with db.sessions() as s:
            assert s.connection().connection.dbapi_connection.pgconn.backend_pid == before
            assert s.execute(text(prepared)).scalar() == 0
            assert s.execute(text("SELECT count(*) FROM keep_probe WHERE x > :v"),
                             {"v": 0}).scalar() == 0
    finally:
        with db.transaction() as s:
            s.execute(text("DROP TABLE IF EXISTS keep_probe"))
        db.dispose()
