"""The practice network's pages: the list of places (public), each station's public page (its
place, liaisons, this month's plan, teams and menu), and the town dashboard (charts of the
stations' work month by month, the 挂牌-only stations, teams behind pace, quarterly downloads)."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Redirect, Template
from markupsafe import Markup

from api.auth import TOWN_ADMIN, Principal
from api.pages.chart import bar_chart
from api.pages.common import page_role, render, t_for
from ledger.activities.certificates import hours_text
from ledger.db import Database
from ledger.errors import InvalidInput
from ledger.fund import service as fund
from ledger.matching import orders as matching_orders
from ledger.registry.lookup import towns
from ledger.stations import public, reports, service
from ledger.stations.dashboard import town_dashboard
from ledger.stations.service import local_today

SERIES_MONTHS = 6


@get("/stations", name="stations", sync_to_thread=True)
def stations_list(request: Request, db: Database) -> Template:
    return render(request, "stations/list.html", stations=service.stations(db))


@get("/stations/{station_id:int}", name="station", sync_to_thread=True)
def station_page(request: Request, station_id: int, db: Database,
                 maybe_principal: Principal | None) -> Template:
    page = public.public_page(db, station_id)
    staff = maybe_principal is not None and matching_orders.is_staff(maybe_principal, station_id)
    return render(request, "stations/station.html", st=page, menu=page.menu, staff=staff)


def chart(rows: list[tuple[str, int]], title: str, n: int, fmt=str) -> Markup:
    """bar_chart with an id of its own, so several charts share a page."""
    return Markup(str(bar_chart(rows, title=title, fmt=fmt)).replace(
        '"chart-title"', f'"chart-title-{n}"'))


@get("/town/dashboard", name="town_dashboard", guards=[page_role(TOWN_ADMIN)], sync_to_thread=True)
def dashboard(request: Request, db: Database, principal: Principal) -> Template | Redirect:
    # The whole town's figures and honour candidates: the town admin's (a village admin's own
    # station report is GET /api/v1/stations/reports, filtered to their stations).
    raw = request.query_params.get("period") or ""
    try:
        period = reports.parse_period(raw) if raw else reports.last_full_quarter(local_today())
    except InvalidInput:
        period = reports.last_full_quarter(local_today())
    d = town_dashboard(db, principal, period, SERIES_MONTHS)
    if d is None:
        return render(request, "stations/dashboard.html", report=None, charts=[],
                      period=period, quarters=[], honour=None)
    tr = t_for(request)
    specs = [("activities", "dash.activities", str), ("participations", "dash.participations", str),
             ("minutes", "dash.hours", hours_text), ("orders_done", "dash.orders_done", str),
             ("active_stations", "dash.stations_active", str)]
    charts = [(tr(label), chart([(m.label, getattr(m, key)) for m in d.series], tr(label), i + 1,
                                fmt=fmt)) for i, (key, label, fmt) in enumerate(specs)]
    by_station = chart([(x.name, x.minutes) for x in d.report.stations],
                       tr("dash.hours"), 6, fmt=hours_text)
    today = local_today()
    quarters = [reports.quarter_of(today)]
    for _ in range(3):
        quarters.append(reports.last_full_quarter(quarters[-1].start))
    return render(request, "stations/dashboard.html", report=d.report, charts=charts,
                  by_station=by_station, period=period, quarters=quarters,
                  hours=hours_text, is_quarter="Q" in period.code, honour=d.honour)


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


@get("/fund", name="fund_thanks", sync_to_thread=True)
def fund_thanks(request: Request, db: Database) -> Template:
    first = next(iter(towns(db)), None)
    donors = fund.thanks(db, first.id) if first else []
    return render(request, "stations/fund.html", donors=donors, yuan=yuan)


handlers = [stations_list, station_page, dashboard, fund_thanks]
