"""四单's answers as types, so the API's schema documents each body and a view that drifts from
its type fails at the boundary (`msgspec.convert`), not in a client. The views are built as
dicts (`views.order_view`): an order's answer is what `book.write` remembers for a retry."""

from __future__ import annotations

from typing import Any

from ledger.view import View


class MenuItemView(View):
    """A service on the stations' menu and the rule item its hours and points are booked under."""
    id: int
    code: str
    name: str
    rule_item_code: str


class OrderView(View):
    """A service order as the caller may see it: the resident's name, phone and address only
    when `contact_visible` (else null)."""
    id: int
    village_id: int
    household_id: int
    household_name: str | None
    service_code: str | None
    service_name: str | None
    need: str
    preferred_at: str
    channel: str
    status: str
    photos: list[str]
    contact_visible: bool
    contact_phone: str | None
    address: str | None
    assignee_team_id: int | None
    assignee_team: str | None
    assignee_person_id: int | None
    assignee_person: str | None
    accept_due_at: str | None
    escalation: int
    overdue: bool
    activity_id: int | None
    done_at: str | None
    rating: int | None
    rating_comment: str | None
    created_at: str


class OrderEventView(View):
    """One step of an order's history; `actor` names the user (a volunteer's name masked), or
    is empty for the system (a deadline)."""
    action: str
    from_status: str | None
    to_status: str
    actor_user_id: int | None
    actor_person_id: int | None
    actor: str
    reason: str | None
    details: dict[str, Any] | None
    at: str


class OrderDetail(OrderView, kw_only=True):
    """One order with its history and what the caller may do next (`dispatch`, `accept`,
    `decline`, `cancel`, `show_code`, `rate`)."""
    events: list[OrderEventView]
    can: list[str]


class CandidateTeam(View):
    id: int
    name: str
    kind: str


class CandidatePerson(View):
    id: int
    name: str


class Candidates(View):
    """Who may take an order: teams and volunteers with its skill (any team for free text)."""
    teams: list[CandidateTeam]
    people: list[CandidatePerson]


class ServiceCode(View):
    """An order's check-in code: its activity's static token and the URL its QR opens."""
    order_id: int
    activity_id: int
    token: str
    url: str


class StationRef(View):
    """The station (a village's 新时代文明实践站) an order is placed at."""
    id: int
    name: str
    town_id: int


class HouseholdChoice(View):
    id: int
    head_name: str
    address: str


class OrderForm(View):
    """What the order form offers at a station: its staff (`staff`) order for a household of
    the village (`households`, the first MAX_HOUSEHOLD_OPTIONS), anyone from the town's menu."""
    station: StationRef
    staff: bool
    households: list[HouseholdChoice]
    menu: list[MenuItemView]


class StationQueue(View):
    """A station's orders, newest first, for its staff."""
    station: StationRef
    orders: list[OrderView]
