"""Tables of recognition: per-holder per-period rollups of the journal, veto marks, star
configuration, star status and its history, honor list definitions and lists."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base
from ledger.journal.models import BigId
from ledger.timeutil import UTCDateTime


class HolderRollup(Base):
    """What one holder's account gained and lost in one period (local month or year), kept
    current by every commit that posts to it and rebuildable from the journal. `net` is the
    score: awards minus deductions, reversals included, spending (redeem, expire) excluded."""

    __tablename__ = "holder_rollup"
    __table_args__ = (
        Index("ix_holder_rollup_rank", "unit", "holder_type", "period_key", "net"),
        Index("ix_holder_rollup_village_rank", "unit", "holder_type", "period_key", "village_id",
              "net"),
        Index("ix_holder_rollup_holder", "holder_type", "holder_id"),
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    period_key: Mapped[str] = mapped_column(String(16), primary_key=True)
    unit: Mapped[str] = mapped_column(String(16))
    holder_type: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[int] = mapped_column(BigInteger)
    village_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    town_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    gained: Mapped[int] = mapped_column(BigInteger, default=0)
    lost: Mapped[int] = mapped_column(BigInteger, default=0)
    net: Mapped[int] = mapped_column(BigInteger, default=0)
    postings: Mapped[int] = mapped_column(Integer, default=0)


class RollupProgress(Base):
    """How far each holder account's postings (by their gapless per-account `seq`) are in the
    rollups. Committed postings of an account always form a prefix 1..n of its sequence, so
    "apply seq > applied_seq" never skips nor repeats one."""

    __tablename__ = "rollup_progress"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    applied_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class RollupCursor(Base):
    """The highest posting id the tailer has looked at: only a hint of where to look next
    (exactness comes from RollupProgress)."""

    __tablename__ = "rollup_cursor"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_posting_id: Mapped[int] = mapped_column(BigInteger, default=0)


class DeductionMark(Base):
    """A deduction that named a rule item (kept for veto checks: 一票否决), and its reversal."""

    __tablename__ = "deduction_mark"
    __table_args__ = (Index("ix_deduction_mark_holder", "holder_type", "holder_id", "created_at"),)

    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entry.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    holder_type: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[int] = mapped_column(BigInteger)
    item_code: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reversed_by: Mapped[int | None] = mapped_column(BigInteger, default=None)


class StarKind(StrEnum):
    VOLUNTEER = "volunteer"  # a person's certified service hours, lifetime
    HOUSEHOLD = "household"  # 星级文明户: a household's civility score in a period
    TEAM = "team"  # a team's collective services in a year


class StarConfig(Base):
    """A town's thresholds for one kind of stars; each change is a new version."""

    __tablename__ = "star_config"
    __table_args__ = (UniqueConstraint("town_id", "kind", "version", name="uq_star_config_ver"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    town_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    # thresholds: 5 ascending values (minutes / points steps / services) for 1..5 stars;
    # period: the household assessment period; veto: {item code: highest stars allowed}.
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(BigInteger, default=None)


class StarStatus(Base):
    """The stars a holder has now (volunteers: period 'ever'; households and teams: per
    period). Changed only together with a StarChange row."""

    __tablename__ = "star_status"
    __table_args__ = (CheckConstraint("level BETWEEN 0 AND 5", name="level_range"),)

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    holder_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    period_key: Mapped[str] = mapped_column(String(16), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger)
    value: Mapped[int] = mapped_column(BigInteger)
    capped_by: Mapped[str | None] = mapped_column(String(64), default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StarChange(Base):
    """Every change of a holder's stars: when, from what to what, the figure and the cause."""

    __tablename__ = "star_change"
    __table_args__ = (Index("ix_star_change_holder", "kind", "holder_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[int] = mapped_column(BigInteger)
    period_key: Mapped[str] = mapped_column(String(16))
    old_level: Mapped[int] = mapped_column(SmallInteger)
    new_level: Mapped[int] = mapped_column(SmallInteger)
    value: Mapped[int] = mapped_column(BigInteger)
    # service_minutes | civility_score | veto | collective_services | thresholds | recompute
    cause: Mapped[str] = mapped_column(String(32))
    cause_ref: Mapped[str] = mapped_column(String(200), default="")
    config_version: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[str] = mapped_column(String(32), default="", index=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HonorStatus(StrEnum):
    COMPUTING = "computing"
    DRAFT = "draft"
    REVIEW = "review"
    NOTICE = "notice"  # reviewed, shown to the public for objections before publication
    PUBLISHED = "published"
    SUPERSEDED = "superseded"  # a draft replaced by a newer draft of the same period


class HonorDefinition(Base):
    __tablename__ = "honor_definition"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(12))  # town | village | team
    scope_id: Mapped[int] = mapped_column(BigInteger)  # town, village or team id
    period: Mapped[str] = mapped_column(String(12))  # month | quarter | year | custom
    metric: Mapped[str] = mapped_column(String(24))
    size: Mapped[int] = mapped_column(Integer)
    minimum: Mapped[int] = mapped_column(BigInteger, default=1)
    tie_break: Mapped[str] = mapped_column(String(16), default="shared")
    mask_names: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class HonorList(Base):
    """One computation of a definition for one period. A published list is frozen: its
    content, the sha256 of that content and the ledger checkpoint it was published under."""

    __tablename__ = "honor_list"
    __table_args__ = (
        UniqueConstraint("definition_id", "period_key", "version", name="uq_honor_list_ver"),
        Index("ix_honor_list_status", "status", "published_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("honor_definition.id"), index=True)
    period_key: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # exclusive
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    requested_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    candidates: Mapped[list | None] = mapped_column(JSON, default=None)
    exclusions: Mapped[list] = mapped_column(JSON, default=list)
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    published_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    content: Mapped[dict | None] = mapped_column(JSON, default=None)
    content_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    checkpoint_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    checkpoint_root: Mapped[str | None] = mapped_column(String(64), default=None)
    notice_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class HonorObjection(Base):
    """An objection raised while an honor list is on public notice (公示), about the list or
    one person on it; decided by an admin before the list is published."""

    __tablename__ = "honor_objection"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("honor_list.id"), index=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    holder_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)  # upheld | dismissed
    decided_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    decision_note: Mapped[str] = mapped_column(String(500), default="")


__all__ = ["HolderRollup", "RollupProgress", "RollupCursor", "DeductionMark", "StarKind",
           "StarConfig", "StarStatus", "StarChange",
           "HonorStatus", "HonorDefinition", "HonorList", "HonorObjection"]
