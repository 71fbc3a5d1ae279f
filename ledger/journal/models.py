"""Tables of the journal. Entries and postings are append-only (database triggers refuse any
UPDATE or DELETE); balances live on the account row and are proved against the postings by the
audit; each account carries the head of its own hash chain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base
from ledger.timeutil import UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
BigId = BigInteger().with_variant(Integer, "sqlite")

GENESIS_HASH = "0" * 64


class Unit(StrEnum):
    """Each unit is its own book; no entry mixes two."""

    POINTS = "points"
    MINUTES = "minutes"  # service minutes (服务时长)
    BANK_MINUTES = "bank_minutes"  # a time bank's hours, apart from certified minutes
    # an earning coin is its own unit too: `coin.<code>` (ledger/rules/coins.py)


class Purpose(StrEnum):
    FUNDING = "funding"  # town: the source of all points of the year
    BUDGET = "budget"  # village allocation
    POINTS = "points"  # person / household / team balance
    REDEEMED = "redeemed"  # provider: spent there, for settlement
    EXPIRED = "expired"  # town: expired or zeroed points
    HELD = "held"  # kept for catalogues that want an explicit holding account
    SERVICE = "service"  # minutes: the source side of service minutes
    TRANSIT = "transit"  # pending public notice (公示) and the like
    SCORE = "score"  # counted, never spent: a deed held in another wallet (rules/wallets.py)


class Overdraft(StrEnum):
    ALLOWED = "allowed"  # sources (funding)
    FORBIDDEN = "forbidden"  # budgets, shops: never below zero
    DEDUCTIONS_ONLY = "deductions_only"  # holders: deductions may take them negative, spending never


class HolderType(StrEnum):
    TOWN = "town"
    VILLAGE = "village"
    HOUSEHOLD = "household"
    PERSON = "person"
    TEAM = "team"
    PROVIDER = "provider"
    SYSTEM = "system"


class HoldStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


ACCOUNT_FILLFACTOR = 70  # percent of each of account's pages filled by inserts


class Account(Base):
    __tablename__ = "account"
    __table_args__ = (
        UniqueConstraint("unit", "holder_type", "holder_id", "purpose", "shard",
                         name="uq_account_holder"),
        CheckConstraint("pending_out >= 0 AND pending_in >= 0", name="pending_nonneg"),
        # Every posting rewrites its accounts' rows (balance, count, head). Pages kept this
        # full leave room for the new version beside the old one: a HOT update, no index
        # entries written (docs/ledger.md, "Evening of 2026-12-07"). Migration 0016.
        {"postgresql_with": {"fillfactor": ACCOUNT_FILLFACTOR}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unit: Mapped[str] = mapped_column(String(16))
    holder_type: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(16))
    shard: Mapped[int] = mapped_column(SmallInteger, default=0)
    overdraft: Mapped[str] = mapped_column(String(16))
    # Balances in the unit's smallest step. Positive posting amounts increase a balance.
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_out: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_in: Mapped[int] = mapped_column(BigInteger, default=0)
    posting_count: Mapped[int] = mapped_column(BigInteger, default=0)
    head_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def available(self) -> int:
        return self.balance - self.pending_out


class JournalEntry(Base):
    __tablename__ = "journal_entry"
    __table_args__ = (Index("ix_journal_entry_source", "source", "source_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unit: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # A reversing entry names the one it reverses; an entry is reversed at most once.
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("journal_entry.id"), unique=True, default=None)
    memo: Mapped[str] = mapped_column(String(500), default="")
    # What caused it: ("checkin", "123"), ("inspection", "9"), ("hold", "77"), ("admin", "…").
    source: Mapped[str] = mapped_column(String(32), default="")
    source_ref: Mapped[str] = mapped_column(String(64), default="")
    actor_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Explanation: rule item and version, inputs, caps consumed, multiplier, evidence.
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    digest: Mapped[str] = mapped_column(String(64))


class Posting(Base):
    __tablename__ = "posting"
    __table_args__ = (
        UniqueConstraint("account_id", "seq", name="uq_posting_account_seq"),
        Index("ix_posting_account_time", "account_id", "created_at"),
        CheckConstraint("amount <> 0", name="nonzero"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entry.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)  # position in the account's chain, from 1
    balance_after: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Hold(Base):
    """A two-phase transfer: reserved now (pending on both accounts), then posted or voided."""

    __tablename__ = "hold"
    __table_args__ = (
        Index("ix_hold_status_expires", "status", "expires_at"),
        CheckConstraint("amount > 0", name="positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unit: Mapped[str] = mapped_column(String(16))
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default=HoldStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"), default=None)
    memo: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(32), default="")
    source_ref: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)


class IdempotencyRecord(Base):
    """The first result of every keyed write; a retry gets it back, a changed body is refused."""

    __tablename__ = "idempotency_record"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(SmallInteger, default=200)
    result: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Checkpoint(Base):
    """A root hash over the heads of all accounts changed since the previous checkpoint,
    chained to that checkpoint's root; a later edit of anything before it is provable."""

    __tablename__ = "checkpoint"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_root: Mapped[str] = mapped_column(String(64))
    root: Mapped[str] = mapped_column(String(64))
    accounts_changed: Mapped[int] = mapped_column(BigInteger)


class CheckpointHead(Base):
    __tablename__ = "checkpoint_head"

    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoint.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    posting_count: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))
