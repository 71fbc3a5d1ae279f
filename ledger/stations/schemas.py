"""The stations' answers as types, so the API's schema documents each body and a view that
drifts from its type fails at the boundary (`msgspec.convert`), not in a client."""

from __future__ import annotations

import msgspec


class StationSummary(msgspec.Struct, kw_only=True):
    id: int
    name: str
    kind: str | None
    kind_name: str


class ProfileView(msgspec.Struct, kw_only=True):
    address: str
    opening_hours: str
    phone: str
    rooms: list[str]


class LiaisonView(msgspec.Struct, kw_only=True):
    id: int
    name: str
    title: str


class PlanLineView(msgspec.Struct, kw_only=True):
    day: int
    title: str
    place: str


class PlanView(msgspec.Struct, kw_only=True):
    month: str
    theme: str
    activity_day: str
    lines: list[PlanLineView]
    published_at: str


class StationTeam(msgspec.Struct, kw_only=True):
    id: int
    name: str
    kind: str


class MenuItemView(msgspec.Struct, kw_only=True):
    id: int
    code: str
    name: str
    rule_item_code: str


class StationPage(msgspec.Struct, kw_only=True):
    """A station's public page: place, liaison leaders, this and next month's plans, its
    teams, and the town's menu of services."""
    id: int
    name: str
    kind: str | None
    kind_name: str
    profile: ProfileView | None
    liaisons: list[LiaisonView]
    plans: list[PlanView]
    teams: list[StationTeam]
    menu: list[MenuItemView]


class TeamProgress(msgspec.Struct, kw_only=True):
    """A standing team's collective services of a year, month by month, against its target."""
    team_id: int
    name: str
    kind: str
    by_month: list[int]
    done: int
    target: int
    behind_months: list[int]
    behind_now: bool


def typed(value, kind):
    """A view (or a list of views) as its type."""
    return msgspec.convert(value, kind)
