"""Periods in the town's local time: keys for caps and once-per-period items, and their bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from ledger.timeutil import LOCAL_TZ

# A deed is never later than the posting it is paid in by more than this: the engine refuses
# an `occurred_at` further ahead of its clock, and a reversal carries the earlier deed's time.
DEED_LEAD = timedelta(minutes=5)
PERIODS = ("day", "week", "month", "quarter", "half_year", "year", "ever")


@lru_cache(maxsize=4096)  # an award asks it ten times of the same instant (caps, periods)
def local_date(at: datetime) -> date:
    return at.astimezone(LOCAL_TZ).date()


def local_midnight(d: date) -> datetime:
    """The instant (UTC) at which local day `d` begins."""
    return datetime.combine(d, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


def deed_time(details, posted_at: datetime) -> datetime:
    """When the deed behind an entry happened (DESIGN guarantee 9): `details.period_at` (set
    on reversals of an award), else the rule engine's `details.inputs.occurred_at`, else the
    posting's own time. Periods (yearly scores, rankings, expiry) follow this; the posting
    keeps its own time. The SQL twin is ledger.recognition.scores.deed_time_sql."""
    if isinstance(details, dict):
        inputs = details.get("inputs")
        v = details.get("period_at") or (inputs.get("occurred_at")
                                         if isinstance(inputs, dict) else None)
        if isinstance(v, str):
            try:
                at = datetime.fromisoformat(v)
            except ValueError:
                return posted_at
            if at.tzinfo is not None:
                return at.astimezone(UTC)
    return posted_at


def period_start(kind: str, d: date) -> date:
    if kind == "day":
        return d
    if kind == "week":
        return d - timedelta(days=d.weekday())
    if kind == "month":
        return d.replace(day=1)
    if kind == "quarter":
        return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    if kind == "half_year":
        return date(d.year, 1 if d.month <= 6 else 7, 1)
    if kind == "year":
        return date(d.year, 1, 1)
    if kind == "ever":
        return date.min
    raise ValueError(f"unknown period {kind!r}")


def next_period_start(kind: str, d: date) -> date:
    """The first day of the period after the one containing `d`."""
    s = period_start(kind, d)
    if kind == "day":
        return s + timedelta(days=1)
    if kind == "week":
        return s + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}.get(kind)
    if months is None:
        return date.max
    m = s.month - 1 + months
    return date(s.year + m // 12, m % 12 + 1, 1)


def period_key(kind: str, d: date) -> str:
    """A stable name for the period containing `d`, e.g. `month:2026-03`, `week:2026-W10`."""
    if kind == "day":
        return f"day:{d.isoformat()}"
    if kind == "week":
        y, w, _ = d.isocalendar()
        return f"week:{y}-W{w:02d}"
    if kind == "month":
        return f"month:{d.year}-{d.month:02d}"
    if kind == "quarter":
        return f"quarter:{d.year}-Q{(d.month - 1) // 3 + 1}"
    if kind == "half_year":
        return f"half_year:{d.year}-H{1 if d.month <= 6 else 2}"
    if kind == "year":
        return f"year:{d.year}"
    if kind == "ever":
        return "ever"
    raise ValueError(f"unknown period {kind!r}")


def add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)
