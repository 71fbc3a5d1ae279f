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
