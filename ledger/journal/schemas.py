"""The journal's answers as types (entries, holds, accounts, statements, the audit), so the
API's schema documents each body and a result that drifts from its type fails at the boundary
(`msgspec.convert`), not in a client. A keyed write's result may be the stored answer of its
first run (`book.write`): it is converted from that dict, field for field."""

from __future__ import annotations

from typing import Any

from ledger.paging import Page
from ledger.view import View


class PostingLine(View):
    account_id: int
    amount: int  # in the unit's steps
    balance_after: int


class EntryView(View):
    """A posted entry: an allocation, an adjustment, a reversal, a posted hold."""
    entry_id: int
    unit: str
    kind: str
    created_at: str
    postings: list[PostingLine]


class HoldView(View, omit_defaults=True):
    """A hold placed (`pending`) or voided (`voided`, with its amount)."""
    hold_id: int
    status: str
    amount: int | None = None


class AccountView(View, omit_defaults=True):
    """An account's balances; `balance_as_of` and `as_of` only when asked for a past time."""
    id: int
    unit: str
    holder_type: str
    holder_id: int
    purpose: str
    shard: int
    overdraft: str  # may go below zero: never, through deductions only, always
    balance: int
    pending_out: int
    pending_in: int
    available: int
    postings: int
    balance_as_of: int | None = None
    as_of: str | None = None


class StatementLine(View):
    seq: int
    entry_id: int
    kind: str
    amount: int
    balance_after: int
    at: str
    memo: str
    source: str
    source_ref: str
    reverses_id: int | None
    details: dict[str, Any] | None


class Statement(Page[StatementLine], kw_only=True, forbid_unknown_fields=True):
    """An account's postings, newest first; `next_before_seq` is `next_cursor`'s old name."""
    items: list[StatementLine]  # named again: the schema does not resolve an inherited T
    account: AccountView
    next_before_seq: int | None = None


class ViolationView(View, omit_defaults=True):
    code: str
    message: str
    account_id: int | None = None
    entry_id: int | None = None
    posting_id: int | None = None
    checkpoint_id: int | None = None


class AuditView(View):
    ok: bool
    at: str
    entries: int
    postings: int
    accounts: int
    checkpoints: int
    violations: list[ViolationView]



class BudgetView(View):
    """A village's points budget, its shards summed, in steps: what is held for pending
    awards and what is left to award."""
    village_id: int
    balance: int
    held: int
    available: int
