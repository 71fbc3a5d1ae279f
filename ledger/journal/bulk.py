"""Posting many entries at once (a town's history arriving from another system): the same
entries, digests, hash chains and overdraft rules as `posting.post_entry`, computed in the
client over the accounts locked once, and written in bulk (PostgreSQL: COPY; SQLite:
executemany), inside the caller's transaction.

What differs from posting one by one is only the cost: every account the batch touches is
locked and read in one statement (in id order, as every writer locks), its balance, count and
chain head advanced in memory entry by entry, and written back in one UPDATE at the end. A
refusal (an account's overdraft policy) raises before anything is written, naming the entry; the
caller's transaction then rolls back. A sharded budget line takes the first shard, in the given
order, that can still pay; when none alone can but together they can, a `rebalance` entry
consolidates them first, as `book.prepare_shards` does for a single posting.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256

from sqlalchemy.orm import Session

from ledger.errors import InsufficientFunds, InvalidInput, NotFound
from ledger.journal.posting import (
    NEGATIVE_OK_KINDS,
    Line,
    _validate,
    chain_suffix,
    entry_digest,
)
from ledger.journal.rawdb import Raw, dumps

MAX_BULK_ENTRIES = 2_000_000  # one call; a bigger history is loaded in several files
LOCK_CHUNK = 5_000  # account ids per locking SELECT


@dataclass(frozen=True)
class BulkEntry:
    """One entry to post: `lines` as for post_entry (a line with several accounts is a sharded
    budget), `now` its time (an original date for history)."""

    unit: str
    kind: str
    lines: Sequence[Line]
    now: datetime
    memo: str = ""
    source: str = ""
    source_ref: str = ""
    actor_id: int | None = None
    details: dict | None = None
    neg_ok: bool = False


@dataclass
class _Acct:
    unit: str
    overdraft: str
    balance: int
    pending_out: int
    count: int
    head: str
    changed: bool = False

    def can_take(self, amount: int, neg_ok: bool) -> bool:
        """The guarded UPDATE's WHERE clause (apply._GUARD)."""
        return (amount >= 0 or self.overdraft == "allowed"
                or (self.overdraft == "deductions_only" and neg_ok)
                or self.balance + amount - self.pending_out >= 0)


_LOCK_PG = ("SELECT id, unit, overdraft, balance, pending_out, posting_count, head_hash "
            "FROM account WHERE id = ANY(%(ids)s) ORDER BY id FOR UPDATE")
_LOCK_SQLITE = ("SELECT id, unit, overdraft, balance, pending_out, posting_count, head_hash "
                "FROM account WHERE id IN ({ids})")
_ENTRY_COLS = ("id", "unit", "kind", "created_at", "reverses_id", "memo", "source", "source_ref",
               "actor_id", "details", "digest")
_POSTING_COLS = ("entry_id", "account_id", "amount", "seq", "balance_after", "hash",
                 "created_at")
# COPY's text format: these characters are escaped in every text value.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _lock(raw: Raw, ids: list[int]) -> dict[int, _Acct]:
    got: dict[int, _Acct] = {}
    for i in range(0, len(ids), LOCK_CHUNK):
        chunk = ids[i:i + LOCK_CHUNK]
        if raw.pg:
            rows = raw.cur.execute(_LOCK_PG, {"ids": chunk}).fetchall()
        else:  # ints only: safe to inline; SQLite has one writer at a time already
            rows = raw.cur.execute(_LOCK_SQLITE.format(ids=", ".join(map(str, chunk)))
                                   ).fetchall()
        for a, unit, od, bal, pend, count, head in rows:
            got[a] = _Acct(unit, od, int(bal), int(pend), int(count), head)
    return got


class _Book:
    """The accounts in memory while a batch is computed."""

    def __init__(self, accts: dict[int, _Acct]) -> None:
        self.accts = accts
        self.entries: list[tuple] = []  # (entry columns without id, [(account, amount)])

    def acct(self, account_id: int, unit: str) -> _Acct:
        a = self.accts.get(account_id)
        if a is None:
            raise NotFound(f"account {account_id} does not exist", code="account_not_found")
        if a.unit != unit:
            raise InvalidInput(f"account {account_id} keeps {a.unit}, not {unit}",
                               code="unit_mismatch")
        return a

    def choose(self, e: BulkEntry, line: Line, neg_ok: bool) -> int:
        if len(line.accounts) == 1:
            return line.accounts[0]
        for a in line.accounts:
            if self.acct(a, e.unit).can_take(line.amount, neg_ok):
                return a
        avail = {a: self.accts[a].balance - self.accts[a].pending_out for a in line.accounts}
        total = sum(v for v in avail.values() if v > 0)
        if total < -line.amount:
            raise InsufficientFunds(f"the budget has {total} available, needs {-line.amount}",
                                    code="budget_exhausted", available=total)
        best = max(line.accounts, key=lambda a: avail[a])
        moved = [(a, v) for a, v in avail.items() if a != best and v > 0]
        self.add(BulkEntry(e.unit, "rebalance", [Line.of(a, -v, hot=True) for a, v in moved]
                           + [Line.of(best, sum(v for _, v in moved), hot=True)], e.now,
                           memo="budget shards consolidated", source="rebalance"))
        return best

    def add(self, e: BulkEntry) -> None:
        _validate(e.lines, e.memo)
        neg_ok = e.neg_ok or e.kind in NEGATIVE_OK_KINDS
        chosen = [self.choose(e, line, neg_ok) for line in e.lines]
        if len(set(chosen)) != len(chosen):
            raise InvalidInput("an account appears twice in one entry",
                               code="entry_duplicate_account")
        now = e.now.astimezone(UTC)
        details = e.details or {}
        pairs = [(a, line.amount) for a, line in zip(chosen, e.lines)]
        digest = entry_digest(unit=str(e.unit), kind=e.kind, created_at=now, memo=e.memo,
                              source=e.source, source_ref=e.source_ref, actor_id=e.actor_id,
                              details=details, reverses_id=None, lines=pairs)
        for a, n in pairs:  # all checked before any is applied
            if not self.acct(a, e.unit).can_take(n, neg_ok):
                acct = self.accts[a]
                raise InsufficientFunds(
                    f"account {a} has {acct.balance - acct.pending_out} available, needs {-n}",
                    code="budget_exhausted" if acct.overdraft == "forbidden"
                    else "insufficient_points", account_id=a,
                    available=acct.balance - acct.pending_out)
        postings = []
        for a, n in pairs:
            acct = self.accts[a]
            acct.balance += n
            acct.count += 1
            acct.head = sha256((acct.head + chain_suffix(digest, a, n)).encode()).hexdigest()
            acct.changed = True
            postings.append((a, n, acct.count, acct.balance, acct.head))
        self.entries.append(((str(e.unit), e.kind, now.replace(tzinfo=None), None, e.memo,
                              e.source, e.source_ref, e.actor_id, dumps(details), digest),
                             postings))


def post_many(session: Session, entries: Iterable[BulkEntry]) -> list[int]:
    """Post `entries` in order inside the caller's transaction; returns their ids (a
    consolidation a sharded line needed is posted too, and not among them)."""
    entries = list(entries)
    if len(entries) > MAX_BULK_ENTRIES:
        raise InvalidInput(f"at most {MAX_BULK_ENTRIES} entries at once",
                           code="bulk_too_many_entries")
    if not entries:
        return []
    raw = Raw(session)
    ids = sorted({a for e in entries for line in e.lines for a in line.accounts})
    book = _Book(_lock(raw, ids))
    mine: list[int] = []  # positions of the caller's entries among the posted ones
    for e in entries:
        book.add(e)
        mine.append(len(book.entries) - 1)
    entry_ids = _entry_ids(raw, len(book.entries))
    if raw.pg:
        _copy_pg(raw, book, entry_ids)
    else:
        _insert_sqlite(raw, book, entry_ids)
    _write_accounts(raw, book)
    return [entry_ids[i] for i in mine]


def _entry_ids(raw: Raw, n: int) -> list[int]:
    if raw.pg:
        return [r[0] for r in raw.cur.execute(
            "SELECT nextval(pg_get_serial_sequence('journal_entry', 'id')) "
            "FROM generate_series(1, %(n)s)", {"n": n}).fetchall()]
    top = raw.cur.execute("SELECT COALESCE(MAX(id), 0) FROM journal_entry").fetchone()[0]
    return list(range(top + 1, top + 1 + n))  # one writer at a time: nobody takes these


def _text(v) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, str):
        return v.translate(_COPY_ESCAPES)
    return str(v)


def _copy_pg(raw: Raw, book: _Book, entry_ids: list[int]) -> None:
    entry_lines, posting_lines = [], []
    for eid, (cols, postings) in zip(entry_ids, book.entries):
        at = cols[2].isoformat(sep=" ")
        entry_lines.append("\t".join([str(eid), *map(_text, cols[:2]), at,
                                      *map(_text, cols[3:])]))
        for a, n, seq, bal, h in postings:
            posting_lines.append(f"{eid}\t{a}\t{n}\t{seq}\t{bal}\t{h}\t{at}")
    with raw.cur.copy(f"COPY journal_entry ({', '.join(_ENTRY_COLS)}) FROM STDIN") as cp:
        cp.write(("\n".join(entry_lines) + "\n").encode())
    with raw.cur.copy(f"COPY posting ({', '.join(_POSTING_COLS)}) FROM STDIN") as cp:
        cp.write(("\n".join(posting_lines) + "\n").encode())


def _insert_sqlite(raw: Raw, book: _Book, entry_ids: list[int]) -> None:
    entries, postings = [], []
    for eid, (cols, lines) in zip(entry_ids, book.entries):
        at = raw.time(cols[2].replace(tzinfo=UTC))
        entries.append((eid, cols[0], cols[1], at, *cols[3:]))
        postings += [(eid, a, n, seq, bal, h, at) for a, n, seq, bal, h in lines]
    marks = ", ".join("?" * len(_ENTRY_COLS))
    raw.cur.executemany(f"INSERT INTO journal_entry ({', '.join(_ENTRY_COLS)}) "
                        f"VALUES ({marks})", entries)
    marks = ", ".join("?" * len(_POSTING_COLS))
    raw.cur.executemany(f"INSERT INTO posting ({', '.join(_POSTING_COLS)}) VALUES ({marks})",
                        postings)


def _write_accounts(raw: Raw, book: _Book) -> None:
    changed = [(a, x.balance, x.count, x.head) for a, x in book.accts.items() if x.changed]
    if raw.pg:
        raw.cur.execute(
            "UPDATE account a SET balance = v.b, posting_count = v.c, head_hash = v.h "
            "FROM unnest(%(a)s::bigint[], %(b)s::bigint[], %(c)s::bigint[], %(h)s::text[]) "
            "AS v(id, b, c, h) WHERE a.id = v.id",
            {"a": [r[0] for r in changed], "b": [r[1] for r in changed],
             "c": [r[2] for r in changed], "h": [r[3] for r in changed]})
    else:
        raw.cur.executemany("UPDATE account SET balance = ?, posting_count = ?, head_hash = ? "
                            "WHERE id = ?", [(b, c, h, a) for a, b, c, h in changed])


__all__ = ["BulkEntry", "MAX_BULK_ENTRIES", "post_many"]
