"""Tables of courtesy benefits: what a town offers at which star level, and each pass issued
(its unguessable code is what the QR carries) and used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base
from ledger.journal.models import BigId
from ledger.timeutil import UTCDateTime


class Benefit(Base):
    __tablename__ = "courtesy_benefit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(12))  # screening | discount | bonus
    partner: Mapped[str] = mapped_column(String(100), default="")
    min_stars: Mapped[int] = mapped_column(Integer)
    uses_per_year: Mapped[int] = mapped_column(Integer)
    once_ever: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Pass(Base):
    __tablename__ = "courtesy_pass"
    __table_args__ = (Index("ix_courtesy_pass_holder", "benefit_id", "person_id", "year"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    benefit_id: Mapped[int] = mapped_column(ForeignKey("courtesy_benefit.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    stars_at_issue: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    used_by: Mapped[int | None] = mapped_column(BigInteger, default=None)


__all__ = ["Benefit", "Pass"]
