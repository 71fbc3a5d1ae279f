"""Tables of the volunteer fund: donors and their donations (each donation names the journal
entry that booked it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base
from ledger.journal.models import BigId
from ledger.timeutil import UTCDateTime


class Donor(Base):
    __tablename__ = "fund_donor"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(12))  # business | group | person
    thank_publicly: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Donation(Base):
    __tablename__ = "fund_donation"
    __table_args__ = (CheckConstraint("value_fen > 0", name="value_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("fund_donor.id"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("village.id"))  # the budget it funds
    value_fen: Mapped[int] = mapped_column(BigInteger)  # the stated value, in fen (分)
    points_steps: Mapped[int] = mapped_column(BigInteger)  # what it put in the budget
    entry_id: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(String(200), default="")
    recorded_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


__all__ = ["Donation", "Donor"]
