"""Keyed ledger operations for the edges (API, CLI, workers): each runs in its own transaction
through `book.write`, so a retried request never applies twice."""

from __future__ import annotations

from sqlalchemy import select, text

from ledger.db import Database
from ledger.errors import Conflict, InvalidInput
from ledger.identity.actor import Actor, require
from ledger.journal import book, holds
from ledger.journal.audit import make_checkpoint, run_audit
from ledger.journal.models import Account, Posting
from ledger.journal.posting import reverse_entry
from ledger.journal.schemas import AuditView, EntryView, HoldView
from ledger.view import typed
from ledger.registry.lookup import refuse_self_award, require_holder_in_village

MAX_ID = 2**63 - 1  # BIGINT ids


def allocate(db: Database, *, shards: int, town_id: int, village_id: int, amount: int,
             actor_id: int | None, key: str | None, memo: str = "") -> EntryView:
    """Town funding into a village's budget (its shards)."""
    return typed(write_allocation(db, shards=shards, town_id=town_id, village_id=village_id,
                                  amount=amount, actor_id=actor_id, key=key, memo=memo).result,
                 EntryView)


def write_allocation(db: Database, *, shards: int, town_id: int, village_id: int, amount: int,
                     actor_id: int | None, key: str | None, memo: str = "") -> book.WriteResult:
    """`allocate` as the keyed write it is, saying whether the key's first result was
    answered again (`replayed`: the demo counts only what it allocated itself)."""
    req = {"op": "allocate", "town": town_id, "village": village_id, "amount": amount,
           "memo": memo}
    return book.write(db, lambda s: book.allocate(
        s, town_id=town_id, village_id=village_id, amount=amount, shards=shards,
        actor_id=actor_id, memo=memo).as_dict(), key=key, request=req)


def adjust(db: Database, *, shards: int, village_id: int, holder_type: str, holder_id: int,
           amount: int, memo: str, actor_id: int | None, key: str | None) -> book.WriteResult:
    """A manual award (amount > 0) or deduction (amount < 0) by an admin, outside the rules."""
    req = {"op": "adjust", "village": village_id, "holder": [holder_type, holder_id],
           "amount": amount, "memo": memo}
    return book.write_award(db, key=key, request=req, deduction=amount < 0,
                            village_id=village_id, holder_type=holder_type, holder_id=holder_id,
                            amount=abs(amount), shards=shards, memo=memo, source="admin",
                            actor_id=actor_id)


def adjust_as(db: Database, actor: Actor, *, shards: int, village_id: int, holder_type: str,
              holder_id: int, amount: int, memo: str, key: str | None) -> EntryView:
    """`adjust` by an admin of the village (the API's manual award or deduction): a village
    pays only its own people, households and teams, and never the actor's own household."""
    require(actor, "village.admin", village_id, "a manual award or deduction")
    if not (0 < village_id <= MAX_ID and 0 < holder_id <= MAX_ID):
        raise InvalidInput("ids are positive 64-bit integers", code="value_out_of_range")
    with db.sessions() as s:
        require_holder_in_village(s, holder_type, holder_id, village_id)
        refuse_self_award(s, actor.person_id, holder_type, holder_id)
    return typed(adjust(db, shards=shards, village_id=village_id, holder_type=holder_type,
                        holder_id=holder_id, amount=amount, memo=memo, actor_id=actor.user_id,
                        key=key).result, EntryView)


def reverse(db: Database, *, entry_id: int, reason: str, actor_id: int | None,
            key: str | None, actor_person_id: int | None = None) -> EntryView:
    """The mirror of an entry. A reversal moves points too: its actor may not reverse an entry
    of their own or their household's points (the no-self-award rule)."""
    req = {"op": "reverse", "entry": entry_id, "reason": reason}

    def work(s):
        for holder_type, holder_id in s.execute(
                select(Account.holder_type, Account.holder_id).join(
                    Posting, Posting.account_id == Account.id).where(
                    Posting.entry_id == entry_id).distinct()):
            refuse_self_award(s, actor_person_id, holder_type, holder_id)
        return reverse_entry(s, entry_id, memo=reason, actor_id=actor_id).as_dict()

    return typed(book.write(db, work, key=key, request=req).result, EntryView)


def reserve(db: Database, *, unit: str, debit_account_id: int, credit_account_id: int,
            amount: int, ttl_s: int, memo: str, key: str | None) -> HoldView:
    req = {"op": "hold", "unit": unit, "debit": debit_account_id, "credit": credit_account_id,
           "amount": amount, "ttl": ttl_s, "memo": memo}
    return typed(book.write(db, lambda s: {"hold_id": holds.reserve(
        s, unit=unit, debit_account_id=debit_account_id, credit_account_id=credit_account_id,
        amount=amount, ttl_s=ttl_s, memo=memo), "status": "pending"}, key=key,
        request=req).result, HoldView)


def _generic_hold(s, hold_id: int) -> None:
    """Holds made by a domain flow (a redemption order's, say) are resolved by that flow, which
    keeps its own state (voucher, stock, limits) in step; the generic operations refuse them."""
    row = s.execute(text("SELECT source FROM hold WHERE id = :id"), {"id": hold_id}).first()
    if row is not None and row[0]:
        raise Conflict(f"hold {hold_id} belongs to a {row[0]} flow; resolve it there",
                       code="hold_owned_by_flow", owner=row[0])


def post_hold(db: Database, *, hold_id: int, actor_id: int | None,
              key: str | None) -> EntryView:
    def work(s):
        _generic_hold(s, hold_id)
        return holds.post_hold(s, hold_id, actor_id=actor_id).as_dict()

    return typed(book.write(db, work, key=key, request={"op": "post_hold", "hold": hold_id}
                            ).result, EntryView)


def void_hold(db: Database, *, hold_id: int, key: str | None) -> HoldView:
    def work(s):
        _generic_hold(s, hold_id)
        return holds.void_hold(s, hold_id)

    return typed(book.write(db, work, key=key, request={"op": "void_hold", "hold": hold_id}
                            ).result, HoldView)


def sweep_expired_holds(db: Database) -> int:
    """Void every pending hold past its timeout; safe to run twice or in parallel."""
    done = 0
    while True:
        with db.transaction() as s:
            ids = holds.expired_hold_ids(s)
        if not ids:
            return done
        for hid in ids:
            try:
                with db.transaction() as s:
                    holds.void_hold(s, hid, expired=True)
                done += 1
            except Conflict:  # posted or voided meanwhile: nothing to do
                continue


def audit(db: Database) -> dict:
    with db.sessions() as s:
        return run_audit(s).as_dict()


def audit_view(db: Database) -> AuditView:
    """The audit run now, as the API answers it."""
    with db.sessions() as s:
        return run_audit(s).view()


def checkpoint(db: Database) -> dict | None:
    with db.transaction() as s:
        cp = make_checkpoint(s)
        return None if cp is None else {"id": cp.id, "root": cp.root,
                                        "at": cp.created_at.isoformat(),
                                        "accounts_changed": cp.accounts_changed}
