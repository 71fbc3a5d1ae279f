"""Settings read from the environment, with safe defaults for the embedded (laptop) mode.

Embedded default: a SQLite file under the working directory, in-memory stores, in-process tasks.
Production: set JIFEN_DATABASE_URL (PostgreSQL) and JIFEN_REDIS_URL.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

SECRET_KEY_BYTES = 32
TASK_MODES = ("inline", "celery")


def _data_dir() -> Path:
    return Path(os.environ.get("JIFEN_DATA_DIR", Path.cwd() / "var")).resolve()


def _load_or_create_secret(data_dir: Path) -> str:
    """The secret key is never hard-coded: from the environment, or generated once and kept
    in a file readable only by its owner."""
    env = os.environ.get("JIFEN_SECRET_KEY")
    if env:
        if len(env) < 32:
            raise ValueError("JIFEN_SECRET_KEY must be at least 32 characters")
        return env
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(SECRET_KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    secret_key: str
    data_dir: Path
    public_base_url: str = "http://127.0.0.1:8000"
    # A village budget is split into this many sub-accounts so that parallel awards do not
    # queue on one row (see docs/ledger.md, "the hot budget").
    budget_shards: int = 8
    token_ttl_s: int = 12 * 3600
    # Where work that follows a commit runs: "inline" (in this process, after the commit; the
    # embedded default) or "celery" (sent to the workers through Redis; the default when
    # JIFEN_REDIS_URL is set). See docs/workers.md.
    tasks: str = "inline"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.tasks not in TASK_MODES:
            raise ValueError(f"JIFEN_TASKS must be one of {', '.join(TASK_MODES)}")
        if self.tasks == "celery" and not self.redis_url:
            raise ValueError("JIFEN_TASKS=celery needs JIFEN_REDIS_URL (the broker)")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@dataclass(frozen=True)
class PostingSettings:
    """What posting an award reads of the settings, carried in an outbox task's arguments (a
    check-out's points: ledger/activities/awards.py) to whichever process runs it."""

    budget_shards: int


def load_settings() -> Settings:
    data_dir = _data_dir()
    db_url = os.environ.get("JIFEN_DATABASE_URL")
    if not db_url:
        data_dir.mkdir(parents=True, exist_ok=True)
        db_url = f"sqlite:///{data_dir / 'jifen.sqlite3'}"
    if db_url.startswith("postgresql://") or db_url.startswith("postgres://"):
        db_url = "postgresql+psycopg://" + db_url.split("://", 1)[1]
    redis_url = os.environ.get("JIFEN_REDIS_URL") or None
    return Settings(
        database_url=db_url,
        redis_url=redis_url,
        tasks=os.environ.get("JIFEN_TASKS") or ("celery" if redis_url else "inline"),
        secret_key=_load_or_create_secret(data_dir),
        data_dir=data_dir,
        public_base_url=os.environ.get("JIFEN_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
        budget_shards=_int("JIFEN_BUDGET_SHARDS", 8),
        token_ttl_s=_int("JIFEN_TOKEN_TTL_S", 12 * 3600),
    )
