"""Posting journal entries: the one path by which any balance changes.

An entry's postings sum to zero and are applied in one transaction. Each account row is changed
by one guarded UPDATE that checks the overdraft policy, moves the balance, advances the posting
count and extends the account's hash chain, all in the same statement (so the lock is held for
the shortest time). Rows are locked in a fixed order: ordinary accounts by id, then "hot" shared
accounts (village budgets, shops) last, so writers never deadlock and the hot lock is brief.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.orm import Session

from ledger.db import sha256_hex
from ledger.errors import Conflict, InsufficientFunds, InvalidInput, NotFound
from ledger.journal.models import Account, JournalEntry, Posting, Purpose
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
    """Internal: the chosen budget shard could not cover an amount; retry on another."""

    def __init__(self, line: Line, tried: int) -> None:
        self.line, self.tried = line, tried


_UPDATE_ACCOUNT = text(
    "UPDATE account SET balance = balance + :amount, posting_count = posting_count + 1, "
    "head_hash = jifen_sha256(head_hash || :suffix) "
    "WHERE id = :id AND unit = :unit AND (:amount >= 0 OR overdraft = 'allowed' "
    "OR (overdraft = 'deductions_only' AND :neg_ok = 1) OR balance + :amount - pending_out >= 0) "
    "RETURNING balance, posting_count, head_hash"
)
_INSERT_ENTRY = insert(JournalEntry).returning(JournalEntry.id)
_INSERT_POSTINGS = insert(Posting)


def canonical_json(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_digest(*, unit: str, kind: str, created_at: datetime, memo: str, source: str,
                 source_ref: str, actor_id: int | None, details: dict, reverses_id: int | None,
                 lines: Sequence[tuple[int, int]]) -> str:
    """The content hash of an entry; the chain of every account it touches includes it."""
    body = canonical_json({
        "unit": unit, "kind": kind, "at": created_at.isoformat(), "memo": memo,
        "source": source, "ref": source_ref, "actor": actor_id, "details": details,
        "reverses": reverses_id, "lines": sorted([a, n] for a, n in lines),
    })
    return sha256_hex(body)


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


def _refusal(session: Session, account_id: int, unit: str, amount: int) -> Exception:
    acct = session.get(Account, account_id)
    if acct is None:
        return NotFound(f"account {account_id} does not exist", code="account_not_found")
    if acct.unit != unit:
        return InvalidInput(f"account {account_id} keeps {acct.unit}, not {unit}",
                            code="unit_mismatch")
    code = "budget_exhausted" if acct.purpose == Purpose.BUDGET else "insufficient_points"
    return InsufficientFunds(
        f"account {account_id} has {acct.balance - acct.pending_out} available, needs {-amount}",
        code=code, account_id=account_id, available=acct.balance - acct.pending_out)


def post_entry(session: Session, *, unit: str, kind: str, lines: Sequence[Line], memo: str = "",
               source: str = "", source_ref: str = "", actor_id: int | None = None,
               details: dict | None = None, reverses_id: int | None = None,
               now: datetime | None = None, neg_ok: bool = False) -> PostedEntry:
    """Post one balanced entry inside the caller's transaction.

    Raises InsufficientFunds (nothing applied once the caller rolls back) or ShardsExhausted
    when a sharded line's chosen shard cannot cover it; `ledger.journal.book.write` retries
    those on a shard that can (hints in `session.info["shard_hints"]`).
    `neg_ok` lets a holder's account go below zero for this entry whatever its kind.
    """
    _validate(lines, memo)
    details = details or {}
    now = now or utcnow()
    chosen: list[tuple[Line, int]] = []
    for i, line in enumerate(lines):
        if len(line.accounts) == 1:
            chosen.append((line, line.accounts[0]))
        else:
            idx = session.info.get("shard_hints", {}).get(line.accounts)
            if idx is None:
                idx = random.randrange(len(line.accounts))
            chosen.append((line, line.accounts[idx]))
    resolved = [(acct, line.amount) for line, acct in chosen]
    digest = entry_digest(unit=unit, kind=kind, created_at=now, memo=memo, source=source,
                          source_ref=source_ref, actor_id=actor_id, details=details,
                          reverses_id=reverses_id, lines=resolved)
    neg_flag = 1 if neg_ok or kind in NEGATIVE_OK_KINDS else 0
    order = sorted(range(len(chosen)),
                   key=lambda i: (chosen[i][0].hot or len(chosen[i][0].accounts) > 1, chosen[i][1]))
    applied: dict[int, tuple[int, int, str]] = {}
    for i in order:
        line, acct = chosen[i]
        row = session.execute(_UPDATE_ACCOUNT, {
            "amount": line.amount, "suffix": chain_suffix(digest, acct, line.amount),
            "id": acct, "unit": unit, "neg_ok": neg_flag,
        }).first()
        if row is None:
            if len(line.accounts) > 1:
                raise ShardsExhausted(line, acct)
            raise _refusal(session, acct, unit, line.amount)
        applied[acct] = (row[0], row[1], row[2])
    entry_id = session.execute(_INSERT_ENTRY, {
        "unit": unit, "kind": kind, "created_at": now, "reverses_id": reverses_id,
        "memo": memo, "source": source, "source_ref": source_ref, "actor_id": actor_id,
        "details": details, "digest": digest,
    }).scalar_one()
    rows = [{"entry_id": entry_id, "account_id": acct, "amount": amount, "seq": applied[acct][1],
             "balance_after": applied[acct][0], "hash": applied[acct][2], "created_at": now}
            for acct, amount in resolved]
    session.execute(_INSERT_POSTINGS, rows)
    return PostedEntry(entry_id, unit, kind, now, [
        {"account_id": r["account_id"], "amount": r["amount"], "balance_after": r["balance_after"]}
        for r in rows])


def load_entry(session: Session, entry_id: int) -> tuple[JournalEntry, list[Posting]]:
    entry = session.get(JournalEntry, entry_id)
    if entry is None:
        raise NotFound(f"entry {entry_id} does not exist", code="entry_not_found")
    postings = list(session.scalars(
        select(Posting).where(Posting.entry_id == entry_id).order_by(Posting.id)))
    return entry, postings


_ACCOUNT_PURPOSES = text("SELECT id, purpose FROM account WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True))


def hot_flags(session: Session, account_ids: Sequence[int]) -> dict[int, bool]:
    return {r[0]: r[1] in HOT_PURPOSES for r in session.execute(
        _ACCOUNT_PURPOSES, {"ids": list(account_ids)})}


def reverse_entry(session: Session, entry_id: int, *, memo: str, actor_id: int | None = None,
                  source: str = "reversal", source_ref: str = "", details: dict | None = None,
                  now: datetime | None = None) -> PostedEntry:
    """Undo an entry by its mirror image; the new entry names the one it reverses."""
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


__all__ = ["Line", "PostedEntry", "ShardsExhausted", "post_entry", "reverse_entry", "load_entry",
           "entry_digest", "chain_suffix", "canonical_json", "hot_flags", "MAX_LINES_PER_ENTRY"]
