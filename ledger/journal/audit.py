"""The audit: proves the journal's guarantees from the stored rows alone.

1. Every entry has two or more postings summing to zero; each unit's balances sum to zero.
2. Each account's stored balance, posting count and pending amounts equal what its postings and
   open holds say.
3. Each account's hash chain verifies, entry digests included; it names the first bad posting.
4. Each checkpoint's root recomputes and its heads match the chains.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.db import sha256_hex
from ledger.journal.models import (
    GENESIS_HASH,
    Account,
    Checkpoint,
    CheckpointHead,
    Hold,
    HoldStatus,
    JournalEntry,
    Posting,
)
from ledger.journal.posting import chain_suffix, entry_digest
from ledger.journal.schemas import AuditView, ViolationView
from ledger.timeutil import utcnow

AUDIT_BATCH = 5000
MAX_VIOLATIONS = 200


@dataclass
class AuditReport:
    at: datetime
    entries: int = 0
    postings: int = 0
    accounts: int = 0
    checkpoints: int = 0
    violations: list[ViolationView] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def add(self, v: ViolationView) -> None:
        if len(self.violations) < MAX_VIOLATIONS:
            self.violations.append(v)

    def view(self) -> AuditView:
        return AuditView(ok=self.ok, at=self.at.isoformat(), entries=self.entries,
                         postings=self.postings, accounts=self.accounts,
                         checkpoints=self.checkpoints, violations=list(self.violations))

    def as_dict(self) -> dict:
        return msgspec.to_builtins(self.view())


def _entries_pass(s: Session, report: AuditReport) -> dict[int, str]:
    """Recompute each entry's digest from its content and postings; check it balances."""
    digests: dict[int, str] = {}
    last_id = 0
    while True:
        entries = list(s.scalars(select(JournalEntry).where(JournalEntry.id > last_id)
                                 .order_by(JournalEntry.id).limit(AUDIT_BATCH)))
        if not entries:
            return digests
        lo, hi = entries[0].id, entries[-1].id
        lines: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for eid, acct, amount in s.execute(
                select(Posting.entry_id, Posting.account_id, Posting.amount)
                .where(Posting.entry_id.between(lo, hi))):
            lines[eid].append((acct, amount))
        for e in entries:
            ls = lines.get(e.id, [])
            report.entries += 1
            if len(ls) < 2 or sum(a for _, a in ls) != 0:
                report.add(ViolationView(
                    code="entry_unbalanced", entry_id=e.id,
                    message=f"entry {e.id} has {len(ls)} postings summing to "
                            f"{sum(a for _, a in ls)}"))
            d = entry_digest(unit=e.unit, kind=e.kind, created_at=e.created_at, memo=e.memo,
                             source=e.source, source_ref=e.source_ref, actor_id=e.actor_id,
                             details=e.details, reverses_id=e.reverses_id, lines=ls)
            if d != e.digest:
                report.add(ViolationView(
                    code="entry_digest_mismatch", entry_id=e.id,
                    message=f"entry {e.id}'s content does not match its digest"))
            digests[e.id] = d
        last_id = hi


def _accounts_pass(s: Session, report: AuditReport, digests: dict[int, str]) -> None:
    """One ordered stream over all postings (by account, then sequence), merged with the
    accounts: no query per account, so it scales to millions of holders."""
    pending_out: dict[int, int] = defaultdict(int)
    pending_in: dict[int, int] = defaultdict(int)
    for d, c, amount in s.execute(select(Hold.debit_account_id, Hold.credit_account_id,
                                         Hold.amount).where(Hold.status == HoldStatus.PENDING)):
        pending_out[d] += amount
        pending_in[c] += amount
    accounts = s.execute(select(Account.id, Account.balance, Account.posting_count,
                                Account.head_hash, Account.pending_out, Account.pending_in)
                         .order_by(Account.id)).all()
    postings = iter(s.execute(
        select(Posting.account_id, Posting.id, Posting.entry_id, Posting.amount, Posting.seq,
               Posting.balance_after, Posting.hash).order_by(Posting.account_id, Posting.seq)
        .execution_options(yield_per=AUDIT_BATCH)))
    nxt = next(postings, None)
    known = {a[0] for a in accounts}
    for acct_id, stored_balance, stored_count, stored_head, p_out, p_in in accounts:
        report.accounts += 1
        while nxt is not None and nxt[0] < acct_id:  # postings of an account that is gone
            if nxt[0] not in known:
                report.add(ViolationView(
                    code="posting_orphaned", posting_id=nxt[1],
                    message=f"posting {nxt[1]} names account {nxt[0]}, which does not exist"))
            nxt = next(postings, None)
        head, balance, count, broken = GENESIS_HASH, 0, 0, False
        while nxt is not None and nxt[0] == acct_id:
            _, pid, entry_id, amount, seq, balance_after, phash = nxt
            nxt = next(postings, None)
            report.postings += 1
            count += 1
            balance += amount
            if broken:
                continue
            expect = sha256_hex(head + chain_suffix(digests.get(entry_id, "?"), acct_id, amount))
            if seq != count or phash != expect or balance_after != balance:
                report.add(ViolationView(
                    code="chain_broken", account_id=acct_id, entry_id=entry_id, posting_id=pid,
                    message=f"account {acct_id}: posting {pid} (entry {entry_id}, seq {seq}) "
                            "is the first that does not verify"))
                broken = True
            head = phash
        if not broken and head != stored_head:
            report.add(ViolationView(
                code="head_mismatch", account_id=acct_id,
                message=f"account {acct_id}'s head hash is not its last posting's"))
        if balance != stored_balance or count != stored_count:
            report.add(ViolationView(
                code="balance_mismatch", account_id=acct_id,
                message=f"account {acct_id} stores balance {stored_balance} over "
                        f"{stored_count} postings; its postings give {balance} over {count}"))
        if p_out != pending_out[acct_id] or p_in != pending_in[acct_id]:
            report.add(ViolationView(
                code="pending_mismatch", account_id=acct_id,
                message=f"account {acct_id} stores pending {p_out}/{p_in}; open holds "
                        f"give {pending_out[acct_id]}/{pending_in[acct_id]}"))
    while nxt is not None:
        report.add(ViolationView(
            code="posting_orphaned", posting_id=nxt[1],
            message=f"posting {nxt[1]} names account {nxt[0]}, which does not exist"))
        nxt = next(postings, None)


def _trial_balance(s: Session, report: AuditReport) -> None:
    for unit, total in s.execute(select(Account.unit, func.sum(Account.balance))
                                 .group_by(Account.unit)):
        if total:
            report.add(ViolationView(code="trial_balance",
                                     message=f"{unit} balances sum to {total}, not zero"))
    for unit, total in s.execute(select(JournalEntry.unit, func.sum(Posting.amount))
                                 .join(Posting, Posting.entry_id == JournalEntry.id)
                                 .group_by(JournalEntry.unit)):
        if total:
            report.add(ViolationView(code="trial_balance",
                                     message=f"{unit} postings sum to {total}, not zero"))


def checkpoint_root(prev_root: str, heads: list[tuple[int, int, str]]) -> str:
    body = "\n".join(f"{a}:{n}:{h}" for a, n, h in sorted(heads))
    return sha256_hex(prev_root + "\n" + body)


def _checkpoints_pass(s: Session, report: AuditReport) -> None:
    prev = GENESIS_HASH
    for cp in s.scalars(select(Checkpoint).order_by(Checkpoint.id)).all():
        report.checkpoints += 1
        heads = [(h.account_id, h.posting_count, h.head_hash) for h in s.scalars(
            select(CheckpointHead).where(CheckpointHead.checkpoint_id == cp.id))]
        bad = cp.prev_root != prev or checkpoint_root(cp.prev_root, heads) != cp.root
        if not bad:
            for acct, n, h in heads:
                if s.scalar(select(Posting.hash).where(Posting.account_id == acct,
                                                       Posting.seq == n)) != h:
                    bad = True
                    break
        if bad:
            report.add(ViolationView(
                code="checkpoint_broken", checkpoint_id=cp.id,
                message=f"checkpoint {cp.id} of {cp.created_at.isoformat()} no longer holds"))
            return
        prev = cp.root


def run_audit(s: Session) -> AuditReport:
    report = AuditReport(at=utcnow())
    _trial_balance(s, report)
    digests = _entries_pass(s, report)
    _accounts_pass(s, report, digests)
    _checkpoints_pass(s, report)
    return report


def make_checkpoint(s: Session, now: datetime | None = None) -> Checkpoint | None:
    """Hash the heads of all accounts changed since the last checkpoint into a new root."""
    last = s.scalars(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)).first()
    prev_root = last.root if last else GENESIS_HASH
    latest = (select(CheckpointHead.posting_count).where(CheckpointHead.account_id == Account.id)
              .order_by(CheckpointHead.checkpoint_id.desc()).limit(1).scalar_subquery())
    heads = [tuple(r) for r in s.execute(
        select(Account.id, Account.posting_count, Account.head_hash)
        .where(Account.posting_count > func.coalesce(latest, 0)))]
    if not heads:
        return None
    cp = Checkpoint(created_at=now or utcnow(), prev_root=prev_root,
                    root=checkpoint_root(prev_root, heads), accounts_changed=len(heads))
    s.add(cp)
    s.flush()
    s.add_all([CheckpointHead(checkpoint_id=cp.id, account_id=a, posting_count=n, head_hash=h)
               for a, n, h in heads])
    s.flush()
    return cp
