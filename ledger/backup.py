"""Backups: SQLite's online backup API (consistent while the service writes) and pg_dump for
PostgreSQL; a restore is followed by the ledger audit on the restored copy.

Scheduled: the workers run `jifen.backup.nightly` (workers/celery_app.py BEAT) which writes
`jifen-YYYYMMDDTHHMMSSZ.backup` into JIFEN_BACKUP_DIR and deletes those older than
JIFEN_BACKUP_KEEP_DAYS (the newest is always kept). Copy the folder off the box (docs).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy.engine import make_url

from ledger.db import Database
from ledger.errors import InvalidInput
from ledger.timeutil import utcnow

BACKUP_GLOB = "jifen-*.backup"
_NAME = re.compile(r"^jifen-(\d{8}T\d{6}Z)\.backup$")
MAX_BACKUP_FILES = 1000  # a folder holding more than this is not ours to prune


def _pg_args(url: str) -> tuple[list[str], str]:
    u = make_url(url)
    args = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432)]
    if u.username:
        args += ["-U", u.username]
    return args, u.database or ""


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise InvalidInput(f"{tool} is not installed (PostgreSQL client tools)",
                           code="backup_tool_missing")
    return path


def backup(db: Database, out: Path) -> Path:
    """Write a consistent copy of the database to `out` while the service keeps running."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if db.is_sqlite:
        src = sqlite3.connect(make_url(db.url).database)
        dst = sqlite3.connect(out)
        try:
            src.backup(dst)  # page-by-page copy under SQLite's own locking
        finally:
            dst.close()
            src.close()
        return out
    args, name = _pg_args(db.url)
    subprocess.run([_need("pg_dump"), *args, "-Fc", "-f", str(out), name], check=True)
    return out


def restore(backup_file: Path, target_url: str) -> Database:
    """Restore a backup into an empty target (SQLite path or PostgreSQL database that exists)."""
    backup_file = Path(backup_file)
    if not backup_file.exists():
        raise InvalidInput(f"no backup file at {backup_file}", code="backup_not_found")
    if target_url.startswith("sqlite"):
        target = Path(make_url(target_url).database)
        if target.exists():
            raise InvalidInput(f"{target} exists; restore into a new file",
                               code="restore_target_exists")
        src = sqlite3.connect(backup_file)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return Database(target_url)
    args, name = _pg_args(target_url)
    subprocess.run([_need("pg_restore"), *args, "--no-owner", "-d", name, str(backup_file)],
                   check=True)
    return Database(target_url)


def backup_name(at: datetime) -> str:
    return f"jifen-{at.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}.backup"


def taken_at(path: Path) -> datetime | None:
    m = _NAME.match(path.name)
    if m is None:
        return None
    return datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def prune_backups(folder: Path, keep_days: int, now: datetime | None = None) -> list[str]:
    """Delete scheduled backups older than keep_days; the newest always stays. Only files
    named as this module names them are touched."""
    if keep_days < 1:
        raise InvalidInput("keep_days must be at least 1", code="backup_keep_invalid")
    now = now or utcnow()
    dated = sorted(((taken_at(p), p) for p in Path(folder).glob(BACKUP_GLOB)
                    if taken_at(p) is not None), reverse=True)
    if len(dated) > MAX_BACKUP_FILES:
        raise InvalidInput(f"{folder} holds {len(dated)} backups; prune it by hand",
                           code="backup_folder_too_full")
    cutoff = now - timedelta(days=keep_days)
    removed = []
    for at, path in dated[1:]:
        if at < cutoff:
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def scheduled_backup(db: Database, folder: Path, keep_days: int,
                     now: datetime | None = None) -> dict:
    """Write today's backup (to a .part file, renamed when complete: a crash never leaves a
    half file under a backup's name), then apply the retention."""
    now = now or utcnow()
    folder = Path(folder)
    final = folder / backup_name(now)
    part = final.with_name(final.name + ".part")
    part.unlink(missing_ok=True)
    backup(db, part)
    part.rename(final)
    removed = prune_backups(folder, keep_days, now)
    return {"path": str(final), "bytes": final.stat().st_size, "removed": removed}
