"""Posting journal entries: the one path by which any balance changes.

An entry's postings sum to zero and are applied in one transaction (`apply.py`: one statement
on PostgreSQL). Each account row is changed by one guarded UPDATE that checks the overdraft
policy, moves the balance, advances the posting count and extends the account's hash chain.
Rows are locked in a fixed order: ordinary accounts by id, then "hot" shared accounts (village
budget shards, shops) last, so writers rarely deadlock (and are retried when they do) and the
hot lock is held only from that statement to COMMIT. A sharded line (a village's budget or
score) starts on the shard its writer thread's number names (`writer_slot`: the writers of a
process on different shards) and moves to one that can pay, consolidating the shards when only
together they can.

(Over 400 lines on purpose: lines, lock order, shard choice and the guarded statement are one
path, the only one by which a balance changes; reading it in one place is the point.)
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import outbox
from ledger.db import sha256_hex
from ledger.errors import Conflict, InsufficientFunds, InvalidInput, NotFound
from ledger.journal.accounts import CACHED, forget_accounts
from ledger.journal.apply import PgAlso, apply_entry
from ledger.journal.models import JournalEntry, Posting, Purpose
from ledger.journal.rawdb import Raw, Sql
from ledger.timeutil import utcnow

MAX_LINES_PER_ENTRY = 64
MAX_ABS_AMOUNT = 10**12  # far above any real points figure; keeps sums well inside BIGINT
MAX_MEMO_CHARS = 500

# Entry kinds that may take a holder's points below zero (deductions_only accounts).
NEGATIVE_OK_KINDS = frozenset({"deduct", "reverse", "sanction"})
HOT_PURPOSES = frozenset({Purpose.BUDGET, Purpose.FUNDING, Purpose.REDEEMED, Purpose.EXPIRED,
                          Purpose.SERVICE})


@dataclass(frozen=True)
class Line:
    """One side of an entry. `accounts` holds one account id, or several interchangeable
    sub-accounts (shards of one budget) of which the first that can serve is used."""

    accounts: tuple[int, ...]
    amount: int
    hot: bool = False

    @classmethod
    def of(cls, account_id: int, amount: int, *, hot: bool = False) -> Line:
        return cls((account_id,), amount, hot)


@dataclass
class PostedEntry:
    id: int
    unit: str
    kind: str
    created_at: datetime
    postings: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"entry_id": self.id, "unit": str(self.unit), "kind": self.kind,
                "created_at": self.created_at.isoformat(), "postings": self.postings}


class ShardsExhausted(Exception):
    """The shard chosen for a sharded line cannot cover it. Nothing of the entry is applied;
    the transaction must be rolled back and retried: `book.write` does both, after finding (in
    a transaction of its own) a shard that can, consolidating the shards if needed. Retrying
    in the same transaction could deadlock: on PostgreSQL a refused guarded UPDATE that had to
    wait for another writer keeps the row locked until the transaction ends."""

    def __init__(self, line: Line, tried: int) -> None:
        self.line, self.tried = line, tried


# What an entry's digest hashes is, by definition, canonical_json of {unit, kind, at, memo,
# source, ref, actor, details, reverses, lines (sorted [account, amount] pairs)}.
# `canonical_body` writes that text from its parts, the details already as text (tests hold the
# two equal), so that the details are encoded once: they are stored as that same text.
canonical_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                  default=str).encode
_string = json.encoder.encode_basestring  # a JSON string as canonical_json writes it


def _js(value: object) -> str:
    return _string(value) if isinstance(value, str) else canonical_json(value)


def _pairs(lines: Sequence[tuple[int, int]]) -> str:
    return ",".join(f"[{a},{n}]" for a, n in sorted(lines))


def _body(actor: str, at: str, details: str, kind: str, pairs: str, memo: str, ref: str,
          reverses: str, source: str, unit: str) -> str:
    """canonical_body from its parts, each already in its JSON form."""
    return (f'{{"actor":{actor},"at":{at},"details":{details},"kind":{kind},"lines":[{pairs}],'
            f'"memo":{memo},"ref":{ref},"reverses":{reverses},"source":{source},"unit":{unit}}}')


def canonical_body(*, unit: str, kind: str, at: str, memo: str, source: str, source_ref: str,
                   actor_id: int | None, details_json: str, reverses_id: int | None,
                   lines: Sequence[tuple[int, int]]) -> str:
    """The text an entry's digest hashes; `at` the time's isoformat, `details_json` the details
    as canonical_json writes them."""
    return _body(_js(actor_id), _string(at), details_json, _js(kind), _pairs(lines), _js(memo),
                 _js(source_ref), _js(reverses_id), _js(source), _js(unit))


def entry_digest(*, unit: str, kind: str, created_at: datetime, memo: str, source: str,
                 source_ref: str, actor_id: int | None, details: dict, reverses_id: int | None,
                 lines: Sequence[tuple[int, int]]) -> str:
    """The content hash of an entry; the chain of every account it touches includes it."""
    return sha256_hex(canonical_body(
        unit=unit, kind=kind, at=created_at.isoformat(), memo=memo, source=source,
        source_ref=source_ref, actor_id=actor_id, details_json=canonical_json(details),
        reverses_id=reverses_id, lines=lines))


_SORTED = msgspec.json.Encoder(order="sorted")
# Numbers msgspec writes otherwise than json does: floats json writes with an exponent (json
# 1e+16, 1e-05; msgspec 1e16, 0.00001). Anything that looks like one (in a string too) takes
# json's path.
_OTHER_FLOAT = re.compile(r"\d[eE]|0\.0000")


def details_json(details: dict) -> str:
    """An entry's details as they are stored and hashed: the text canonical_json gives for them
    as they will be read back (the audit hashes that), so stored and hashed always agree.
    msgspec writes it in a tenth of json's time (the details of a rule award are 1.5 KB,
    written on every award); where its text could differ from json's (a float json writes with
    an exponent, a key that is not a string, a value JSON cannot hold), json writes it from the
    details read back."""
    try:
        text = _SORTED.encode(details).decode()
    except TypeError:  # a key that is not a string; json writes it as one, or refuses the value
        text = json.dumps(details)
    else:
        if not _OTHER_FLOAT.search(text):
            return text
    return canonical_json(json.loads(text))


def chain_suffix(digest: str, account_id: int, amount: int) -> str:
    return f"|{digest}|{account_id}|{amount}"


def _validate(lines: Sequence[Line], memo: str) -> None:
    if len(lines) < 2:
        raise InvalidInput("an entry needs at least two postings", code="entry_too_few_postings")
    if len(lines) > MAX_LINES_PER_ENTRY:
        raise InvalidInput(f"an entry has at most {MAX_LINES_PER_ENTRY} postings",
                           code="entry_too_many_postings")
    total = 0
    for line in lines:
        if not isinstance(line.amount, int) or isinstance(line.amount, bool):
            raise InvalidInput("amounts are whole numbers of the unit's step", code="amount_not_integer")
        if line.amount == 0 or abs(line.amount) > MAX_ABS_AMOUNT:
            raise InvalidInput("each posting amount must be non-zero and within limits",
                               code="amount_out_of_range")
        if not line.accounts:
            raise InvalidInput("a posting names no account", code="account_missing")
        total += line.amount
    if total != 0:
        raise InvalidInput(f"postings sum to {total}, not zero", code="entry_unbalanced")
    ids = [a for line in lines for a in line.accounts]
    if len(set(ids)) != len(ids):
        raise InvalidInput("an account appears twice in one entry", code="entry_duplicate_account")
    if len(memo) > MAX_MEMO_CHARS:
        raise InvalidInput(f"memo longer than {MAX_MEMO_CHARS} characters", code="memo_too_long")


_ACCOUNT_STATE = Sql.of("SELECT unit, purpose, balance - pending_out FROM account WHERE id = :id")
_SHARDS_AVAILABLE = Sql.of("SELECT id, balance - pending_out FROM account WHERE id IN ({ids})")


def _refusal(session: Session, account_id: int, unit: str, amount: int) -> Exception:
    row = Raw(session).first(_ACCOUNT_STATE, {"id": account_id})
    if row is None:
        forget_accounts(session)  # a remembered id may belong to a rolled-back transaction
        return NotFound(f"account {account_id} does not exist", code="account_not_found")
    acct_unit, purpose, available = row
    if acct_unit != unit:
        return InvalidInput(f"account {account_id} keeps {acct_unit}, not {unit}",
                            code="unit_mismatch")
    code = "budget_exhausted" if purpose == Purpose.BUDGET else "insufficient_points"
    return InsufficientFunds(f"account {account_id} has {available} available, needs {-amount}",
                             code=code, account_id=account_id, available=available)


def shards_available(raw: Raw, shards: tuple[int, ...], lock: bool = False) -> dict[int, int]:
    """Each shard's available amount; with `lock`, the shards are locked in id order, as every
    writer locks them (PostgreSQL; SQLite has one writer at a time already)."""
    ids = ", ".join(str(int(a)) for a in shards)  # ints only: safe to inline
    sql = _SHARDS_AVAILABLE.sqlite.format(ids=ids)
    if lock and raw.pg:
        sql += " ORDER BY id FOR UPDATE"
    return dict(raw.cur.execute(sql).fetchall())


class StaleAccountId(Exception):
    """A remembered account id no longer names the account it was remembered for (the database
    was restored or rebuilt under this process). The ids are forgotten; `book.write` retries."""


def _check_cached(session: Session, keys: dict[int, tuple]) -> None:
    served = session.info.get(CACHED)
    if not served:
        return
    for acct, key in keys.items():
        expect = served.get(acct)
        if expect is not None and tuple(expect) != (key[0], key[1], int(key[2]), key[3],
                                                   int(key[4])):
            forget_accounts(session)
            session.info.pop(CACHED, None)
            raise StaleAccountId(f"account id {acct} is no longer {expect}")


@dataclass
class Prepared:
    """An entry checked and resolved, ready to apply: the account each line uses, the lock
    order, the chain suffixes and the entry's columns."""

    unit: str
    kind: str
    now: datetime
    chosen: list[int]  # the account each line uses, in line order
    order: list[int]  # line positions in lock order
    ordered: list[tuple[int, int, str]]  # (account, amount, chain suffix) in lock order
    columns: dict  # journal_entry's columns (details as JSON text)
    neg_flag: int
    amounts: list[int] = field(default_factory=list)  # in line order

    def posted(self, entry_id: int, balances: dict[int, int]) -> PostedEntry:
        return PostedEntry(entry_id, self.unit, self.kind, self.now, [
            {"account_id": a, "amount": n, "balance_after": balances[a]}
            for a, n in zip(self.chosen, self.amounts)])


def prepare_entry(lines: Sequence[Line], *, unit: str, kind: str, memo: str = "",
                  source: str = "", source_ref: str = "", actor_id: int | None = None,
                  details: dict | None = None, reverses_id: int | None = None,
                  now: datetime | None = None, neg_ok: bool = False,
                  hints: dict | None = None, slot: int | None = None) -> Prepared:
    """Validate an entry and resolve it: a sharded line takes the shard `hints` names, else the
    one its writer's `slot` names (see writer_slot), else a random one. Raises InvalidInput for
    an entry that could never be posted."""
    _validate(lines, memo)
    details = details or {}
    # In UTC, as the database gives it back: the digest covers the time as written, and one
    # hashed as 20:00+08:00 would not verify against 12:00+00:00 read back by the audit.
    now = (now or utcnow()).astimezone(UTC)
    hints = hints or {}
    chosen = []
    for line in lines:
        if len(line.accounts) == 1:
            chosen.append(line.accounts[0])
        else:
            idx = hints.get(shard_key(line.accounts))
            if idx is None and slot is not None:
                idx = getattr(_THREAD, "moved", {}).get(shard_key(line.accounts))
            if idx is None:
                idx = slot % len(line.accounts) if slot is not None \
                    else random.randrange(len(line.accounts))
            chosen.append(line.accounts[idx])
    neg_flag = 1 if neg_ok or kind in NEGATIVE_OK_KINDS else 0
    # Lock order: ordinary accounts by id, then hot shared ones (budgets, shops) by id, so that
    # writers never deadlock and the hot rows are held for the shortest time.
    order = sorted(range(len(lines)),
                   key=lambda i: (lines[i].hot or len(lines[i].accounts) > 1, chosen[i]))
    amounts = [line.amount for line in lines]
    text = details_json(details)
    digest = sha256_hex(canonical_body(
        unit=unit, kind=kind, at=now.isoformat(), memo=memo, source=source,
        source_ref=source_ref, actor_id=actor_id, details_json=text, reverses_id=reverses_id,
        lines=list(zip(chosen, amounts))))
    ordered = [(chosen[i], amounts[i], chain_suffix(digest, chosen[i], amounts[i]))
               for i in order]
    columns = {"unit": str(unit), "kind": kind, "now": now, "reverses_id": reverses_id,
               "memo": memo, "source": source, "source_ref": source_ref, "actor_id": actor_id,
               "details": text, "digest": digest}  # the details as hashed
    return Prepared(unit, kind, now, chosen, order, ordered, columns, neg_flag, amounts)


def post_entry(session: Session, *, unit: str, kind: str, lines: Sequence[Line], memo: str = "",
               source: str = "", source_ref: str = "", actor_id: int | None = None,
               details: dict | None = None, reverses_id: int | None = None,
               now: datetime | None = None, neg_ok: bool = False) -> PostedEntry:
    """Post one balanced entry inside the caller's transaction.

    Raises InsufficientFunds (budget_exhausted / insufficient_points) when an account's policy
    refuses; nothing is applied then and the transaction stays usable. A sharded line (several
    interchangeable budget sub-accounts) uses a random shard, or the one `session.info
    ["shard_hints"]` names; when that shard cannot cover the amount, ShardsExhausted is raised
    (nothing applied) and `book.write` retries on a shard that can.
    `neg_ok` lets a holder's account go below zero for this entry whatever its kind.
    """
    return post_entry_with(session, lines, unit=unit, kind=kind, memo=memo, source=source,
                           source_ref=source_ref, actor_id=actor_id, details=details,
                           reverses_id=reverses_id, now=now, neg_ok=neg_ok)[0]


# Each thread that posts gets the next number of its process: a sharded line
# (a village's budget or score) takes the shard its thread's number names (unless a retry was
# told another), so that the writers of one process draw on different shards of a hot account
# instead of colliding at random (two writers on one shard wait for each other's COMMIT;
# docs/ledger.md, "The hot village budget").
_THREAD = threading.local()


def _number_writers_afresh() -> None:
    """This process numbers its writer threads from a random start, so that processes spread
    over a budget's shards: numbered from the pid, as before, processes with neighbouring pids
    shared nearly every shard, and a forked child (a Celery prefork worker) inherited its
    parent's counter, so all children started on the same shard. Run again in every forked
    child."""
    global _SLOTS
    _SLOTS = itertools.count(random.SystemRandom().randrange(1 << 30))
    _THREAD.__dict__.pop("slot", None)  # the forking thread, the child's only one, draws anew


_number_writers_afresh()
os.register_at_fork(after_in_child=_number_writers_afresh)
MAX_MOVED = 10_000  # sharded accounts whose shard a thread remembers having moved to


def writer_slot() -> int:
    slot = getattr(_THREAD, "slot", None)
    if slot is None:
        slot = _THREAD.slot = next(_SLOTS)
    return slot


def shard_key(accounts: tuple[int, ...]) -> int:
    """What a retry hint or a thread's move names a sharded account by: its shard 0. Not the
    whole tuple of shards: shards that did not exist yet are opened inside the transaction
    (`accounts.shards_of`), so a transaction that rolled back on ShardsExhausted opens them
    again under new ids, and a hint keyed by the tuple would never match its retry (with a
    writer's fixed slot on such a shard, every retry failed alike). Shard 0 is the account the
    budget's allocation opened and committed; when it was not, there is nothing to pay from
    and the retry ends as budget_exhausted."""
    return accounts[0]


def shard_moved(accounts: tuple[int, ...], index: int) -> None:
    """The thread's shard of `accounts` could not pay and `book.prepare_shards` found `index`
    that can: the thread's later entries take it too (not the short one again)."""
    moved = getattr(_THREAD, "moved", None)
    if moved is None or len(moved) >= MAX_MOVED:
        moved = _THREAD.moved = {}
    moved[shard_key(accounts)] = index


def post_entry_with(session: Session, lines: Sequence[Line], *, also: PgAlso | None = None,
                    also_params: dict | None = None, **entry) -> tuple[PostedEntry, tuple]:
    """`post_entry`, and on PostgreSQL the writes of `also` in the same statement (see
    apply.PgAlso: they happen only if the entry is posted). Returns the entry and the values
    of `also.columns` (empty without `also`, and on SQLite, where the caller writes them
    itself)."""
    prep = prepare_entry(lines, **entry, hints=session.info.setdefault("shard_hints", {}),
                         slot=writer_slot())
    raw = Raw(session)
    queue = raw.pg and not _rollups_queued(session)  # in this statement, on PostgreSQL
    if queue:
        also, also_params = _with_rollups_due(also), {
            **(also_params or {}), **outbox.once_params(raw, ROLLUPS_DUE_TASK, ROLLUPS_DUE_KEY)}
    done = apply_entry(raw, prep.ordered, prep.columns, prep.neg_flag,
                       also if raw.pg else None, also_params)
    if done.entry_id is not None:
        _check_cached(session, done.keys)
        got = done.also
        if queue:
            outbox.noted_once(session, got[-1], ROLLUPS_DUE_TASK)
            got = got[:-1]
            _mark_rollups_queued(session)
        else:
            _rollups_due(session)
        return prep.posted(done.entry_id, {a: row[0] for a, row in done.rows.items()}), got
    unit = entry["unit"]
    i = prep.order[done.refused]
    line = lines[i]
    if len(line.accounts) == 1 or line.amount > 0:
        raise _refusal(session, prep.chosen[i], unit, line.amount)
    raise ShardsExhausted(line, prep.chosen[i])


# The rollups follow the journal (ledger/recognition/rollups.py): every transaction that posts
# queues their catch-up with its entries, once (one waiting row for all writers: dedupe key).
ROLLUPS_DUE_TASK, ROLLUPS_DUE_KEY = "recognition.catch_up", "rollups"
_QUEUED = "rollups_due_queued"


def _rollups_queued(session: Session) -> bool:
    # once per transaction (per savepoint: a rolled-back savepoint takes its row with it)
    txn = session.get_nested_transaction() or session.get_transaction()
    return session.info.get(_QUEUED) is txn


def _mark_rollups_queued(session: Session) -> None:
    session.info[_QUEUED] = session.get_nested_transaction() or session.get_transaction()


def _rollups_due(session: Session) -> None:
    """Queue the catch-up by its own statement (SQLite; PostgreSQL writes it in the entry's)."""
    if not _rollups_queued(session):
        outbox.enqueue_once(session, ROLLUPS_DUE_TASK, ROLLUPS_DUE_KEY)
        _mark_rollups_queued(session)


@lru_cache(maxsize=16)
def _with_rollups_due(also: PgAlso | None) -> PgAlso:
    """`also` (or nothing) plus the catch-up's outbox row, its id the last column."""
    if also is None:
        return PgAlso(ctes=outbox.ONCE_CTE, columns=outbox.ONCE_COLUMN)
    return PgAlso(ctes=f"{also.ctes},\n{outbox.ONCE_CTE}",
                  columns=f"{also.columns}, {outbox.ONCE_COLUMN}")


def load_entry(session: Session, entry_id: int) -> tuple[JournalEntry, list[Posting]]:
    entry = session.get(JournalEntry, entry_id)
    if entry is None:
        raise NotFound(f"entry {entry_id} does not exist", code="entry_not_found")
    postings = list(session.scalars(
        select(Posting).where(Posting.entry_id == entry_id).order_by(Posting.id)))
    return entry, postings


def hot_flags(session: Session, account_ids: Sequence[int]) -> dict[int, bool]:
    ids = ", ".join(str(int(a)) for a in account_ids)  # ints only: safe to inline
    rows = Raw(session).cur.execute(f"SELECT id, purpose FROM account WHERE id IN ({ids})")
    return {r[0]: r[1] in HOT_PURPOSES for r in rows.fetchall()}


_LOCK_ENTRY = Sql.of("SELECT id FROM journal_entry WHERE id = :id FOR UPDATE")


def reverse_entry(session: Session, entry_id: int, *, memo: str, actor_id: int | None = None,
                  source: str = "reversal", source_ref: str = "", details: dict | None = None,
                  now: datetime | None = None) -> PostedEntry:
    """Undo an entry by its mirror image; the new entry names the one it reverses. Two
    parallel reversals of one entry: the second waits for the first and is refused."""
    raw = Raw(session)
    if raw.pg:  # SQLite has one writer at a time already
        raw.first(_LOCK_ENTRY, {"id": entry_id})
    entry, postings = load_entry(session, entry_id)
    already = session.scalar(select(JournalEntry.id).where(JournalEntry.reverses_id == entry_id))
    if already is not None:
        raise Conflict(f"entry {entry_id} was already reversed by entry {already}",
                       code="already_reversed", reversed_by=already)
    hot = hot_flags(session, [p.account_id for p in postings])
    lines = [Line.of(p.account_id, -p.amount, hot=hot.get(p.account_id, False)) for p in postings]
    return post_entry(session, unit=entry.unit, kind="reverse", lines=lines, memo=memo,
                      source=source, source_ref=source_ref or str(entry_id), actor_id=actor_id,
                      details=details or {"reverses": entry_id}, reverses_id=entry_id, now=now)


__all__ = [
    "MAX_LINES_PER_ENTRY",
    "Line",
    "PostedEntry",
    "Prepared",
    "ShardsExhausted",
    "StaleAccountId",
    "canonical_body",
    "canonical_json",
    "chain_suffix",
    "details_json",
    "entry_digest",
    "hot_flags",
    "load_entry",
    "post_entry",
    "post_entry_with",
    "prepare_entry",
    "reverse_entry",
    "shard_key",
    "shard_moved",
    "shards_available",
]
