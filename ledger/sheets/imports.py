"""What every import shares. A file is read once (ledger/sheets/tabular.py), checked whole
against the database by its kind's `plan`, and applied by its kind's `apply` in one transaction
through `book.write` (so a file with any error changes nothing). The file's digest is its
idempotency key (the same bytes imported again answer with the first result); a kind that books
entries also skips each row already booked (idempotent per row, across files)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import Forbidden
from ledger.journal import book
from ledger.journal.bulk import paused_gc
from ledger.journal.models import IdempotencyRecord
from ledger.sheets import tabular
from ledger.sheets.schemas import ANSWERS, ImportChecked, SheetImport
from ledger.sheets.tabular import Column, RowError, Table
from ledger.view import typed

PREVIEW_ROWS = 10


def file_key(kind: str, data: bytes) -> str:
    """The idempotency key of a file of one kind of import: its content, not its name."""
    return f"sheets:{kind}:{tabular.file_digest(data)}"


def stored_result(db: Database, key: str) -> dict | None:
    """The first result of a keyed import, or None if it never ran."""
    with db.sessions() as s:
        return s.scalar(select(IdempotencyRecord.result).where(IdempotencyRecord.key == key))


@dataclass
class Plan:
    """A checked file: the rows to apply (the kind's own type), the errors, and the rows
    skipped because they were applied before."""

    rows: list[Any] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    skipped: int = 0


class Kind(Protocol):
    name: str  # in keys and URLs
    title: str  # the sheet's Chinese title
    columns: Sequence[Column]

    def plan(self, s: Session, table: Table, index: dict[str, int], actor) -> Plan: ...

    def apply(self, s: Session, plan: Plan, actor) -> dict: ...


def preview(table: Table, index: dict[str, int], columns: Sequence[Column]) -> list[list[str]]:
    return [[tabular.cell_of(cells, index, c.key) for c in columns]
            for _, cells in table.rows[:PREVIEW_ROWS]]


def checked(s: Session, kind: Kind, table: Table, actor) -> tuple[Plan, dict[str, int]]:
    errors = list(table.errors)
    index = tabular.index_header(kind.columns, table.header, errors, table.header_line)
    if any(e.code.startswith("column") for e in errors):
        return Plan(errors=errors), index
    plan = kind.plan(s, table, index, actor)
    plan.errors = errors + plan.errors
    return plan, index


def refuse(kind: Kind, plan: Plan) -> None:
    if any(e.code == "village_forbidden" for e in plan.errors):
        raise Forbidden("文件中有您无权管理的村（社区），未导入任何数据 (rows name villages you do "
                        "not administer; nothing was imported)", code="forbidden_village",
                        errors=tabular.reported(plan.errors, kind.columns),
                        error_count=len(plan.errors))
    tabular.refuse(plan.errors, kind.columns)


def run(db: Database, kind: Kind, actor, data: bytes, *, dry_run: bool = False,
        key: str | None = None, check_actor: Callable[[Any], None] | None = None
        ) -> SheetImport:
    """Check a file and, unless `dry_run`, apply it whole. A check answers with the first rows
    as read (`preview`), how many rows would be applied and how many were applied before; an
    import, its kind's answer (`schemas.ANSWERS`; a replay converts the stored first answer)."""
    if check_actor is not None:
        check_actor(actor)
    # The collector paused for the whole file, not only for posting (bulk.post_many): a file of
    # 20,000 rows, checked and made into entries, sets off full collections too (measured: two
    # a file, a third of the client CPU outside posting). Its objects form no cycles.
    with paused_gc():
        return _run(db, kind, actor, data, dry_run, key)


def _run(db: Database, kind: Kind, actor, data: bytes, dry_run: bool, key: str | None
         ) -> SheetImport:
    table = tabular.read_table(data)
    key = key or file_key(kind.name, data)
    done = stored_result(db, key) is not None
    if dry_run:
        with db.sessions() as s:
            plan, index = checked(s, kind, table, actor)
        if not done:
            refuse(kind, plan)
        return ImportChecked(dry_run=True, rows=len(plan.rows), skipped=plan.skipped,
                             encoding=table.encoding,
                             preview=preview(table, index, kind.columns), already_imported=done)

    def work(s: Session) -> dict:
        if done:  # the key is taken: `write` answers with the first result, nothing checked
            return {}
        plan, _ = checked(s, kind, table, actor)
        refuse(kind, plan)
        return {**kind.apply(s, plan, actor), "skipped": plan.skipped}

    return typed(book.write(db, work, key=key,
                            request={"op": f"import_{kind.name}",
                                     "sha256": tabular.file_digest(data)}).result,
                 ANSWERS[kind.name])


def template(kind: Kind) -> bytes:
    return tabular.template(kind.title, kind.columns)
