"""The Alembic head builds the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

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


@pytest.mark.postgres
def test_migrations_upgrade_empty_postgres_to_head_matching_models(pg_server):
    from sqlalchemy import create_engine
    from tests.conftest import PG_ADMIN_URL
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = pg_server.name + "_mig"
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        _check(db)
    finally:
        db.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
