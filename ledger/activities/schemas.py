"""Activities' answers as types (activities, attendances, sign-ups, imports, service minutes,
certificates), so the API's schema documents each body and a view that drifts from its type
fails at the boundary (`ledger.view.typed`), not in a client. Every check-in path (a scan, a
confirmation, an organizer's addition, a claim) answers one `AttendanceResult`."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, UnsetType

from ledger.paging import Page
from ledger.view import View


class GeofenceView(View):
    lat: float
    lon: float
    radius_m: int


class ActivityView(View):
    """An activity; `my_signup` (the caller's sign-up status, or null) only when a volunteer
    reads it."""
    id: int
    town_id: int
    village_id: int
    team_id: int | None
    title: str
    description: str
    rule_item_code: str
    organizer_user_id: int | None
    starts_at: str
    ends_at: str
    place: str
    geofence: GeofenceView | None
    capacity: int | None
    status: str
    theme: str | None
    walk_ins_allowed: bool
    needs_confirmation: bool
    forgotten_policy: str
    rotate_s: int
    rounding_step_min: int
    max_minutes: int | None
    my_signup: str | None | UnsetType = UNSET


class AttendanceResult(View):
    """An attendance after a scan, a confirmation, a rejection, an addition or a claim:
    `minutes` and their status, and where its points stand (`points_state`, `points`)."""
    attendance_id: int
    activity_id: int
    activity_title: str
    person_id: int
    action: str | None
    repeated: bool
    state: str
    source: str
    review: str
    walk_in: bool
    check_in_at: str
    check_out_at: str | None
    minutes: int | None
    minutes_status: str | None
    points_state: str | None
    points: dict[str, Any] | None
    note: str
    reject_reason: str
    message: str


class AttendanceRow(AttendanceResult):
    """An attendance in an activity's list, with who added and reviewed it."""
    added_by: int | None
    reviewed_by: int | None
    reviewed_at: str | None


class Attendances(Page[AttendanceRow], kw_only=True, forbid_unknown_fields=True):
    """An activity's attendances, oldest first; `next_after_id` is `next_cursor`'s old name."""
    items: list[AttendanceRow]  # named again: the schema does not resolve an inherited T
    activity_id: int
    next_after_id: int | None = None


class SignupView(View):
    """A sign-up; `waiting_position` while on the waiting list, `promoted_person_id` (who
    took the seat given up) when withdrawing."""
    activity_id: int
    person_id: int
    status: str
    signed_up_at: str
    promoted_at: str | None
    waiting_position: int | UnsetType = UNSET
    promoted_person_id: int | None | UnsetType = UNSET


class Signups(Page[SignupView], kw_only=True, forbid_unknown_fields=True):
    """An activity's sign-ups (withdrawn ones left out), paged by person."""
    items: list[SignupView]  # named again: the schema does not resolve an inherited T
    activity_id: int
    capacity: int | None
    seats_taken: int


class SignupList(View):
    """An activity's sign-ups as its manager reads them (withdrawn ones left out, at most
    `signups.MAX_LIST_PAGE`), seated and waiting; the API pages it as `Signups`."""
    activity_id: int
    capacity: int | None
    seats_taken: int
    items: list[SignupView]


class OpenActivity(ActivityView, kw_only=True):
    """An open activity as a volunteer's sign-up list shows it: the seats taken and the
    reader's own sign-up (with the place in the waiting line), or null."""
    taken: int
    mine: SignupView | None


class AttendanceCounts(View):
    """How many have arrived at an activity (checked in, still there or gone) and how many
    have left."""
    arrived: int
    left: int


class OpenActivities(View):
    """A volunteer's sign-up list: the open activities, and village id → name for labels."""
    items: list[OpenActivity]
    villages: dict[int, str]


class ManagedActivity(View):
    """An organizer's page of one activity: its attendances (the first page of `review.list_attendances`),
    how many arrived and left, and person id → name of those listed."""
    activity: ActivityView
    attendances: list[AttendanceRow]
    counts: AttendanceCounts
    names: dict[int, str]


class SignupSheet(View):
    """An organizer's page of an activity's sign-ups: those seated and those waiting (in
    the listing's order), with person id → name."""
    activity: ActivityView
    listing: SignupList
    seated: list[SignupView]
    waiting: list[SignupView]
    names: dict[int, str]


class ActivityChoices(View):
    """What the new-activity form offers: (village id, name) where the actor may create one,
    and (item code, label) the engine will pay attendance with there."""
    villages: list[tuple[int, str]]
    items: list[tuple[str, str]]


class ImportRefusal(View):
    row: int  # 1-based, in the order sent
    code: str
    detail: str


class ImportResult(View):
    imported: int
    attendance_ids: list[int]
    refused: list[ImportRefusal]


class ServiceMinutes(View):
    """A volunteer's certified and pending service minutes."""
    person_id: int
    certified_minutes: int
    pending_minutes: int


class CertificateView(View):
    """A 志愿服务记录证明 as issued: its frozen figures and the URL its QR code prints."""
    code: str
    person_id: int
    name: str
    id_masked: str
    period_start: str
    period_end: str
    minutes_total: int
    hours: str
    activities_count: int
    issuer: str
    issued_at: str
    lines: list[dict[str, Any]]
    content_sha256: str
    verify_url: str


class CertificateCheck(View):
    """What anyone holding the paper may check: a masked name, no id number."""
    code: str
    valid: bool
    masked_name: str
    period_start: str
    period_end: str
    minutes_total: int
    hours: str
    activities_count: int
    issuer: str
    issued_at: str
    check_code: str
    revoked_reason: str | None


class InspectionView(View):
    """A finding recorded at a door plate, with the award or deduction it made; `repeated`
    when a retried submit answers the first one."""
    inspection_id: int
    household_id: int
    village_id: int
    inspector_user_id: int | None
    item_code: str
    note: str
    photo_sha256: str | None
    award: dict[str, Any] | None
    created_at: str
    repeated: bool | UnsetType = UNSET


class PlateSummary(View):
    """What an inspector sees after scanning a plate: the household (head's name masked) and
    its recent findings, newest first."""
    household_id: int
    plate_code: str
    village_id: int
    village: str
    head: str
    address: str
    recent: list[InspectionView]


class CertificateListed(View):
    """One of a person's certificates as their list shows it (the whole one: `load`)."""
    code: str
    period_start: str
    period_end: str
    minutes_total: int
    activities_count: int
    issued_at: str
