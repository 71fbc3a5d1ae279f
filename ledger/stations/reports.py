"""Per-station figures for a month or a quarter, from the records (activities, attendances whose
minutes the journal booked, service orders and their events): what each station held, who came,
hours served, orders placed / done / overdue / rated, the average rating, the themes covered;
the stations with nothing to show (挂牌 only); the standing teams behind their 12-a-year pace.

Figures are grouped queries over the whole town (one per measure), not one pass per station.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from ledger.activities.models import CERTIFIED_REVIEWS, Activity, ActivityStatus, Attendance
from ledger.db import Database
from ledger.errors import InvalidInput
from ledger.identity.actor import Actor, villages_of
from ledger.matching.models import ServiceOrder
from ledger.matching.orders import overdue
from ledger.registry.models import Town, Village
from ledger.stations.schemas import StationReport
from ledger.stations.service import KIND_NAMES, station, team_progress
from ledger.timeutil import LOCAL_TZ, utcnow
from ledger.view import typed

MAX_SERIES_MONTHS = 24
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$|^(\d{4})Q([1-4])$")


@dataclass(frozen=True)
class Period:
    """A month ("2026-07") or a quarter ("2026Q3") in the town's calendar."""

    code: str
    start: date  # first day
    end: date  # first day after

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return (datetime(self.start.year, self.start.month, 1, tzinfo=LOCAL_TZ).astimezone(UTC),
                datetime(self.end.year, self.end.month, 1, tzinfo=LOCAL_TZ).astimezone(UTC))

    @property
    def label(self) -> str:
        if "Q" in self.code:
            return f"{self.start.year}年第{(self.start.month - 1) // 3 + 1}季度"
        return f"{self.start.year}年{self.start.month}月"

    def months(self) -> list[Period]:
        out, d = [], self.start
        while d < self.end:
            out.append(month(d.year, d.month))
            d = out[-1].end
        return out


def _add_months(d: date, n: int) -> date:
    k = d.year * 12 + d.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


def month(year: int, m: int) -> Period:
    start = date(year, m, 1)
    return Period(f"{year}-{m:02d}", start, _add_months(start, 1))


def quarter(year: int, q: int) -> Period:
    start = date(year, 3 * (q - 1) + 1, 1)
    return Period(f"{year}Q{q}", start, _add_months(start, 3))


def parse_period(code: str) -> Period:
    m = _PERIOD.match(code or "")
    if m is None:
        raise InvalidInput("period is YYYY-MM or YYYYQn", code="period_invalid", field="period")
    if m.group(1):
        return month(int(m.group(1)), int(m.group(2)))
    return quarter(int(m.group(3)), int(m.group(4)))


def quarter_of(d: date) -> Period:
    return quarter(d.year, (d.month - 1) // 3 + 1)


def last_full_quarter(today: date) -> Period:
    q = quarter_of(today)
    return quarter_of(_add_months(q.start, -3))


def order_activity_ids(s: Session, town_id: int) -> set[int]:
    return set(s.scalars(select(ServiceOrder.activity_id).where(
        ServiceOrder.town_id == town_id, ServiceOrder.activity_id.is_not(None))))


def _by_station(rows) -> dict[int, int]:
    return {int(v): int(n or 0) for v, n in rows}


def station_figures(s: Session, town_id: int, p: Period, *, now: datetime | None = None
                    ) -> list[dict]:
    """One row per station of the town, in the network's order."""
    lo, hi = p.bounds
    as_of = min(now or utcnow(), hi)
    orders_acts = order_activity_ids(s, town_id)
    stations = list(s.scalars(select(Village).where(Village.town_id == town_id)))
    held = (select(Attendance.id).where(Attendance.activity_id == Activity.id).exists())
    acts = [(a, v, th) for a, v, th in s.execute(select(Activity.id, Activity.village_id,
                                                        Activity.theme).where(
        Activity.town_id == town_id, Activity.starts_at >= lo, Activity.starts_at < hi,
        Activity.status != ActivityStatus.DRAFT, held)) if a not in orders_acts]
    act_ids = [a for a, _, _ in acts]
    certified = (Attendance.review.in_(CERTIFIED_REVIEWS), Attendance.check_out_at.is_not(None))
    part = _by_station(s.execute(
        select(Activity.village_id, func.count(Attendance.id))
        .join(Activity, Activity.id == Attendance.activity_id)
        .where(Attendance.activity_id.in_(act_ids), *certified).group_by(Activity.village_id)))
    people = _by_station(s.execute(
        select(Activity.village_id, func.count(distinct(Attendance.person_id)))
        .join(Activity, Activity.id == Attendance.activity_id)
        .where(Attendance.activity_id.in_(act_ids), *certified).group_by(Activity.village_id)))
    # Hours: every certified attendance at the station in the period, orders' services too.
    minutes = _by_station(s.execute(
        select(Activity.village_id, func.sum(Attendance.counted_minutes))
        .join(Activity, Activity.id == Attendance.activity_id)
        .where(Activity.town_id == town_id, Attendance.check_out_at >= lo,
               Attendance.check_out_at < hi, *certified).group_by(Activity.village_id)))
    orders = list(s.scalars(select(ServiceOrder).where(
        ServiceOrder.town_id == town_id,
        ((ServiceOrder.created_at >= lo) & (ServiceOrder.created_at < hi))
        | ((ServiceOrder.done_at >= lo) & (ServiceOrder.done_at < hi))
        | ((ServiceOrder.rated_at >= lo) & (ServiceOrder.rated_at < hi)))))
    out = []
    order_rank = {"institute": 0, "point": 1}
    for v in sorted(stations, key=lambda v: (order_rank.get(v.kind, 2), v.id)):
        mine = [o for o in orders if o.village_id == v.id]
        placed = [o for o in mine if lo <= o.created_at < hi]
        done = [o for o in mine if o.done_at is not None and lo <= o.done_at < hi]
        rated = [o for o in mine if o.rated_at is not None and lo <= o.rated_at < hi]
        n_acts = sum(1 for _, sv, _ in acts if sv == v.id)
        themes = sorted({th for _, sv, th in acts if sv == v.id and th})
        rating_sum = sum(o.rating for o in rated)
        out.append({
            "station_id": v.id, "name": v.name, "kind": v.kind,
            "kind_name": KIND_NAMES.get(v.kind, ""), "activities": n_acts,
            "participations": part.get(v.id, 0), "people": people.get(v.id, 0),
            "minutes": minutes.get(v.id, 0), "orders_placed": len(placed),
            "orders_done": len(done), "orders_overdue": sum(overdue(o, as_of) for o in placed),
            "orders_rated": len(rated), "rating_sum": rating_sum,
            "rating_avg": round(rating_sum / len(rated), 1) if rated else None,
            "themes": themes, "sign_only": n_acts == 0 and not done})
    return out


def totals(rows: list[dict]) -> dict:
    """The sums of these stations' figures (station_figures rows) and their average rating."""
    keys = ("activities", "participations", "minutes", "orders_placed", "orders_done",
            "orders_overdue", "orders_rated", "rating_sum")
    out = {k: sum(r[k] for r in rows) for k in keys}
    out["rating_avg"] = round(out["rating_sum"] / out["orders_rated"], 1) \
        if out["orders_rated"] else None
    return out


def report(s: Session, town_id: int, p: Period, *, now: datetime | None = None) -> dict:
    """The town's report for a period: each station, the totals, the 挂牌-only stations, the
    teams behind pace (months of the period at whose end they were behind)."""
    now = now or utcnow()
    rows = station_figures(s, town_id, p, now=now)
    last = _add_months(p.end, -1)
    teams = team_progress(s, town_id, last.year, today=min(now.astimezone(LOCAL_TZ).date(),
                                                          p.end))
    months = {m.start.month for m in p.months() if m.start.year == last.year}
    behind = [{**t, "behind_in_period": sorted(months & set(t["behind_months"]))}
              for t in teams if months & set(t["behind_months"])]
    return {"period": p.code, "label": p.label, "start": p.start.isoformat(),
            "end": p.end.isoformat(), "stations": rows, "totals": totals(rows),
            "sign_only": [r["name"] for r in rows if r["sign_only"]],
            "teams": teams, "teams_behind": behind, "quality": quality(s, town_id, p)}


def quality(s: Session, town_id: int, p: Period) -> dict:
    """Ratings given in the period, per team that served (its stars: the average, rounded)
    and per menu service."""
    from ledger.matching.models import MenuItem
    from ledger.registry.models import Team
    lo, hi = p.bounds
    rated = list(s.execute(select(ServiceOrder.assignee_team_id, ServiceOrder.service_code,
                                  ServiceOrder.rating).where(
        ServiceOrder.town_id == town_id, ServiceOrder.rated_at >= lo,
        ServiceOrder.rated_at < hi)))
    names = dict(s.execute(select(Team.id, Team.name).where(Team.town_id == town_id)).all())
    menu = dict(s.execute(select(MenuItem.code, MenuItem.name)
                          .where(MenuItem.town_id == town_id)).all())

    def group(key_index: int, label) -> list[dict]:
        acc: dict = {}
        for row in rated:
            k = row[key_index]
            if k is not None:
                n, total = acc.get(k, (0, 0))
                acc[k] = (n + 1, total + row[2])
        return sorted(({"key": k, "name": label(k), "rated": n, "rating_sum": total,
                        "rating_avg": round(total / n, 1), "stars": round(total / n)}
                       for k, (n, total) in acc.items()), key=lambda x: (-x["rating_avg"],
                                                                          str(x["key"])))
    return {"teams": group(0, lambda k: names.get(k, str(k))),
            "services": group(1, lambda k: menu.get(k, k))}


def monthly_series(s: Session, town_id: int, last: Period, n: int,
                   station_id: int | None = None) -> list[dict]:
    """The town's (or one station's) figures month by month, the `n` months up to `last`."""
    n = max(1, min(n, MAX_SERIES_MONTHS))
    out = []
    for k in range(n - 1, -1, -1):
        d = _add_months(last.start, -k)
        rows = station_figures(s, town_id, month(d.year, d.month))
        if station_id is not None:
            rows = [r for r in rows if r["station_id"] == station_id]
        out.append({"period": f"{d.year}-{d.month:02d}", "label": f"{d.month}月",
                    **{k2: sum(r[k2] for r in rows) for k2 in
                       ("activities", "participations", "minutes", "orders_placed",
                        "orders_done", "orders_rated")},
                    "active_stations": sum(1 for r in rows if not r["sign_only"])})
    return out


def station_quarter(s: Session, town_id: int, station_id: int, q: Period, *,
                    now: datetime | None = None) -> dict:
    """One station's quarterly summary for its liaisons: its row for each month and the
    quarter, its liaisons, the activities it held."""
    from ledger.stations.models import StationLiaison
    from ledger.stations.service import station
    v = station(s, station_id)
    months = []
    for m in q.months():
        row = next(r for r in station_figures(s, town_id, m, now=now)
                   if r["station_id"] == station_id)
        months.append({"label": m.label, **row})
    total = next(r for r in station_figures(s, town_id, q, now=now)
                 if r["station_id"] == station_id)
    lo, hi = q.bounds
    orders_acts = order_activity_ids(s, town_id)
    held = []
    for a in s.scalars(select(Activity).where(
            Activity.village_id == station_id, Activity.starts_at >= lo, Activity.starts_at < hi,
            Activity.status != ActivityStatus.DRAFT).order_by(Activity.starts_at)):
        if a.id in orders_acts:
            continue
        n = s.scalar(select(func.count()).select_from(Attendance).where(
            Attendance.activity_id == a.id))
        if n:
            held.append({"date": a.starts_at.astimezone(LOCAL_TZ).date().isoformat(),
                         "title": a.title, "theme": a.theme or "", "participations": n})
    liaisons = [f"{li.title}{li.name}" for li in s.scalars(
        select(StationLiaison).where(StationLiaison.village_id == station_id)
        .order_by(StationLiaison.id))]
    return {"station_id": v.id, "name": v.name, "kind_name": KIND_NAMES.get(v.kind, ""),
            "period": q.code, "label": q.label, "months": months, "total": total,
            "activities": held, "liaisons": liaisons}


def report_for(db: Database, actor: Actor, town_id: int, period: str) -> StationReport:
    """`report` as `actor` may read it: the town's admins every station; a village admin
    their own stations' rows, with the totals of those rows (the town's totals less one's
    own row would be the other villages' figures)."""
    p = parse_period(period)
    with db.sessions() as s:
        r = report(s, town_id, p)
    mine = villages_of(actor, "village.admin")  # None: every village
    if mine is not None:
        r["stations"] = [x for x in r["stations"] if x["station_id"] in mine]
        r["totals"] = totals(r["stations"])
        r["sign_only"] = [x["name"] for x in r["stations"] if x["sign_only"]]
    return typed(r, StationReport)


def quarter_summary(db: Database, station_id: int, period: str) -> tuple[dict, str]:
    """A station's quarterly summary (`station_quarter`) and its town's name, for the PDF
    and the workbook its liaisons get."""
    p = parse_period(period)
    if "Q" not in p.code:
        raise InvalidInput("the summary is quarterly: YYYYQn", code="period_not_quarter")
    with db.sessions() as s:
        v = station(s, station_id)
        town = s.get(Town, v.town_id).name
        return station_quarter(s, v.town_id, station_id, p), town
