"""Tables of the practice network. A station *is* a registry village (kind village, community,
institute or point: ledger/registry/models.Village); these tables add what a place publishes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base
from ledger.journal.models import BigId
from ledger.timeutil import UTCDateTime


class StationProfile(Base):
    """What a station shows the public: address, opening hours, function rooms."""

    __tablename__ = "station_profile"

    village_id: Mapped[int] = mapped_column(ForeignKey("village.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    opening_hours: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    rooms: Mapped[list] = mapped_column(JSON, default=list)  # function rooms (功能室), names
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[int | None] = mapped_column(BigInteger, default=None)


class StationLiaison(Base):
    """A town leader who is a station's liaison (挂钩联系); a station has several."""

    __tablename__ = "station_liaison"
    __table_args__ = (UniqueConstraint("village_id", "name", name="uq_station_liaison"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("village.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(100), default="")  # e.g. 镇党委委员
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StationPlan(Base):
    """A station's published plan for one month (公示每月活动计划): the month's theme, the
    concentrated activity day, and the planned activities as lines."""

    __tablename__ = "station_plan"
    __table_args__ = (UniqueConstraint("village_id", "month", name="uq_station_plan_month"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("village.id"), index=True)
    month: Mapped[date] = mapped_column(Date)  # the first of the month
    theme: Mapped[str] = mapped_column(String(50))
    activity_day: Mapped[date] = mapped_column(Date)  # the 5th, unless moved
    lines: Mapped[list] = mapped_column(JSON, default=list)  # [{"day": 5, "title": …, "place": …}]
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_by: Mapped[int | None] = mapped_column(BigInteger, default=None)


__all__ = ["StationLiaison", "StationPlan", "StationProfile"]
