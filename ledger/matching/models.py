"""Tables of 四单 matching: the service menu, who can do what (skills), service orders and the
journal of their state changes."""

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
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base
from ledger.journal.models import BigId
from ledger.timeutil import UTCDateTime


class OrderStatus(StrEnum):
    PLACED = "placed"  # 点单: waiting for the station to dispatch
    DISPATCHED = "dispatched"  # 派单: waiting for the team or volunteer to accept
    ACCEPTED = "accepted"  # 接单: the service's check-in is open
    SERVING = "serving"  # checked in at the household
    DONE = "done"  # checked out: waiting for the rating
    RATED = "rated"  # 评单
    CANCELLED = "cancelled"


OPEN_STATUSES = (OrderStatus.PLACED, OrderStatus.DISPATCHED, OrderStatus.ACCEPTED,
                 OrderStatus.SERVING)


class Channel(StrEnum):
    SELF = "self"  # the resident on their phone
    PHONE = "phone"  # a staff member took a phone call
    COUNTER = "counter"  # at the station, entered by a staff member


class MenuItem(Base):
    """One service a station offers (家电维修, 爱心理发 …); its rule item decides the points."""

    __tablename__ = "service_menu_item"
    __table_args__ = (UniqueConstraint("town_id", "code", name="uq_service_menu_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(50))
    rule_item_code: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Skill(Base):
    """A team or a volunteer who can do a menu service (派单 offers them for it)."""

    __tablename__ = "service_skill"
    __table_args__ = (
        UniqueConstraint("service_code", "holder_type", "holder_id", name="uq_service_skill"),
        CheckConstraint("holder_type IN ('team', 'person')", name="holder_type_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"), index=True)
    service_code: Mapped[str] = mapped_column(String(32))
    holder_type: Mapped[str] = mapped_column(String(10))
    holder_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ServiceOrder(Base):
    __tablename__ = "service_order"
    __table_args__ = (
        Index("ix_service_order_village_created", "village_id", "created_at"),
        Index("ix_service_order_status_due", "status", "accept_due_at"),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_range"),
        CheckConstraint("NOT (assignee_team_id IS NOT NULL AND assignee_person_id IS NOT NULL)",
                        name="one_assignee"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("village.id"))  # the station
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), default=None)
    service_code: Mapped[str | None] = mapped_column(String(32), default=None)  # None: free text
    need: Mapped[str] = mapped_column(String(500))
    preferred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(String(10))
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    photos: Mapped[list] = mapped_column(JSON, default=list)  # sha256 of uploaded photos
    status: Mapped[str] = mapped_column(String(12), default=OrderStatus.PLACED)
    assignee_team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), default=None)
    assignee_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"),
                                                           default=None)
    accept_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # 0: none; 1: back with the station (declined or not accepted in time); 2: with the town.
    escalation: Mapped[int] = mapped_column(Integer, default=0)
    escalate_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    accepted_by_person_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activity.id"), default=None)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    rating: Mapped[int | None] = mapped_column(Integer, default=None)
    rating_comment: Mapped[str] = mapped_column(String(500), default="")
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OrderEvent(Base):
    """One state change of an order: who, when, why. Append-only."""

    __tablename__ = "service_order_event"
    __table_args__ = (Index("ix_service_order_event_order", "order_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"))
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(12), default=None)
    to_status: Mapped[str] = mapped_column(String(12))
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    actor_person_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reason: Mapped[str] = mapped_column(String(500), default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


__all__ = ["Channel", "MenuItem", "OPEN_STATUSES", "OrderEvent", "OrderStatus", "ServiceOrder",
           "Skill"]
