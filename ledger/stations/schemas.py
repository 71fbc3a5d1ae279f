"""The stations' answers as types, so the API's schema documents each body and a view that
drifts from its type fails at the boundary (`msgspec.convert`), not in a client."""

from __future__ import annotations

from ledger.matching.schemas import MenuItemView
from ledger.view import View


class StationSummary(View):
    id: int
    name: str
    kind: str | None
    kind_name: str


class ProfileView(View):
    address: str
    opening_hours: str
    phone: str
    rooms: list[str]


class LiaisonView(View):
    id: int
    name: str
    title: str


class PlanLineView(View):
    day: int
    title: str
    place: str


class PlanView(View):
    month: str
    theme: str
    activity_day: str
    lines: list[PlanLineView]
    published_at: str


class StationTeam(View):
    id: int
    name: str
    kind: str


class StationPage(View):
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


class TeamProgress(View):
    """A standing team's collective services of a year, month by month, against its target."""
    team_id: int
    name: str
    kind: str
    by_month: list[int]
    done: int
    target: int
    behind_months: list[int]
    behind_now: bool



class StationFigures(View):
    """One station's figures for a period; `sign_only`: nothing held, nothing done (挂牌)."""
    station_id: int
    name: str
    kind: str | None
    kind_name: str
    activities: int
    participations: int
    people: int
    minutes: int
    orders_placed: int
    orders_done: int
    orders_overdue: int
    orders_rated: int
    rating_sum: int
    rating_avg: float | None
    themes: list[str]
    sign_only: bool


class ReportTotals(View):
    activities: int
    participations: int
    minutes: int
    orders_placed: int
    orders_done: int
    orders_overdue: int
    orders_rated: int
    rating_sum: int
    rating_avg: float | None


class TeamBehind(TeamProgress):
    behind_in_period: list[int]  # the period's months at whose end the team was behind


class RatingGroup(View):
    """Residents' ratings in the period of one team (`key`: its id) or one menu service
    (`key`: its code); `stars`: the average, rounded."""
    key: int | str
    name: str
    rated: int
    rating_sum: int
    rating_avg: float
    stars: int


class Quality(View):
    teams: list[RatingGroup]
    services: list[RatingGroup]


class StationReport(View):
    """The stations' report for a month or a quarter (a village admin's: their own rows and
    their totals only)."""
    period: str
    label: str
    start: str
    end: str
    stations: list[StationFigures]
    totals: ReportTotals
    sign_only: list[str]
    teams: list[TeamProgress]
    teams_behind: list[TeamBehind]
    quality: Quality


class OrganisationCandidate(View):
    team_id: int
    name: str
    services: int
    participations: int
    rated: int
    rating_avg: float | None


class OrganiserCandidate(View):
    user_id: int
    name: str
    activities: int
    participations: int


class ProjectCandidate(View):
    service_code: str
    name: str
    orders_done: int
    rated: int
    rating_avg: float | None


class HonourCandidates(View):
    """Candidates for 优秀志愿服务组织 / 组织者 / 项目, with the figures they are ranked by."""
    period: str
    organisations: list[OrganisationCandidate]
    organisers: list[OrganiserCandidate]
    projects: list[ProjectCandidate]


class MonthFigures(View):
    """The town's (or a station's) figures in one month (`period` YYYY-MM, `label` 7月);
    `active_stations`: those that held or did anything."""
    period: str
    label: str
    activities: int
    participations: int
    minutes: int
    orders_placed: int
    orders_done: int
    orders_rated: int
    active_stations: int


class TownDashboard(View):
    """The town dashboard: the period's report, the months up to it, the honour candidates."""
    report: StationReport
    series: list[MonthFigures]
    honour: HonourCandidates
