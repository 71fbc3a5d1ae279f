"""Recognition's background work as plain functions (workers/tasks.py wraps them for Celery):
recomputing every star, rebuilding the rollups and boards, and the points/hours export."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import outbox
from ledger.registry.models import Household, Person, Town, Village
from ledger.db import Database
from ledger.errors import NotFound
from ledger.recognition import leaderboards, rollups, star_history, stars
from ledger.recognition.models import HolderRollup
from ledger.rules.periods import local_date
from ledger.rules.spec import points_of
from ledger.rules.store import scale_in_force as points_scale
from ledger.sheets import tabular
from ledger.sheets.labels import HOLDERS, UNITS, label
from ledger.timeutil import utcnow

RECOMPUTE_TASK = "recognition.recompute_stars"
EXPORT_TASK = "recognition.export_village"
MAX_EXPORT_ROWS = 200_000


@outbox.handler(RECOMPUTE_TASK)
def recompute_stars(s: Session, town_id: int | None = None, cause: str = "recompute",
                    now: datetime | None = None) -> dict:
    """Every star of every town (or one): volunteers; households for the current and the last
    completed period; teams for this year and last. Idempotent: only changed levels are
    written, so a second run records nothing."""
    now = now or utcnow()
    rollups.catch_up_in(s)
    towns = [town_id] if town_id else list(s.scalars(select(Town.id).order_by(Town.id)))
    out = {"volunteers": 0, "households": 0, "teams": 0}
    today = local_date(now)
    for t in towns:
        out["volunteers"] += star_history.recompute_volunteers(s, t, cause=cause, now=now)
        cfg = stars.get_config(s, t, stars.StarKind.HOUSEHOLD)
        start = stars.period_bounds(cfg.period, today)[0]
        for on in (date.fromordinal(start.toordinal() - 1), today):
            out["households"] += star_history.recompute_households(s, t, on=on, cause=cause,
                                                                   now=now)
        for year in (today.year - 1, today.year):
            out["teams"] += star_history.recompute_teams(s, t, year=year, cause=cause, now=now)
    return out


def rebuild_all(db: Database) -> dict:
    """Rollups from the journal, then the live boards from the rollups."""
    out = rollups.rebuild(db)
    with db.sessions() as s:
        out["boards"] = leaderboards.rebuild(s)
    return out


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def export_path(out_dir: str | Path, village_id: int, year: int) -> Path:
    return Path(out_dir) / f"village-{village_id}-{year}.csv"


@outbox.handler(EXPORT_TASK)
def export_village(s: Session, village_id: int, year: int, out_dir: str) -> dict:
    """A village's people and households with their points and hours of the year, month by
    month, as CSV (UTF-8 with BOM, so Excel opens the Chinese right). Same input, same file."""
    v = s.get(Village, village_id)
    if v is None:
        raise NotFound(f"village {village_id} does not exist", code="village_not_found")
    rollups.catch_up_in(s)
    months = [f"month:{year}-{m:02d}" for m in range(1, 13)]
    rows = s.execute(select(HolderRollup.holder_type, HolderRollup.holder_id, HolderRollup.unit,
                            HolderRollup.period_key, HolderRollup.net)
                     .where(HolderRollup.village_id == village_id,
                            HolderRollup.period_key.in_(months + [f"year:{year}"]))
                     .order_by(HolderRollup.holder_type, HolderRollup.holder_id)
                     .limit(MAX_EXPORT_ROWS)).all()
    people = dict(s.execute(select(Person.id, Person.name)
                            .where(Person.village_id == village_id)).all())
    homes = dict(s.execute(select(Household.id, Household.head_name)
                           .where(Household.village_id == village_id)).all())
    table: dict[tuple[str, int, str], dict[str, int]] = {}
    for htype, hid, unit, key, net in rows:
        table.setdefault((htype, hid, unit), {})[key] = net
    out = [["类型", "编号", "姓名/户主", "单位", f"{year}年合计"]
           + [f"{m}月" for m in range(1, 13)]]
    scale = points_scale(s)
    for (htype, hid, unit), vals in sorted(table.items()):
        name = (people if htype == "person" else homes).get(hid, "")
        # Points in the unit people read (steps → points); minutes stay minutes, as labelled.
        shown = (lambda n: n) if unit == "minutes" else (lambda n: points_of(n, scale))
        out.append([label(HOLDERS, htype), hid, name, label(UNITS, unit),
                    shown(vals.get(f"year:{year}", 0))] + [shown(vals.get(m, 0)) for m in months])
    path = export_path(out_dir, village_id, year)
    _write_atomic(path, tabular.to_csv(out))
    return {"path": str(path), "rows": len(table)}
