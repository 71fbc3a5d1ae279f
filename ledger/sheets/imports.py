"""What every import shares: the key that makes a file idempotent (the same bytes imported
again change nothing and answer with the first result) and the look-up of that first result."""

from __future__ import annotations

from sqlalchemy import select

from ledger.db import Database
from ledger.journal.models import IdempotencyRecord
from ledger.sheets import tabular


def file_key(kind: str, data: bytes) -> str:
    """The idempotency key of a file of one kind of import: its content, not its name."""
    return f"sheets:{kind}:{tabular.file_digest(data)}"


def stored_result(db: Database, key: str) -> dict | None:
    """The first result of a keyed import, or None if it never ran."""
    with db.sessions() as s:
        return s.scalar(select(IdempotencyRecord.result).where(IdempotencyRecord.key == key))
