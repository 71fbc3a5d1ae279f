"""Registry tables. Holders of points are people, households and teams; their ledger accounts
are keyed by (holder_type, holder_id) with these ids."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base
from ledger.journal.models import BigId
from ledger.timeutil import UTCDateTime


class Town(Base):
    __tablename__ = "town"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    city: Mapped[str] = mapped_column(String(100), default="")
    prefecture: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Village(Base):
    """A village (村) or community (社区) station, or the town's practice institute (所) or a
    practice point (点): every unit that can hold a budget and run activities."""

    __tablename__ = "village"
    __table_args__ = (UniqueConstraint("town_id", "name", name="uq_village_town_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # village | community | institute | point
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Household(Base):
    __tablename__ = "household"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("village.id"), index=True)
    # Permanent, unguessable door-plate code (二维码门牌); the plate's QR links to its page.
    plate_code: Mapped[str] = mapped_column(String(32), unique=True)
    head_name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Person(Base):
    __tablename__ = "person"
    __table_args__ = (Index("ix_person_phone", "phone"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("village.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id"), index=True,
                                                     default=None)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20), default=None)
    id_number: Mapped[str | None] = mapped_column(String(18), unique=True, default=None)
    is_volunteer: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # No longer a resident: "deceased" or "moved_away" (kept, with their history), else None.
    left: Mapped[str | None] = mapped_column(String(16), default=None)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Team(Base):
    """A volunteer team: one of the seven standing kinds, an emergency kind, or custom."""

    __tablename__ = "team"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("village.id"), default=None)
    kind: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(100))
    standing: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TeamMember(Base):
    __tablename__ = "team_member"

    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    is_leader: Mapped[bool] = mapped_column(Boolean, default=False)


__all__ = ["BigInteger", "Household", "Person", "Team", "TeamMember", "Town", "Village"]
