"""The town dashboard (the town admin's page): the stations' report for a period, the town's
figures month by month up to it, and the honour candidates, read in one session."""

from __future__ import annotations

from sqlalchemy import select

from ledger.db import Database
from ledger.identity.actor import require
from ledger.identity.roles import TOWN_ADMIN
from ledger.registry.models import Town
from ledger.stations import honours, reports
from ledger.stations.reports import Period
from ledger.stations.schemas import HonourCandidates, MonthFigures, StationReport, TownDashboard
from ledger.view import typed


def town_dashboard(db: Database, actor, period: Period, months: int) -> TownDashboard | None:
    """The first town's dashboard for `period`, with `months` months of figures ending with
    the period's last; None before any town exists."""
    require(actor, (TOWN_ADMIN,), None, "the town dashboard")
    with db.sessions() as s:
        town_id = s.scalar(select(Town.id).order_by(Town.id).limit(1))
        if town_id is None:
            return None
        report = reports.report(s, town_id, period)
        series = reports.monthly_series(s, town_id, period.months()[-1], months)
        honour = honours.candidates(s, town_id, period)
    return TownDashboard(report=typed(report, StationReport),
                         series=typed(series, list[MonthFigures]),
                         honour=typed(honour, HonourCandidates))
