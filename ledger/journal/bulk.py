"""Posting many entries at once (a town's history arriving from another system): the same
entries, digests, hash chains and overdraft rules as `posting.post_entry`, computed in the
client over the accounts locked once, and written in bulk (PostgreSQL: COPY; SQLite:
executemany), inside the caller's transaction.

What differs from posting one by one is only the cost: every account the batch touches is
locked and read in one statement per LOCK_CHUNK ids (in id order, as every writer locks), its
balance, count and chain head advanced in memory entry by entry, and written back in one UPDATE
at the end. On PostgreSQL one table's rows are sent to COPY chunk by chunk while the next chunk
is computed, so the server inserts them on the other core meanwhile. A refusal (an account's
overdraft policy) raises, naming the entry, and nothing of the batch stays: the caller's
transaction rolls back (on PostgreSQL with the COPY under way, which the refusal abandons).
A sharded budget line takes the first shard, in the given order, that can still pay; when none
alone can but together they can, a `rebalance` entry consolidates them first, as
`book.prepare_shards` does for a single posting.

Where the time goes (docs/ledger.md, "Many entries at once"): per entry the digest is written
directly in its canonical form (`posting.canonical_body` from parts quoted once) and its COPY
rows once. On PostgreSQL a load big beside the journal drops `posting`'s foreign keys (and,
bigger still, both tables' secondary indexes and unique constraints) and puts them back before
it returns, validated and built once over the tables; that takes the journal and the accounts
offline until the commit, so it is done only when the locks come within
UNCHECKED_LOCK_TIMEOUT_MS.

(Over 400 lines on purpose: the batch's checks, its chains and its two writers, COPY streamed
on PostgreSQL and executemany on SQLite, are one path, as posting.py is for one entry.)
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from operator import itemgetter
from typing import NamedTuple

from sqlalchemy.orm import Session

from ledger.db import drop_secondary
from ledger.errors import InsufficientFunds, InvalidInput, NotFound
from ledger.journal.posting import (
    NEGATIVE_OK_KINDS,
    Line,
    _body,
    _pairs,
    _rollups_due,
    _string,
    _validate,
    canonical_json,
    chain_suffix,
)
from ledger.journal.rawdb import Raw, pg_array

MAX_BULK_ENTRIES = 2_000_000  # one call; a bigger history is loaded in several files
LOCK_CHUNK = 5_000  # account ids per locking SELECT
STREAM_CHUNK = 2_000  # entries computed between two writes to the COPY that streams
# PostgreSQL: posting's foreign keys are dropped for the load and validated once after it when
# the batch has at least this many postings and at least 1/UNCHECKED_TABLE_RATIO of the
# postings already there. Measured (docs/ledger.md): the per-row checks cost about 13 µs a
# posting on a loaded 2-core machine, one validation about 0.3 µs a posting in the table, so
# dropping pays up to a table about 40 times the batch; 10 leaves a margin.
UNCHECKED_MIN_POSTINGS = 20_000
UNCHECKED_TABLE_RATIO = 10
# ... and both tables' secondary indexes and unique constraints too, built again after, when
# the batch has at least 1/UNINDEXED_TABLE_RATIO of the postings already there. Measured
# (docs/ledger.md): the streamed COPY maintains posting's indexes on the server while the client
# computes, so keeping them costs about nothing until the table passes the batch's size, and
# building them again grows with the table.
UNINDEXED_TABLE_RATIO = 1
BUILD_MEMORY = "256MB"  # maintenance_work_mem from the index builds to the commit
UNCHECKED_LOCK_TIMEOUT_MS = 1_000  # waiting longer would stall every writer queued behind us


class BulkEntry(NamedTuple):
    """One entry to post: `lines` as for post_entry (several accounts: a sharded budget), `now`
    its time (an original date for history). A named tuple: cheaper to make than a dataclass."""

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
    details_json: str | None = None  # instead of details: them as canonical_json writes them


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


def _actor(actor_id: int | None) -> str:
    if actor_id is None:
        return "null"
    if type(actor_id) is not int:
        raise InvalidInput("an entry's actor is a user id", code="actor_invalid")
    return str(actor_id)


_LOCK_PG = ("SELECT id, unit, overdraft, balance, pending_out, posting_count, head_hash "
            "FROM account WHERE id = ANY(%(ids)s::bigint[]) ORDER BY id FOR UPDATE")
_READ_PG = _LOCK_PG.removesuffix(" ORDER BY id FOR UPDATE")  # the tables locked already
_LOCK_SQLITE = ("SELECT id, unit, overdraft, balance, pending_out, posting_count, head_hash "
                "FROM account WHERE id IN ({ids})")
_ENTRY_COLS = ("id", "unit", "kind", "created_at", "reverses_id", "memo", "source", "source_ref",
               "actor_id", "details", "digest")
_POSTING_COLS = ("entry_id", "account_id", "amount", "seq", "balance_after", "hash",
                 "created_at")
_first = itemgetter(0)
_NULL = "\\N"  # COPY's text format: NULL, and the characters escaped in a text value
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _lock(raw: Raw, ids: list[int], table_locked: bool) -> dict[int, _Acct]:
    got: dict[int, _Acct] = {}
    for i in range(0, len(ids), LOCK_CHUNK):
        chunk = ids[i:i + LOCK_CHUNK]
        if raw.pg:
            rows = raw.cur.execute(_READ_PG if table_locked else _LOCK_PG,
                                   {"ids": pg_array(chunk)}).fetchall()
        else:  # ints only: safe to inline; SQLite has one writer at a time already
            rows = raw.cur.execute(_LOCK_SQLITE.format(ids=", ".join(map(str, chunk)))
                                   ).fetchall()
        for a, unit, od, bal, pend, count, head in rows:
            got[a] = _Acct(unit, od, int(bal), int(pend), int(count), head)
    return got


class _Book:
    """The accounts in memory while a batch is computed. On PostgreSQL each entry is kept as
    its COPY rows without the entry id (drawn after): (the entry's row, [(account, its
    posting's row)], its source_ref); on SQLite as (unit, kind, naive UTC time, memo, source, source_ref,
    actor, details JSON, digest, postings), a posting as (account, amount, seq, balance after,
    hash). Values a history repeats (its dates, reasons, sources, kinds) are quoted and escaped
    once."""

    def __init__(self, accts: dict[int, _Acct], pg: bool) -> None:
        self.accts = accts
        self.pg = pg
        self.entries: list[tuple] = []
        self.postings = 0
        # a time and its id: (the time, its isoformat as JSON, naive UTC, that as COPY text)
        self.times: dict[int | datetime, tuple] = {}
        self.quoted: dict[str, str] = {}  # a string in its JSON form (the digest's body)
        self.escaped: dict[str, str] = {}  # a string as COPY's text format writes it

    def acct(self, account_id: int, unit: str) -> _Acct:
        a = self.accts.get(account_id)
        if a is None:
            raise NotFound(f"account {account_id} does not exist", code="account_not_found")
        if a.unit != unit:
            raise InvalidInput(f"account {account_id} keeps {a.unit}, not {unit}",
                               code="unit_mismatch")
        return a

    def choose(self, e: BulkEntry, line: Line, neg_ok: bool) -> int:
        n = line.amount
        for a in line.accounts:
            x = self.acct(a, e.unit)
            if x.balance + n - x.pending_out >= 0 or x.can_take(n, neg_ok):
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

    def _time(self, now: datetime) -> tuple:
        at = self.times.get(id(now))  # by identity first: hashing an aware time costs more
        if at is None or at[0] is not now:
            at = self.times.get(now)
            if at is None:  # in UTC, as the digest covers it (posting.prepare_entry)
                utc = now.astimezone(UTC)
                naive = utc.replace(tzinfo=None)
                at = self.times[now] = (now, _string(utc.isoformat()), naive, str(naive))
            self.times[id(now)] = at
        return at

    def add(self, e: BulkEntry) -> int:
        """Compute `e` (after the consolidation its sharded line needs, if any); its position
        among `entries`."""
        lines = e.lines
        _validate(lines, e.memo)  # also: no account twice in the entry, so none chosen twice
        kind, unit, memo, source, ref = e.kind, str(e.unit), e.memo, e.source, e.source_ref
        neg_ok = e.neg_ok or kind in NEGATIVE_OK_KINDS
        pairs = [(line.accounts[0] if len(line.accounts) == 1 else self.choose(e, line, neg_ok),
                  line.amount) for line in lines]
        at = self._time(e.now)
        details = e.details_json or (canonical_json(e.details) if e.details else "{}")
        q = self.quoted
        if len(pairs) == 2:  # _pairs, for the usual entry
            (a1, n1), (a2, n2) = pairs
            sorted_pairs = f"[{a1},{n1}],[{a2},{n2}]" if a1 < a2 else f"[{a2},{n2}],[{a1},{n1}]"
        else:
            sorted_pairs = _pairs(pairs)
        digest = sha256(_body(_actor(e.actor_id), at[1], details,
                              q.get(kind) or q.setdefault(kind, _string(kind)),
                              sorted_pairs, q.get(memo) or q.setdefault(memo, _string(memo)),
                              _string(ref), "null",
                              q.get(source) or q.setdefault(source, _string(source)),
                              q.get(unit) or q.setdefault(unit, _string(unit))
                              ).encode()).hexdigest()
        accts = [self.acct(a, unit) for a, _ in pairs]
        for acct, (a, n) in zip(accts, pairs):  # all checked before any is applied
            if n < 0 and not acct.can_take(n, neg_ok):
                raise InsufficientFunds(
                    f"account {a} has {acct.balance - acct.pending_out} available, needs {-n}",
                    code="budget_exhausted" if acct.overdraft == "forbidden"
                    else "insufficient_points", account_id=a,
                    available=acct.balance - acct.pending_out)
        postings = []
        for acct, (a, n) in zip(accts, pairs):
            acct.balance += n
            acct.count += 1
            acct.head = sha256((acct.head + chain_suffix(digest, a, n)).encode()).hexdigest()
            acct.changed = True
            postings.append((a, n, acct.count, acct.balance, acct.head))
        self.postings += len(postings)
        if not self.pg:
            self.entries.append((unit, kind, at[2], memo, source, ref, e.actor_id, details,
                                 digest, postings))
            return len(self.entries) - 1
        t, x = at[3], self.escaped
        actor = _NULL if e.actor_id is None else e.actor_id
        self.entries.append((
            f"\t{x.get(unit) or x.setdefault(unit, _esc(unit))}\t"
            f"{x.get(kind) or x.setdefault(kind, _esc(kind))}\t{t}\t{_NULL}\t"
            f"{x.get(memo) or x.setdefault(memo, _esc(memo))}\t"
            f"{x.get(source) or x.setdefault(source, _esc(source))}\t{_esc(ref)}\t"
            f"{actor}\t{_esc(details)}\t{digest}\n",
            [(a, f"\t{a}\t{n}\t{seq}\t{bal}\t{h}\t{t}\n") for a, n, seq, bal, h in postings],
            ref))
        return len(self.entries) - 1


def post_many(session: Session, entries: Iterable[BulkEntry]) -> list[int]:
    """Post `entries` in order inside the caller's transaction; returns their ids (a
    consolidation a sharded line needed is posted too, and not among them). The rollups catch
    up after the commit (the outbox task every posting transaction queues)."""
    entries = list(entries)
    if len(entries) > MAX_BULK_ENTRIES:
        raise InvalidInput(f"at most {MAX_BULK_ENTRIES} entries at once",
                           code="bulk_too_many_entries")
    if not entries:
        return []
    with paused_gc():
        raw = Raw(session)
        ids = sorted({a for e in entries for line in e.lines for a in line.accounts})
        # A big load locks the tables first: then no row of `account` needs a lock of its own.
        restore = (_unchecked(raw, session, sum(len(e.lines) for e in entries)) if raw.pg
                   else None)
        book = _Book(_lock(raw, ids, restore is not None), raw.pg)
        if raw.pg:
            posted = _post_pg(raw, book, entries, restore is not None)
            if restore:  # built or validated here, inside the transaction, before it can commit
                raw.cur.execute(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'")
                for stmt in restore:
                    raw.cur.execute(stmt)
        else:
            mine = [book.add(e) for e in entries]  # the caller's among the posted ones
            entry_ids = _entry_ids(raw, len(book.entries))
            _insert_sqlite(raw, book, entry_ids)
            posted = [entry_ids[i] for i in mine]
        _write_accounts(raw, book)
        _rollups_due(session)
    return posted


@contextmanager
def paused_gc() -> Iterator[None]:
    """Python's cyclic garbage collector off for a bulk computation: the batch allocates
    hundreds of thousands of tuples and strings, none of them in a cycle, and each of the
    collections their count triggers walks all of them again (measured, docs/ledger.md: about a
    fifth of the posting phase's client CPU). A nested use changes nothing; the collector is
    one per process, so of two imports in two threads the first to finish turns it back on
    (the other then runs at the old speed, nothing worse)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_NEXT_IDS = ("SELECT nextval(%(seq)s::regclass) AS v FROM generate_series(1, %(n)s)")
_ENTRY_SEQ = "SELECT pg_get_serial_sequence('journal_entry', 'id')"


def _entry_ids(raw: Raw, n: int) -> list[int]:
    if raw.pg:
        # The sequence's name is read once: pg_get_serial_sequence evaluated on every row cost
        # ten times the nextval itself. Usually nobody else draws meanwhile and the ids are
        # one range: read its two ends rather than n rows. Otherwise they are drawn again and
        # read one by one (the first ones are left unused: a sequence has gaps anyway).
        p = {"seq": raw.cur.execute(_ENTRY_SEQ).fetchone()[0], "n": n}
        lo, hi = raw.cur.execute(f"SELECT MIN(v), MAX(v) FROM ({_NEXT_IDS}) d", p).fetchone()
        if hi - lo + 1 == n:
            return list(range(lo, hi + 1))
        return [r[0] for r in raw.cur.execute(_NEXT_IDS, p).fetchall()]
    top = raw.cur.execute("SELECT COALESCE(MAX(id), 0) FROM journal_entry").fetchone()[0]
    return list(range(top + 1, top + 1 + n))  # one writer at a time: nobody takes these


def _unchecked(raw: Raw, session: Session, postings: int) -> list[str] | None:
    """For a load big beside the journal, if the tables can be locked at once: lock them, drop
    posting's foreign keys (bigger still: both tables' secondary indexes and unique constraints
    too) and return the statements that put them back; else (None) nothing changes."""
    if postings < UNCHECKED_MIN_POSTINGS:
        return None
    # The id span bounds the rows from above, from the primary key's two ends (no count).
    span = raw.cur.execute("SELECT COALESCE(MAX(id) - MIN(id) + 1, 0) FROM posting"
                           ).fetchone()[0]
    if postings * UNCHECKED_TABLE_RATIO < span:
        return None
    cur = raw.cur
    cur.execute("SAVEPOINT jifen_bulk_unchecked")
    old = cur.execute("SELECT current_setting('lock_timeout')").fetchone()[0]
    try:
        cur.execute(f"SET LOCAL lock_timeout = {int(UNCHECKED_LOCK_TIMEOUT_MS)}")
        cur.execute("LOCK TABLE posting, journal_entry, account IN ACCESS EXCLUSIVE MODE")
    except Exception as exc:  # noqa: BLE001 - only a lock we could not get is expected here
        if getattr(exc, "sqlstate", None) not in ("55P03", "40P01"):  # lock timeout, deadlock
            raise
        cur.execute("ROLLBACK TO SAVEPOINT jifen_bulk_unchecked")
        cur.execute("SELECT set_config('lock_timeout', %(v)s, true)", {"v": old})
        return None
    cur.execute("SELECT set_config('lock_timeout', %(v)s, true)", {"v": old})
    cur.execute("RELEASE SAVEPOINT jifen_bulk_unchecked")
    if postings * UNINDEXED_TABLE_RATIO >= span:
        return drop_secondary(session, ("journal_entry", "posting"))
    back = []
    for name, definition in cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'posting'::regclass AND contype = 'f' ORDER BY conname"
    ).fetchall():
        cur.execute(f'ALTER TABLE posting DROP CONSTRAINT "{name}"')
        back.append(f'ALTER TABLE posting ADD CONSTRAINT "{name}" {definition}')
    return back


_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]").search


def _esc(v: str) -> str:
    return v.translate(_COPY_ESCAPES) if _NEEDS_ESCAPE(v) else v


_ENTRY_COPY = f"COPY journal_entry ({', '.join(_ENTRY_COLS)}) FROM STDIN"
_POSTING_COPY = f"COPY posting ({', '.join(_POSTING_COLS)}) FROM STDIN"


def _post_pg(raw: Raw, book: _Book, entries: list[BulkEntry], unchecked: bool) -> list[int]:
    """Compute the entries STREAM_CHUNK at a time, each chunk's rows of one table written to
    an open COPY before the next is computed, so that the server inserts them on the other core
    meanwhile; the other table's rows follow in one COPY. Postings stream when posting's foreign
    keys are off for the load (else a posting would not find its entry yet), entries otherwise.
    Entry ids are drawn before their COPY starts (no statement can run during one): one per
    entry still to compute; a consolidation a sharded line needs takes one more, and when the
    drawn ones run out the COPY ends, more are drawn and another begins. Each table's rows go
    in the order of its randomly keyed index (postings by account, entries by source_ref),
    which cuts the server's index work; the ids are those of the computation's order."""
    ids: list[int] = []  # ids[k] is book.entries[k]'s
    mine: list[int] = []  # positions of the caller's entries among book.entries
    later: list = []  # the other table's rows: postings' text by chunk, or (source_ref, row)
    sent = done = 0
    first, second = (_POSTING_COPY, _ENTRY_COPY) if unchecked else (_ENTRY_COPY, _POSTING_COPY)
    while done < len(entries) or sent < len(book.entries):
        missing = len(book.entries) - len(ids) + len(entries) - done
        if missing > 0:
            ids += _entry_ids(raw, missing)
        with raw.cur.copy(first) as cp:
            while True:
                end = min(len(book.entries), len(ids))
                if end > sent:
                    rows = list(zip(ids[sent:end], book.entries[sent:end]))
                    keyed = [(key, f"{eid}{row}") for eid, (row, _, key) in rows]
                    if unchecked:
                        cp.write(_by_account(rows).encode())
                        later += keyed
                    else:
                        cp.write(_in_key_order(keyed).encode())
                        later.append(_by_account(rows))
                    sent = end
                if done == len(entries) or len(book.entries) > len(ids):
                    break
                mine += [book.add(e) for e in entries[done:done + STREAM_CHUNK]]
                done = min(len(entries), done + STREAM_CHUNK)
    if unchecked:  # all the entries at once, in the order of their (source, source_ref) index
        later = [_in_key_order(later)]
    with raw.cur.copy(second) as cp:
        for chunk in later:
            cp.write(chunk.encode())
    return [ids[i] for i in mine]


def _in_key_order(keyed: list[tuple[str, str]]) -> str:
    """Entries' COPY rows ((source_ref, row)) in the order of journal_entry's (source,
    source_ref) index (a load's entries nearly all share one source), whose keys (a history's
    row keys are hashes) would otherwise land each on a random leaf (the server's COPY of a
    file's 26,666 entries about a third cheaper sorted whole; docs/ledger.md, "Evening of
    2026-12-07"). Their ids are drawn already: only the order of the rows changes."""
    keyed.sort(key=_first)
    return "".join([r for _, r in keyed])


def _by_account(rows: list[tuple[int, tuple]]) -> str:
    """The COPY text of these entries' postings (`rows`: (entry id, its rows in the book)) in
    account order, each account's in entry order (a stable sort): the two (account_id, …)
    indexes then take them leaf after leaf, not each on a random page (the server's COPY of
    the postings about a sixth cheaper; docs/ledger.md, "Evening of 2026-12-07"). Only ids
    across accounts change order; an account's ids still follow its seq."""
    got = [(a, f"{eid}{p}") for eid, (_, ps, _) in rows for a, p in ps]
    got.sort(key=_first)
    return "".join([p for _, p in got])


def _insert_sqlite(raw: Raw, book: _Book, entry_ids: list[int]) -> None:
    entries, postings = [], []
    for eid, (unit, kind, at, memo, source, ref, actor, details, digest, lines) in zip(
            entry_ids, book.entries):
        at = raw.time(at.replace(tzinfo=UTC))
        entries.append((eid, unit, kind, at, None, memo, source, ref, actor, details, digest))
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
            {k: pg_array(r[i] for r in changed) for i, k in enumerate("abch")})
    else:
        raw.cur.executemany("UPDATE account SET balance = ?, posting_count = ?, head_hash = ? "
                            "WHERE id = ?", [(b, c, h, a) for a, b, c, h in changed])


__all__ = ["BulkEntry", "MAX_BULK_ENTRIES", "post_many"]
