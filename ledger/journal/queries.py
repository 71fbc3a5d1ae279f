"""Reading the journal: balances now and as of a past instant, statements with keyset paging."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger import paging
from ledger.db import Database
from ledger.errors import NotFound
from ledger.journal.accounts import holder_accounts
from ledger.journal.models import Account, HolderType, JournalEntry, Posting, Purpose, Unit
from ledger.journal.schemas import AccountView, BudgetView, Statement
from ledger.view import typed

MAX_PAGE = paging.MAX_PAGE


def get_account(s: Session, account_id: int) -> Account:
    acct = s.get(Account, account_id)
    if acct is None:
        raise NotFound(f"account {account_id} does not exist", code="account_not_found")
    return acct


def account_view(acct: Account) -> dict:
    return {"id": acct.id, "unit": acct.unit, "holder_type": acct.holder_type,
            "holder_id": acct.holder_id, "purpose": acct.purpose, "shard": acct.shard,
            "overdraft": acct.overdraft, "balance": acct.balance,
            "pending_out": acct.pending_out, "pending_in": acct.pending_in,
            "available": acct.balance - acct.pending_out, "postings": acct.posting_count}


def balance_as_of(s: Session, account_id: int, at: datetime) -> int:
    """The balance from postings at or before `at` (entry time)."""
    get_account(s, account_id)
    return int(s.scalar(select(func.coalesce(func.sum(Posting.amount), 0)).where(
        Posting.account_id == account_id, Posting.created_at <= at)))


def statement(s: Session, account_id: int, *, limit: int = 50,
              before_seq: int | None = None) -> dict:
    """Newest first; pass the returned `next_before_seq` to read the next page."""
    paging.check_limit(limit)
    acct = get_account(s, account_id)
    q = (select(Posting, JournalEntry).join(JournalEntry, JournalEntry.id == Posting.entry_id)
         .where(Posting.account_id == account_id))
    if before_seq is not None:
        q = q.where(Posting.seq < before_seq)
    rows = s.execute(q.order_by(Posting.seq.desc()).limit(limit)).all()
    items = [{"seq": p.seq, "entry_id": e.id, "kind": e.kind, "amount": p.amount,
              "balance_after": p.balance_after, "at": e.created_at.isoformat(), "memo": e.memo,
              "source": e.source, "source_ref": e.source_ref, "reverses_id": e.reverses_id,
              "details": e.details} for p, e in rows]
    nxt = items[-1]["seq"] if len(items) == limit and items[-1]["seq"] > 1 else None
    return {"account": account_view(acct), "items": items, "next_before_seq": nxt}


def account(db: Database, account_id: int, as_of: datetime | None = None) -> AccountView:
    """An account's balances now, and at `as_of` when asked (the API's account view)."""
    with db.sessions() as s:
        view = account_view(get_account(s, account_id))
        if as_of is not None:
            view["balance_as_of"] = balance_as_of(s, account_id, as_of)
            view["as_of"] = as_of.isoformat()
    return typed(view, AccountView)


def statement_page(db: Database, account_id: int, *, limit: int,
                   before_seq: int | None) -> Statement:
    """A page of `statement` as its type, with both cursor names."""
    with db.sessions() as s:
        page = statement(s, account_id, limit=limit, before_seq=before_seq)
    return typed({**page, "next_cursor": paging.cursor_of(page["next_before_seq"])}, Statement)


def points_account(s: Session, holder_type: str, holder_id: int, unit: str = Unit.POINTS):
    """The holder's spendable account, or None before its first posting (reading never opens
    an account)."""
    for acct in holder_accounts(s, holder_type, holder_id, purpose=Purpose.POINTS):
        if acct.unit == unit:
            return acct
    return None


def available_points(s: Session, holder_type: str, holder_id: int) -> int:
    acct = points_account(s, holder_type, holder_id)
    return 0 if acct is None else account_view(acct)["available"]


def village_budgets(s: Session) -> list[dict]:
    """Each village's points budget (its shards summed): balance, held, available."""
    rows = s.execute(
        select(Account.holder_id, func.sum(Account.balance), func.sum(Account.pending_out))
        .where(Account.holder_type == HolderType.VILLAGE, Account.purpose == Purpose.BUDGET,
               Account.unit == Unit.POINTS)
        .group_by(Account.holder_id).order_by(Account.holder_id))
    return [{"village_id": v, "balance": int(b), "held": int(h), "available": int(b - h)}
            for v, b, h in rows]


def budgets(db: Database, within: set[int] | None = None) -> list[BudgetView]:
    """`village_budgets` typed, of the villages `within` (every one when None)."""
    with db.sessions() as s:
        rows = village_budgets(s)
    return typed([b for b in rows if within is None or b["village_id"] in within],
                 list[BudgetView])
def available_points_for(db: Database, holder_type: str, holder_id: int) -> int:
    """`available_points` in its own session."""
    with db.sessions() as s:
        return available_points(s, holder_type, holder_id)


def holder_statement(db: Database, holder_type: str, holder_id: int, *, limit: int,
                     before_seq: int | None = None, unit: str = Unit.POINTS
                     ) -> Statement | None:
    """A page of the holder's spendable account in `unit` (`statement_page`), newest first;
    None before the account's first posting."""
    with db.sessions() as s:
        acct = points_account(s, holder_type, holder_id, unit)
        if acct is None:
            return None
        page = statement(s, acct.id, limit=limit, before_seq=before_seq)
    return typed({**page, "next_cursor": paging.cursor_of(page["next_before_seq"])}, Statement)
