"""The imports' answers as types, so the API's schema documents each body: a check (dry run)
answers what the file would do and its first rows as read; an import answers what it changed,
in the words of its kind. Each answer is exactly what the import returns (and what its
idempotency record replays)."""

from __future__ import annotations

import msgspec
from ledger.activities.schemas import ImportRefusal
from ledger.view import View


class ImportChecked(View):
    """A dry run: rows that would be applied, rows skipped (imported before), the encoding
    read, the first rows as read; `already_imported` when the file (or the key) was."""
    dry_run: bool
    rows: int
    skipped: int
    encoding: str | None
    preview: list[list[str]]
    already_imported: bool | msgspec.UnsetType = msgspec.UNSET  # not for attendance lists


class HistoryImported(View):
    rows_booked: int
    points_entries: int
    minutes_entries: int
    skipped: int


class TeamsImported(View):
    teams_created: int
    members_added: int
    skipped: int


class StockImported(View):
    rewards_changed: int
    skipped: int


class AttendanceImported(View):
    """Each row is its own keyed write: `refused` lists the rows the activity's rules
    refused, the others are recorded."""
    imported: int
    skipped: int
    refused: list[ImportRefusal]  # the rows the activity's rules refused (activities)


SheetImport = ImportChecked | HistoryImported | TeamsImported | StockImported | AttendanceImported
# What an import of each kind (by its name) answers once applied; a check answers ImportChecked.
ANSWERS: dict[str, type[View]] = {"history": HistoryImported, "teams": TeamsImported,
                                  "stock": StockImported, "attendance": AttendanceImported}
