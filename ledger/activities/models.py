"""Tables of activities: the activity, sign-ups with a waiting list, attendances (one per person
per activity), door-plate inspections and issued service-record certificates."""

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
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base
from ledger.journal.models import BigId
from ledger.timeutil import UTCDateTime


class ActivityStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class ForgottenPolicy(StrEnum):
    """What the sweep does with a volunteer who checked in and never checked out."""

    CREDIT_UNTIL_END = "credit_until_end"  # as if they left at the scheduled end
    CREDIT_NOTHING = "credit_nothing"  # no minutes, no points
    ORGANIZER_DECIDES = "organizer_decides"  # waits for the organizer to set a time or reject


class SignupStatus(StrEnum):
    SIGNED_UP = "signed_up"
    WAITING = "waiting"
    WITHDRAWN = "withdrawn"


class AttendanceSource(StrEnum):
    SCANNED = "scanned"
    ORGANIZER_ADDED = "organizer_added"
    SELF_REPORTED = "self_reported"
    IMPORTED = "imported"


class AttendanceState(StrEnum):
    CHECKED_IN = "checked_in"
    CHECKED_OUT = "checked_out"
    FORGOTTEN = "forgotten"  # never checked out; the activity's policy was applied


class Review(StrEnum):
    NOT_NEEDED = "not_needed"  # certified at check-out (the activity needs no confirmation)
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


CERTIFIED_REVIEWS = (Review.NOT_NEEDED, Review.CONFIRMED)


class PointsState(StrEnum):
    NONE = "none"  # not yet due (still checked in, or waiting for confirmation)
    DUE = "due"  # due now; a crash between check-out and award leaves it here for the retry
    AWARDED = "awarded"
    REFUSED = "refused"  # the rule engine refused (cap reached, budget spent …): see result
    NOT_APPLICABLE = "not_applicable"  # rejected, or nothing credited
    REVERSED = "reversed"


class Activity(Base):
    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_village_starts", "village_id", "starts_at"),
        Index("ix_activity_sweep", "status", "ends_at"),
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("town.id"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("village.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), default=None)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    rule_item_code: Mapped[str] = mapped_column(String(64))
    organizer_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    place: Mapped[str] = mapped_column(String(200), default="")
    # Geofence in micro-degrees (WGS-84) and metres; all three or none.
    geo_lat_e6: Mapped[int | None] = mapped_column(Integer, default=None)
    geo_lon_e6: Mapped[int | None] = mapped_column(Integer, default=None)
    geo_radius_m: Mapped[int | None] = mapped_column(Integer, default=None)
    capacity: Mapped[int | None] = mapped_column(Integer, default=None)
    status: Mapped[str] = mapped_column(String(12), default=ActivityStatus.DRAFT)
    theme: Mapped[str | None] = mapped_column(String(50), default=None)  # 一月一主题
    walk_ins_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    needs_confirmation: Mapped[bool] = mapped_column(Boolean, default=False)
    forgotten_policy: Mapped[str] = mapped_column(String(20),
                                                  default=ForgottenPolicy.CREDIT_NOTHING)
    rotate_s: Mapped[int] = mapped_column(Integer, default=15)
    static_version: Mapped[int] = mapped_column(Integer, default=1)
    # Credited minutes are floored to this step, and capped (None: the window's length).
    rounding_step_min: Mapped[int] = mapped_column(Integer, default=1)
    max_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int] = mapped_column(BigInteger)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    swept_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Signup(Base):
    __tablename__ = "activity_signup"
    __table_args__ = (
        UniqueConstraint("activity_id", "person_id", name="uq_signup_activity_person"),
        Index("ix_signup_activity_status", "activity_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Attendance(Base):
    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("activity_id", "person_id", name="uq_attendance_activity_person"),
        Index("ix_attendance_activity_state", "activity_id", "state"),
        CheckConstraint("counted_minutes IS NULL OR counted_minutes >= 0", name="minutes_nonneg"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    source: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(12))
    review: Mapped[str] = mapped_column(String(12))
    walk_in: Mapped[bool] = mapped_column(Boolean, default=False)
    check_in_at: Mapped[datetime] = mapped_column(UTCDateTime())
    check_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # How each end was recorded: "r"/"s" (rotating/static code), "organizer", "sweep", "reject",
    # or the attendance's source for records made by hand.
    in_method: Mapped[str] = mapped_column(String(20), default="")
    out_method: Mapped[str] = mapped_column(String(20), default="")
    in_ip: Mapped[str] = mapped_column(String(64), default="")
    out_ip: Mapped[str] = mapped_column(String(64), default="")
    in_geo: Mapped[dict | None] = mapped_column(JSON, default=None)
    out_geo: Mapped[dict | None] = mapped_column(JSON, default=None)
    counted_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    # Journal entries of the minutes: booked pending (or certified at once), then certified,
    # or sent back; and the rule engine's award.
    minutes_entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    certify_entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    undo_entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    points_state: Mapped[str] = mapped_column(String(16), default=PointsState.NONE)
    points_result: Mapped[dict | None] = mapped_column(JSON, default=None)
    note: Mapped[str] = mapped_column(String(500), default="")
    added_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    reject_reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Inspection(Base):
    """An inspector's finding at a household's door plate, awarded through the rule engine."""

    __tablename__ = "inspection"
    __table_args__ = (Index("ix_inspection_household_time", "household_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"))
    village_id: Mapped[int] = mapped_column(ForeignKey("village.id"), index=True)
    inspector_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    item_code: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(500), default="")
    photo_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    request_key: Mapped[str] = mapped_column(String(220), unique=True)
    award: Mapped[dict | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Certificate(Base):
    """A 志愿服务记录证明 as issued: its figures are frozen, its code opens the public check."""

    __tablename__ = "service_certificate"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    minutes_total: Mapped[int] = mapped_column(BigInteger)
    activities_count: Mapped[int] = mapped_column(Integer)
    issuer: Mapped[str] = mapped_column(String(200))
    issuer_village_id: Mapped[int | None] = mapped_column(ForeignKey("village.id"), default=None)
    issued_by: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lines: Mapped[list] = mapped_column(JSON)  # per activity: date, title, minutes, attendance
    content_sha256: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_reason: Mapped[str] = mapped_column(String(500), default="")


__all__ = ["Activity", "Signup", "Attendance", "Inspection", "Certificate", "ActivityStatus",
           "ForgottenPolicy", "SignupStatus", "AttendanceSource", "AttendanceState", "Review",
           "PointsState", "CERTIFIED_REVIEWS"]
