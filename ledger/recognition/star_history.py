"""Recording star changes (each with its date, figure and cause) and recomputing every star
of a town at once; ratings themselves are computed in ledger/recognition/stars.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, func, select, text, tuple_
from sqlalchemy.orm import Session

from ledger.registry.models import Team
from ledger.recognition.models import StarChange, StarKind, StarStatus
from ledger.recognition.scores import household_scores
from ledger.recognition.stars import (
    EVER,
    KIND_HOLDER,
    MAX_LEVEL,
    Config,
    Rating,
    collective_services,
    get_config,
    household_rating,
    level_for,
    period_bounds,
    towns_of,
    veto_caps,
    volunteers_minutes,
)
from ledger.rules.periods import local_date, period_key
from ledger.timeutil import UTCDateTime, utcnow

def _insert(s: Session):
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert


RECORD_CHUNK = 1000  # ratings a statement (three parameters each)


@dataclass(frozen=True)
class Refresh:
    """A rating to store, with why: the cause and its reference, the configuration's version
    and the instant the change is dated."""

    rating: Rating
    cause: str
    cause_ref: str = ""
    config_version: int = 0
    now: datetime | None = None


def record_all(s: Session, refreshes: list[Refresh]) -> list[StarChange | None]:
    """Store each rating (ratings of distinct holders and periods); where its level differs
    from the stored one, record the change. The status rows are created where missing and
    locked first, in one order, so two recomputations of one holder record one change. A
    handful of statements whatever their number (one catch-up refreshes every volunteer whose
    minutes it applied)."""
    if len(refreshes) > RECORD_CHUNK:  # a statement's parameters are bounded
        return [c for i in range(0, len(refreshes), RECORD_CHUNK)
                for c in record_all(s, refreshes[i:i + RECORD_CHUNK])]
    if not refreshes:
        return []
    at = utcnow()
    dated = {(str(f.rating.kind), f.rating.holder_id, f.rating.period_key): f.now or at
             for f in refreshes}
    keys = sorted(dated)  # created and locked in this order by every writer: no deadlock
    s.execute(_insert(s)(StarStatus).on_conflict_do_nothing(), [
        {"kind": k, "holder_id": h, "period_key": p, "level": 0, "value": 0,
         "updated_at": dated[(k, h, p)]} for k, h, p in keys])
    q = (select(StarStatus).where(tuple_(StarStatus.kind, StarStatus.holder_id,
                                         StarStatus.period_key).in_(keys))
         .order_by(StarStatus.kind, StarStatus.holder_id, StarStatus.period_key))
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    held = {(st.kind, st.holder_id, st.period_key): st for st in s.scalars(q)}
    out: list[StarChange | None] = []
    for f in refreshes:
        r, now = f.rating, f.now or at
        st = held[(str(r.kind), r.holder_id, r.period_key)]
        change = None
        if st.level != r.level:
            cause, cause_ref = f.cause, f.cause_ref
            if r.capped_by and r.level < st.level:
                cause, cause_ref = "veto", r.capped_by
            change = StarChange(kind=r.kind, holder_id=r.holder_id, period_key=r.period_key,
                                old_level=st.level, new_level=r.level, value=r.value,
                                cause=cause, cause_ref=cause_ref[:200],
                                config_version=f.config_version, changed_at=now)
            s.add(change)
            st.level = r.level
        if (st.value, st.capped_by) != (r.value, r.capped_by) or change is not None:
            st.value, st.capped_by, st.updated_at = r.value, r.capped_by, now
        out.append(change)
    s.flush()
    return out


def _configs_of(s: Session, kind: str, ids: list[int]) -> tuple[dict, dict]:
    """The holders' towns (holder → town; absent where unknown) and each of those towns'
    configuration of `kind` (None: the defaults), one read per town."""
    towns = towns_of(s, KIND_HOLDER[StarKind(kind)], ids)
    return towns, {t: get_config(s, t, kind)
                   for t in sorted({towns.get(h) for h in ids}, key=str)}


def refresh_volunteers(s: Session, changed: dict[int, tuple[str, datetime]], *,
                       cause: str) -> list[StarChange]:
    """The volunteer stars of these people (person id → (cause reference, instant)), as
    `stars.rate` computes one, in a few statements for all: their towns, their
    configurations (one read per town), their minutes, the records."""
    ids = sorted(changed)
    if not ids:
        return []
    towns, configs = _configs_of(s, StarKind.VOLUNTEER, ids)
    minutes = volunteers_minutes(s, ids)
    refreshes = []
    for pid in ids:
        cfg, value = configs[towns.get(pid)], minutes.get(pid, 0)
        ref, now = changed[pid]
        refreshes.append(Refresh(
            Rating(StarKind.VOLUNTEER, pid, EVER, value, level_for(value, cfg.value_thresholds)),
            cause, ref, cfg.version, now))
    return [c for c in record_all(s, refreshes) if c is not None]


def refresh_households(s: Session, changed: dict[int, tuple[set[str], str, datetime]], *,
                       cause: str) -> list[StarChange]:
    """The household stars of these households (household id → (the rollup keys of the
    months whose score changed, cause reference, instant)), each in every star period those
    months fall in, as `stars.rate` computes one, in a few statements for all: their towns,
    configurations, scores and veto caps (one read per period and town), the records."""
    ids = sorted(changed)
    if not ids:
        return []
    towns, configs = _configs_of(s, StarKind.HOUSEHOLD, ids)
    groups: dict[tuple, list[int]] = {}
    for hid in ids:
        cfg = configs[towns.get(hid)]
        for key in sorted(changed[hid][0]):
            if not key.startswith("month:"):
                continue
            on = date(int(key[6:10]), int(key[11:13]), 1)
            group = groups.setdefault((towns.get(hid), *period_bounds(cfg.period, on),
                                       period_key(cfg.period, on)), [])
            if not group or group[-1] != hid:
                group.append(hid)
    refreshes = []
    for (town, start, end, pkey), hids in groups.items():
        cfg = configs[town]
        scores = household_scores(s, start, end, household_ids=hids)
        caps = veto_caps(s, cfg, hids, start, end)
        for hid in hids:
            _, ref, now = changed[hid]
            refreshes.append(Refresh(household_rating(
                cfg, hid, pkey, scores.get(hid, 0), *caps.get(hid, (MAX_LEVEL, None))),
                cause, ref, cfg.version, now))
    return [c for c in record_all(s, refreshes) if c is not None]


# ---------------------------------------------------------------------------------------------
# Recomputing everyone (nightly, after a threshold change): set-based, idempotent


def recompute_volunteers(s: Session, town_id: int, *, cause: str = "recompute",
                         now: datetime | None = None) -> int:
    """Every volunteer of the town at once, in SQL: only changed levels are written."""
    now = now or utcnow()
    cfg = get_config(s, town_id, StarKind.VOLUNTEER)
    t = cfg.value_thresholds
    level = "CASE " + " ".join(f"WHEN a.balance >= {t[i]} THEN {i + 1}"
                                for i in reversed(range(MAX_LEVEL))) + " ELSE 0 END"
    run = uuid.uuid4().hex
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("LOCK TABLE star_status IN SHARE ROW EXCLUSIVE MODE"))
    s.execute(text(
        "INSERT INTO star_change (kind, holder_id, period_key, old_level, new_level, value, "
        "cause, cause_ref, config_version, run_id, changed_at) "
        f"SELECT 'volunteer', c.hid, 'ever', COALESCE(st.level, 0), c.level, c.value, :cause, "
        ":ref, :ver, :run, :now FROM ("
        f"  SELECT a.holder_id AS hid, a.balance AS value, {level} AS level FROM account a "
        "   JOIN person p ON p.id = a.holder_id JOIN village v ON v.id = p.village_id "
        "   WHERE a.unit = 'minutes' AND a.purpose = 'points' AND a.holder_type = 'person' "
        "   AND a.shard = 0 AND v.town_id = :town) c "
        "LEFT JOIN star_status st ON st.kind = 'volunteer' AND st.holder_id = c.hid "
        "AND st.period_key = 'ever' WHERE c.level <> COALESCE(st.level, 0)"
    ).bindparams(bindparam("now", type_=UTCDateTime())),
        {"cause": cause, "ref": f"config v{cfg.version}", "ver": cfg.version, "run": run,
         "now": now, "town": town_id})
    s.execute(text(
        "INSERT INTO star_status (kind, holder_id, period_key, level, value, capped_by, "
        "updated_at) SELECT kind, holder_id, period_key, new_level, value, NULL, changed_at "
        "FROM star_change WHERE run_id = :run "
        "ON CONFLICT (kind, holder_id, period_key) DO UPDATE SET level = excluded.level, "
        "value = excluded.value, updated_at = excluded.updated_at"), {"run": run})
    return int(s.scalar(select(func.count()).select_from(StarChange)
                        .where(StarChange.run_id == run)) or 0)


def _record_many(s: Session, kind: str, ratings: list[Rating], cfg: Config, cause: str,
                 now: datetime) -> int:
    return sum(c is not None for c in record_all(s, [
        Refresh(r, cause, f"config v{cfg.version}", cfg.version, now) for r in ratings]))


def recompute_households(s: Session, town_id: int, *, on: date | None = None,
                         cause: str = "recompute", now: datetime | None = None) -> int:
    """Every household of the town with a score or a stored rating in the period."""
    now = now or utcnow()
    cfg = get_config(s, town_id, StarKind.HOUSEHOLD)
    on = on or local_date(now)
    start, end = period_bounds(cfg.period, on)
    pkey = period_key(cfg.period, on)
    scored = household_scores(s, start, end, town_id=town_id)
    stored = set(s.scalars(select(StarStatus.holder_id).where(
        StarStatus.kind == StarKind.HOUSEHOLD, StarStatus.period_key == pkey)))
    ratings = []
    ids = sorted(set(scored) | stored)
    vetoed = veto_caps(s, cfg, ids, start, end)
    for hid in ids:
        v = int(scored.get(hid) or 0)
        cap, why = vetoed.get(hid, (MAX_LEVEL, None))
        raw = level_for(v, cfg.value_thresholds)
        ratings.append(Rating(StarKind.HOUSEHOLD, hid, pkey, v, min(raw, cap),
                              why if cap < raw else None))
    return _record_many(s, StarKind.HOUSEHOLD, ratings, cfg, cause, now)


def recompute_teams(s: Session, town_id: int, *, year: int | None = None,
                    cause: str = "recompute", now: datetime | None = None) -> int:
    now = now or utcnow()
    cfg = get_config(s, town_id, StarKind.TEAM)
    on = date(year, 6, 30) if year else local_date(now)
    start, end = period_bounds("year", on)
    teams = list(s.scalars(select(Team.id).where(Team.town_id == town_id)))
    counts = collective_services(s, teams, start, end, now)
    pkey = period_key("year", on)
    ratings = [Rating(StarKind.TEAM, t, pkey, counts.get(t, 0),
                      level_for(counts.get(t, 0), cfg.value_thresholds)) for t in teams]
    return _record_many(s, StarKind.TEAM, ratings, cfg, cause, now)
