"""Tables of the rule engine: catalogs and their versions, categories and item versions, the
per-holder counters behind caps, award records (with their workflow state), objections raised
during public notice, appeals, and sanctions."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
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


class AwardStatus(StrEnum):
    CLAIMED = "claimed"  # a resident's claim (申报), waiting for verification
    VERIFIED = "verified"  # verified, waiting for approval
    PENDING_REVIEW = "pending_review"  # the item needs a reviewer's approval
    AWAITING_CONFIRMATION = "awaiting_confirmation"  # a large deduction needs a second person
    ON_NOTICE = "on_notice"  # 公示: counted against caps, not yet in the balance
    IN_REVIEW = "in_review"  # an objection sent it back to review
    POSTED = "posted"
    REJECTED = "rejected"
    REVERSED = "reversed"  # an appeal was upheld


PRE_COMMIT = (AwardStatus.CLAIMED, AwardStatus.VERIFIED, AwardStatus.PENDING_REVIEW,
              AwardStatus.AWAITING_CONFIRMATION)


class RuleCatalog(Base):
    __tablename__ = "rule_catalog"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    town_id: Mapped[int] = mapped_column(BigInteger, default=1)
    name: Mapped[str] = mapped_column(String(100))
    current_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CatalogVersion(Base):
    """One approved state of a catalog; the whole file's canonical form is kept."""

    __tablename__ = "rule_catalog_version"
    __table_args__ = (UniqueConstraint("catalog_id", "version", name="uq_rule_catalog_version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    catalog_id: Mapped[int] = mapped_column(ForeignKey("rule_catalog.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    spec: Mapped[dict] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(64))
    item_versions: Mapped[dict] = mapped_column(JSON)  # item code → item version
    approved_by: Mapped[str] = mapped_column(String(100), default="")
    decision: Mapped[str] = mapped_column(String(100), default="")
    approved_on: Mapped[date | None] = mapped_column(Date, default=None)
    loaded_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RuleCategory(Base):
    __tablename__ = "rule_category"
    __table_args__ = (UniqueConstraint("catalog_version_id", "code", name="uq_rule_category"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    catalog_version_id: Mapped[int] = mapped_column(ForeignKey("rule_catalog_version.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(SmallInteger)


class RuleItem(Base):
    """One version of an item. Editing an item in a new catalog version makes a new row;
    awards keep pointing at the version they used."""

    __tablename__ = "rule_item"
    __table_args__ = (UniqueConstraint("catalog_id", "code", "version", name="uq_rule_item"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    catalog_id: Mapped[int] = mapped_column(ForeignKey("rule_catalog.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    category_code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    spec: Mapped[dict] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(64))
    first_catalog_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RuleCounter(Base):
    """How much a holder has used of one scope (item, category, catalog, activity) in one
    period. Awards lock these rows before deciding, so two racing awards see each other."""

    __tablename__ = "rule_counter"
    __table_args__ = (UniqueConstraint("holder_type", "holder_id", "scope", "period",
                                       name="uq_rule_counter"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    holder_type: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[int] = mapped_column(BigInteger)
    scope: Mapped[str] = mapped_column(String(120))
    period: Mapped[str] = mapped_column(String(24))
    award_steps: Mapped[int] = mapped_column(BigInteger, default=0)
    deduct_steps: Mapped[int] = mapped_column(BigInteger, default=0)
    times: Mapped[int] = mapped_column(BigInteger, default=0)
    minutes: Mapped[int] = mapped_column(BigInteger, default=0)


class AwardRecord(Base):
    """One deed under one item: who recorded it and why, the decision, its workflow state and
    the entries it posted. The explanation of every rule entry starts here."""

    __tablename__ = "rule_award"
    __table_args__ = (Index("ix_rule_award_status_notice", "status", "notice_until"),
                      Index("ix_rule_award_village_status", "village_id", "status"),
                      Index("ix_rule_award_holder", "holder_type", "holder_id"),
                      Index("ix_rule_award_recorder", "recorder_id", "created_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    catalog_code: Mapped[str] = mapped_column(String(32))
    catalog_version: Mapped[int] = mapped_column(Integer)
    item_code: Mapped[str] = mapped_column(String(32))
    item_version: Mapped[int] = mapped_column(Integer)
    item_name: Mapped[str] = mapped_column(String(100))
    village_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    holder_type: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[int] = mapped_column(BigInteger)
    sign: Mapped[int] = mapped_column(SmallInteger)
    amount_steps: Mapped[int] = mapped_column(BigInteger, default=0)  # the holder's, signed
    minutes: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(16))
    recorder_id: Mapped[int] = mapped_column(BigInteger)
    confirmer_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    verifier_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    approver_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reviewer_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    actors: Mapped[dict] = mapped_column(JSON, default=dict)  # snapshots: role → actor
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    notice_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    inputs: Mapped[dict] = mapped_column(JSON, default=dict)
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    decision: Mapped[dict] = mapped_column(JSON, default=dict)  # the engine's explanation
    credits: Mapped[list] = mapped_column(JSON, default=list)  # holders, steps, holds, counters
    entry_ids: Mapped[list] = mapped_column(JSON, default=list)  # every entry it posted
    entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)  # its points entry
    minutes_entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    note: Mapped[str] = mapped_column(String(500), default="")


class Objection(Base):
    """An objection raised while an award is on public notice (公示)."""

    __tablename__ = "rule_objection"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("rule_award.id"), index=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)  # upheld | dismissed
    decided_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Appeal(Base):
    """A holder's appeal (申诉) of a deduction; one per deduction."""

    __tablename__ = "rule_appeal"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("rule_award.id"), unique=True)
    appellant_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | upheld | rejected
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    decision_note: Mapped[str] = mapped_column(String(500), default="")
    reversal_entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)


class Sanction(Base):
    """A bar on redemption for a period, imposed by a sanction item."""

    __tablename__ = "rule_sanction"
    __table_args__ = (Index("ix_rule_sanction_holder", "holder_type", "holder_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    holder_type: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[int] = mapped_column(BigInteger)
    award_id: Mapped[int] = mapped_column(ForeignKey("rule_award.id"))
    kind: Mapped[str] = mapped_column(String(24), default="bar_redemption")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class StandingChange(Base):
    """A holder entering or leaving a state of standing (benefits suspended, registration
    cancelled, barred, banned): who (`actor_id`; None = computed by the rules), why (`reason`,
    `cause` such as `award:12` or `balance`), when (`at`) and until when (`until`)."""

    __tablename__ = "standing_change"
    __table_args__ = (Index("ix_standing_change_holder", "holder_type", "holder_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    holder_type: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(32))
    change: Mapped[str] = mapped_column(String(8))  # entered | left
    reason: Mapped[str] = mapped_column(String(500), default="")
    cause: Mapped[str] = mapped_column(String(64), default="")
    effects: Mapped[list] = mapped_column(JSON, default=list)
    actor_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class LevelChange(Base):
    """A holder's level under a catalog's `levels:` moving up or down (`up`, `down`), or an
    admin selecting or deselecting it for a level that asks for a selection (`selected`,
    `deselected`): who (`actor_id`; None = the rules), why, when (ledger/rules/levels.py)."""

    __tablename__ = "level_change"
    __table_args__ = (Index("ix_level_change_holder", "holder_type", "holder_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    holder_type: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[int] = mapped_column(BigInteger)
    catalog: Mapped[str] = mapped_column(String(32))
    change: Mapped[str] = mapped_column(String(12))  # up | down | selected | deselected
    level: Mapped[str | None] = mapped_column(String(32), default=None)  # None: no level
    rank: Mapped[int] = mapped_column(Integer, default=0)  # 0: none; 1: the lowest level
    reason: Mapped[str] = mapped_column(String(500), default="")
    actor_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
