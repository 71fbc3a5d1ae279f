"""Tables of redemption: providers and their clerks, rewards with stock, orders, vouchers,
per-holder counters for limits, and lucky draws with their recorded population and winners.

Stock and limits are counters guarded in the database (one conditional UPDATE each), so no
amount of parallel requests can oversell a reward or pass a holder's limit. The points side of
an order is a two-phase hold in the journal; the voucher is the claim on it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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
from ledger.journal.models import BigId
from ledger.timeutil import UTCDateTime


class ProviderKind(StrEnum):
    SHOP = "shop"  # a village points shop (积分超市)
    CINEMA = "cinema"  # film screenings (观影回馈)
    PARTNER = "partner"  # a merchant or service partner


class RewardKind(StrEnum):
    FILM_TICKET = "film_ticket"
    GIFT = "gift"
    GOODS = "goods"
    SERVICE = "service"


class HolderKinds(StrEnum):
    """Who may redeem a reward: people from their own points, households from theirs, or both."""

    ANY = "any"
    PERSON = "person"
    HOUSEHOLD = "household"


class VoucherStatus(StrEnum):
    ISSUED = "issued"
    USED = "used"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class FundedBy(StrEnum):
    HOLDER = "holder"  # the holder's own points
    DRAW = "draw"  # a lucky draw: the town's funding account pays


class DrawStatus(StrEnum):
    DRAFT = "draft"
    DRAWN = "drawn"


class Provider(Base):
    """A shop or partner that hands rewards over and is settled for the points redeemed there.
    Its ledger account is (holder_type "provider", holder id, purpose "redeemed")."""

    __tablename__ = "provider"
    __table_args__ = (UniqueConstraint("town_id", "name", name="uq_provider_town_name"),
                      CheckConstraint("fen_per_point >= 0", name="fen_nonneg"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("village.id"), default=None)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    # Settlement value of one point in fen (分); 100 = one yuan per point.
    fen_per_point: Mapped[int] = mapped_column(Integer, default=100)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProviderClerk(Base):
    """A clerk (a user with the clerk role) works at exactly one provider's counter."""

    __tablename__ = "provider_clerk"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assigned_by: Mapped[int | None] = mapped_column(BigInteger, default=None)


class Reward(Base):
    __tablename__ = "reward"
    __table_args__ = (
        CheckConstraint("cost_points > 0", name="cost_positive"),
        CheckConstraint("reserved >= 0 AND issued >= 0", name="counts_nonneg"),
        CheckConstraint("stock IS NULL OR reserved + issued <= stock", name="no_oversell"),
        CheckConstraint("min_star_level BETWEEN 0 AND 5", name="star_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000), default="")
    kind: Mapped[str] = mapped_column(String(16))
    cost_points: Mapped[int] = mapped_column(BigInteger)
    # Units ever made available (NULL: unlimited); `reserved` are held by open vouchers,
    # `issued` handed over. Available = stock - reserved - issued.
    stock: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    issued: Mapped[int] = mapped_column(BigInteger, default=0)
    limit_per_month: Mapped[int | None] = mapped_column(Integer, default=None)
    limit_per_year: Mapped[int | None] = mapped_column(Integer, default=None)
    min_star_level: Mapped[int] = mapped_column(SmallInteger, default=0)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("village.id"), default=None)
    holder_kinds: Mapped[str] = mapped_column(String(16), default=HolderKinds.ANY)
    available_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    available_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    voucher_ttl_s: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RedemptionOrder(Base):
    """What was redeemed, by whom, for how many points, held by which journal hold."""

    __tablename__ = "redemption_order"
    __table_args__ = (
        Index("ix_redemption_order_holder", "holder_type", "holder_id", "created_at"),
        CheckConstraint("quantity > 0 AND amount_points >= 0", name="positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    holder_type: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_cost_points: Mapped[int] = mapped_column(BigInteger)
    amount_points: Mapped[int] = mapped_column(BigInteger)
    funded_by: Mapped[str] = mapped_column(String(8), default=FundedBy.HOLDER)
    draw_id: Mapped[int | None] = mapped_column(ForeignKey("lucky_draw.id"), default=None)
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("hold.id"), default=None)
    # The local month ("2026-05") and year ("2026") whose limit counters this order used.
    month: Mapped[str] = mapped_column(String(7))
    year: Mapped[str] = mapped_column(String(4))
    placed_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Voucher(Base):
    """The one-time claim on an order. Its state changes by conditional UPDATEs only."""

    __tablename__ = "voucher"
    __table_args__ = (Index("ix_voucher_status_expires", "status", "expires_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("redemption_order.id"), unique=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=VoucherStatus.ISSUED)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolved_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"), default=None)


class RedemptionCounter(Base):
    """Units a holder has redeemed of a reward in a period ("2026-05" or "2026"), for limits.
    Cancelled and expired orders give their units back."""

    __tablename__ = "redemption_counter"
    __table_args__ = (CheckConstraint("used >= 0", name="used_nonneg"),)

    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id"), primary_key=True)
    holder_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    holder_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger, default=0)


class LuckyDraw(Base):
    """A draw of winners from an eligible population, reproducible from its recorded seed:
    each candidate's ticket is sha256("{seed}:{holder_type}:{holder_id}"), lowest tickets win."""

    __tablename__ = "lucky_draw"
    __table_args__ = (CheckConstraint("winners_count > 0", name="winners_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id"))
    winners_count: Mapped[int] = mapped_column(Integer)
    population: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8), default=DrawStatus.DRAFT)
    seed: Mapped[str | None] = mapped_column(String(128), default=None)
    population_size: Mapped[int | None] = mapped_column(Integer, default=None)
    population_digest: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    drawn_by: Mapped[int | None] = mapped_column(BigInteger, default=None)


class LuckyDrawCandidate(Base):
    """The population as it stood when the draw ran, with each candidate's ticket."""

    __tablename__ = "lucky_draw_candidate"

    draw_id: Mapped[int] = mapped_column(ForeignKey("lucky_draw.id"), primary_key=True)
    holder_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    holder_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket: Mapped[str] = mapped_column(String(64))


class LuckyDrawWinner(Base):
    __tablename__ = "lucky_draw_winner"
    __table_args__ = (UniqueConstraint("draw_id", "holder_type", "holder_id",
                                       name="uq_lucky_draw_winner_holder"),)

    draw_id: Mapped[int] = mapped_column(ForeignKey("lucky_draw.id"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder_type: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int] = mapped_column(ForeignKey("redemption_order.id"), unique=True)
