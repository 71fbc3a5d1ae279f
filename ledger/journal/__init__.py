"""The double-entry journal: accounts, entries, postings, holds, checkpoints and the audit."""

from ledger.journal.models import (
    Account,
    Checkpoint,
    CheckpointHead,
    Hold,
    IdempotencyRecord,
    JournalEntry,
    Posting,
)

__all__ = [
    "Account",
    "Checkpoint",
    "CheckpointHead",
    "Hold",
    "IdempotencyRecord",
    "JournalEntry",
    "Posting",
]
