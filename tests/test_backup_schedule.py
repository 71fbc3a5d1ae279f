"""Scheduled backups: the nightly task writes a dated backup and keeps JIFEN_BACKUP_KEEP_DAYS
days of them; the restore drill restores the newest into a scratch database with the
operator's own command (`jifen restore`), whose audit must be clean."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, text

from ledger import backup
from ledger.journal import service
from tests.conftest import PG_ADMIN_URL, TEST_DB

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 12, 6, 17, 30, tzinfo=timezone.utc)


def _entries(db) -> None:
    service.allocate(db, shards=2, town_id=1, village_id=1, amount=500, actor_id=None, key=None)
    for i in range(3):
        service.adjust(db, shards=2, village_id=1, holder_type="person", holder_id=i + 1,
                       amount=10 + i, memo="t", actor_id=1, key=f"bk{i}")


def test_nightly_backups_keep_their_days_and_always_the_newest(db, tmp_path):
    _entries(db)
    folder = tmp_path / "backups"
    stranger = folder / "notes.txt"
    for day in range(20):
        r = backup.scheduled_backup(db, folder, keep_days=14, now=T0 + timedelta(days=day))
    names = sorted(p.name for p in folder.glob(backup.BACKUP_GLOB))
    assert len(names) == 15  # today and the 14 days before it
    assert names[0] == backup.backup_name(T0 + timedelta(days=5))
    assert r["path"].endswith(backup.backup_name(T0 + timedelta(days=19)))
    assert not list(folder.glob("*.part"))
    stranger.write_text("kept")
    # a year later with nothing new: the newest stays, everything else goes; other files stay
    removed = backup.prune_backups(folder, 14, now=T0 + timedelta(days=400))
    assert len(removed) == 14 and stranger.exists()
    assert [p.name for p in folder.glob(backup.BACKUP_GLOB)] == [
        backup.backup_name(T0 + timedelta(days=19))]


def _scratch_target(tmp_path) -> tuple[str, callable]:
    if TEST_DB != "postgres":
        return f"sqlite:///{tmp_path / 'drill.sqlite3'}", lambda: None
    name = f"jifen_drill_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, drop


def test_restore_drill_of_the_nightly_backup_is_audit_clean(db, settings, tmp_path):
    """What docs/operations.md asks the operator to do each month, on this run's backend."""
    from workers import celery_app
    from workers.tasks import nightly_backup
    _entries(db)
    saved = dict(celery_app._state)
    celery_app._state.update(db=db, settings=settings)
    try:
        made = nightly_backup()
    finally:
        celery_app._state.clear()
        celery_app._state.update(saved)
    assert Path(made["path"]).parent == settings.backup_dir and made["bytes"] > 0
    target, drop = _scratch_target(tmp_path)
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "JIFEN_DATA_DIR": str(tmp_path)}
        out = subprocess.run([sys.executable, "-m", "api.cli", "restore", made["path"],
                              "--into", target], capture_output=True, text=True, timeout=120,
                             env=env, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "audit clean" in out.stderr and "restored: 4 entries" in out.stderr
    finally:
        drop()
