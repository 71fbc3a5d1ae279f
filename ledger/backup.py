"""Backups: SQLite's online backup API (consistent while the service writes) and pg_dump for
PostgreSQL; a restore is followed by the ledger audit on the restored copy."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from ledger.db import Database
from ledger.errors import InvalidInput


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
