"""Backup and restore keep every entry, and the restored copy passes the audit."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from ledger import backup
from ledger.journal import service
from tests.conftest import PG_ADMIN_URL, audit_clean


def _some_entries(db):
    service.allocate(db, shards=2, town_id=1, village_id=1, amount=500, actor_id=None, key=None)
    for i in range(5):
        service.adjust(db, shards=2, village_id=1, holder_type="person", holder_id=i + 1,
                       amount=10 + i, memo="t", actor_id=1, key=f"k{i}")
    return service.checkpoint(db)


def test_sqlite_online_backup_restores_with_clean_audit(tmp_path, sqlite_template):
    from tests.conftest import _sqlite_db
    db = _sqlite_db(sqlite_template, tmp_path)
    cp = _some_entries(db)
    out = backup.backup(db, tmp_path / "b" / "jifen.backup")
    restored = backup.restore(out, f"sqlite:///{tmp_path / 'restored.sqlite3'}")
    report = audit_clean(restored)
    assert report["entries"] == 6 and report["checkpoints"] == 1
    with restored.sessions() as s:
        assert s.execute(text("SELECT root FROM checkpoint")).scalar() == cp["root"]
    restored.dispose()
    db.dispose()


def test_restore_refuses_to_overwrite(tmp_path, sqlite_template):
    from ledger.errors import InvalidInput
    target = tmp_path / "exists.sqlite3"
    target.write_bytes(b"")
    with pytest.raises(InvalidInput) as e:
        backup.restore(sqlite_template, f"sqlite:///{target}")
    assert e.value.code == "restore_target_exists"


@pytest.mark.postgres
def test_pg_dump_backup_restores_with_clean_audit(tmp_path, pg_db, pg_server):
    cp = _some_entries(pg_db)
    out = backup.backup(pg_db, tmp_path / "jifen.dump")
    name = pg_server.name + "_restore"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    restored = backup.restore(out, PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        report = audit_clean(restored)
        assert report["entries"] == 6
        with restored.sessions() as s:
            assert s.execute(text("SELECT root FROM checkpoint")).scalar() == cp["root"]
    finally:
        restored.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
