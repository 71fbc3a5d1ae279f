"""Star ratings: volunteers from certified service hours, households (星级文明户) from a period's
civility score with veto items (一票否决), teams from collective services in the year.

Thresholds are a town's configuration (`star_config`, versioned); a level is the number of
thresholds the value has reached (so a value exactly on a threshold earns that star). Every
change of a holder's level is a `star_change` row with its date, figure and cause; `star_status`
holds the current level and is only ever changed together with such a row.

- Volunteer: lifetime certified minutes = the balance of the person's minutes account (the
  activities package books only certified minutes there). Defaults 100/300/600/1000/1500 h.
- Household: the rollup `net` of the household's points in the assessment period (default the
  local year); a deduction naming a veto item in that period, not reversed, caps the level at the
  item's cap (default 0). The stars a household holds are those of its last completed period.
- Team: activities of the team that ended in the year with at least one certified attendance
  (the town plan asks at least 12 per standing team). The stars a team holds are last year's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from weakref import WeakKeyDictionary

from sqlalchemy import and_, bindparam, exists, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ledger.activities.models import CERTIFIED_REVIEWS, Activity, Attendance
from ledger.errors import InvalidInput
from ledger.journal.models import Account, HolderType, Purpose, Unit
from ledger.recognition.models import (
    DeductionMark,
    StarChange,
    StarConfig,
    StarKind,
)
from ledger.recognition.scores import household_score, household_scores_in
from ledger.registry.lookup import scopes_of
from ledger.rules.periods import local_date, next_period_start, period_key, period_start
from ledger.rules.standing import Standing, refusal  # a state of standing withholds the stars
from ledger.rules.store import scale_in_force
from ledger.timeutil import LOCAL_TZ, utcnow
from ledger.units import points_of, steps_of

MAX_LEVEL = 5
MAX_VETO_ITEMS = 50
MAX_THRESHOLD = 10**9
HOUSEHOLD_PERIODS = ("month", "quarter", "half_year", "year")
MIN_COLLECTIVE_SERVICES = 12  # the town plan: at least 12 a year per standing team
DEFAULTS = {
    # hours of certified service for 1..5 stars
    StarKind.VOLUNTEER: {"thresholds": [100, 300, 600, 1000, 1500]},
    # civility points (as people count them, not ledger steps) in the period for 1..5 stars
    StarKind.HOUSEHOLD: {"thresholds": [20, 40, 60, 80, 100], "period": "year", "veto": {}},
    # collective services in the year for 1..5 stars
    StarKind.TEAM: {"thresholds": [12, 24, 36, 48, 60]},
}
KIND_HOLDER = {StarKind.VOLUNTEER: HolderType.PERSON, StarKind.HOUSEHOLD: HolderType.HOUSEHOLD,
               StarKind.TEAM: HolderType.TEAM}
EVER = "ever"


@dataclass(frozen=True)
class Config:
    kind: str
    version: int
    thresholds: tuple[int, ...]
    period: str = "year"
    veto: tuple[tuple[str, int], ...] = ()
    scale: int = 1  # ledger steps per point, for household thresholds (ledger.units)

    @property
    def value_thresholds(self) -> tuple[int, ...]:
        """In the unit the value is measured in (volunteers: minutes; households: steps)."""
        if self.kind == StarKind.VOLUNTEER:
            return tuple(h * 60 for h in self.thresholds)
        if self.kind == StarKind.HOUSEHOLD:
            return tuple(steps_of(p, self.scale) for p in self.thresholds)
        return self.thresholds

    def as_dict(self) -> dict:
        d = {"kind": self.kind, "version": self.version, "thresholds": list(self.thresholds)}
        if self.kind == StarKind.HOUSEHOLD:
            d["period"] = self.period
            d["veto"] = dict(self.veto)
        return d


def level_for(value: int, thresholds: tuple[int, ...]) -> int:
    """How many thresholds `value` has reached (0..5)."""
    return sum(1 for t in thresholds if value >= t)


def validate_body(kind: str, body: dict) -> dict:
    if kind not in StarKind.__members__.values():
        raise InvalidInput(f"unknown star kind {kind!r}", code="star_kind_unknown")
    th = body.get("thresholds")
    if (not isinstance(th, list) or len(th) != MAX_LEVEL
            or not all(isinstance(t, int) and not isinstance(t, bool) for t in th)):
        raise InvalidInput(f"thresholds are {MAX_LEVEL} whole numbers, one per star",
                           code="star_thresholds_invalid")
    if not (0 < th[0] and all(a < b for a, b in zip(th, th[1:])) and th[-1] <= MAX_THRESHOLD):
        raise InvalidInput("thresholds must be positive and strictly ascending",
                           code="star_thresholds_invalid")
    out = {"thresholds": th}
    if kind == StarKind.HOUSEHOLD:
        period = body.get("period", "year")
        if period not in HOUSEHOLD_PERIODS:
            raise InvalidInput(f"household period is one of {HOUSEHOLD_PERIODS}",
                               code="star_period_invalid")
        veto = body.get("veto", {})
        if not isinstance(veto, dict) or len(veto) > MAX_VETO_ITEMS:
            raise InvalidInput(f"veto is a map of at most {MAX_VETO_ITEMS} rule item codes to "
                               "the highest stars allowed", code="star_veto_invalid")
        for code, cap in veto.items():
            if (not isinstance(code, str) or not 1 <= len(code) <= 64
                    or not isinstance(cap, int) or not 0 <= cap < MAX_LEVEL):
                raise InvalidInput("each veto item caps stars at 0..4", code="star_veto_invalid")
        out.update(period=period, veto=veto)
    elif set(body) - {"thresholds"}:
        raise InvalidInput(f"{kind} stars take thresholds only", code="star_config_invalid")
    return out


_CONFIG = (select(StarConfig).where(StarConfig.town_id == bindparam("town"),
                                    StarConfig.kind == bindparam("kind"))
           .order_by(StarConfig.version.desc()).limit(1))  # built once: every door plate's


def get_config(s: Session, town_id: int | None, kind: str) -> Config:
    row = None
    if town_id is not None:
        row = s.scalars(_CONFIG, {"town": town_id, "kind": str(kind)}).first()
    return _config((row.version, row.body) if row else None, kind, s)


# A star_config row is never changed (each change is a new version): its configuration is kept
# in this process by row id, so a page whose version names the row reads it once.
_KEPT: WeakKeyDictionary[Engine, dict[int, tuple[int, dict]]] = WeakKeyDictionary()
MAX_KEPT_CONFIGS = 1_000  # per database; cleared whole past this (read again, nothing lost)


def config_by_id(s: Session, config_id: int | None, kind: str) -> Config:
    """The configuration of `kind` that star_config row `config_id` holds (None: the
    defaults, as `get_config` for a town without one): the row from this process's memory,
    else read once and kept."""
    if config_id is None:
        return _config(None, kind, s)
    engine = s.get_bind().engine
    kept = _KEPT.setdefault(engine, {})
    found = kept.get(config_id)
    if found is None:
        row = s.get(StarConfig, config_id)
        if row is None or row.kind != str(kind):
            raise AssertionError(f"star_config {config_id} is not a {kind} configuration")
        if len(kept) >= MAX_KEPT_CONFIGS:
            kept.clear()
        found = kept[config_id] = (row.version, row.body)
    return _config(found, kind, s)


def _config(row: tuple[int, dict] | None, kind: str, s: Session) -> Config:
    """A Config from a row's (version, body), or the defaults of `kind` for None."""
    body = row[1] if row else DEFAULTS[StarKind(kind)]
    return Config(kind=str(kind), version=row[0] if row else 0,
                  thresholds=tuple(body["thresholds"]), period=body.get("period", "year"),
                  veto=tuple(sorted(body.get("veto", {}).items())),
                  scale=scale_in_force(s) if kind == StarKind.HOUSEHOLD else 1)


def set_config(s: Session, town_id: int, kind: str, body: dict, actor_id: int | None) -> Config:
    clean = validate_body(kind, body)
    last = s.scalar(select(func.max(StarConfig.version)).where(
        StarConfig.town_id == town_id, StarConfig.kind == kind)) or 0
    s.add(StarConfig(town_id=town_id, kind=kind, version=last + 1, body=clean,
                     created_at=utcnow(), created_by=actor_id))
    s.flush()
    return get_config(s, town_id, kind)


def town_of(s: Session, holder_type: str, holder_id: int) -> int | None:
    return towns_of(s, holder_type, [holder_id]).get(holder_id)


# ---------------------------------------------------------------------------------------------
# Values


def period_bounds(kind: str, d: date) -> tuple[date, date]:
    start = period_start(kind, d)
    return start, next_period_start(kind, d)


def _utc(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


def volunteer_minutes(s: Session, person_id: int) -> int:
    return volunteers_minutes(s, [person_id]).get(person_id, 0)


def volunteers_minutes(s: Session, person_ids: list[int]) -> dict[int, int]:
    """Each person's certified service minutes (what a volunteer's stars count), one
    statement; a person without any is left out."""
    return {int(h): int(m or 0) for h, m in s.execute(
        select(Account.holder_id, func.sum(Account.balance)).where(
            Account.unit == Unit.MINUTES, Account.purpose == Purpose.POINTS,
            Account.holder_type == HolderType.PERSON, Account.holder_id.in_(person_ids))
        .group_by(Account.holder_id))}


def towns_of(s: Session, holder_type: str, holder_ids: list[int]) -> dict[int, int]:
    """Each holder's town, one statement (`town_of` for many)."""
    return {h: town for (_, h), (_, town) in
            scopes_of(s, {(str(holder_type), i) for i in holder_ids}).items()}


def household_figures(s: Session, cfg: Config, household_id: int, start: date, end: date,
                      score: int | None = None) -> tuple[int, int, str | None]:
    """(civility score, star cap, veto cause) of one household in [start, end): the score as
    ledger/recognition/scores.py defines it, from the rollups (or `score`, read so already);
    the cap from the veto marks."""
    if score is None:
        score = household_score(s, household_id, start, end)
    cap, why = veto_caps(s, cfg, [household_id], start, end).get(household_id, (MAX_LEVEL, None))
    return score, cap, why


def veto_caps(s: Session, cfg: Config, household_ids: list[int], start: date, end: date
              ) -> dict[int, tuple[int, str]]:
    """The lowest veto cap of each household with a veto deduction (not reversed) in the
    period, from the veto marks the rollup tailer keeps."""
    if not cfg.veto or not household_ids:
        return {}
    caps = dict(cfg.veto)
    out: dict[int, tuple[int, str]] = {}
    rows = s.execute(select(DeductionMark.holder_id, DeductionMark.item_code,
                            DeductionMark.entry_id).where(
        DeductionMark.holder_type == HolderType.HOUSEHOLD,
        DeductionMark.created_at >= _utc(start), DeductionMark.created_at < _utc(end),
        DeductionMark.reversed_by.is_(None), DeductionMark.item_code.in_(list(caps)))
        .order_by(DeductionMark.entry_id))
    for hid, code, eid in rows:
        if hid in out and out[hid][0] <= caps[code]:
            continue
        out[hid] = (caps[code], f"{code}@entry:{eid}")
    return out


def collective_services(s: Session, team_ids: list[int] | None, start: date, end: date,
                        now: datetime | None = None) -> dict[int, int]:
    """Activities of each team that ended in [start, end) with a certified attendance."""
    now = now or utcnow()
    hi = min(_utc(end), now)
    q = (select(Activity.team_id, func.count(Activity.id))
         .where(Activity.team_id.is_not(None), Activity.status != "draft",
                Activity.ends_at >= _utc(start), Activity.ends_at < hi,
                exists().where(and_(Attendance.activity_id == Activity.id,
                                    Attendance.review.in_([str(r) for r in CERTIFIED_REVIEWS]),
                                    func.coalesce(Attendance.counted_minutes, 0) > 0)))
         .group_by(Activity.team_id))
    if team_ids is not None:
        q = q.where(Activity.team_id.in_(team_ids))
    return {int(t): int(n) for t, n in s.execute(q)}


@dataclass(frozen=True)
class Rating:
    kind: str
    holder_id: int
    period_key: str
    value: int
    level: int
    capped_by: str | None = None


def rate(s: Session, kind: str, holder_id: int, *, on: date | None = None,
         now: datetime | None = None) -> Rating:
    """The stars a holder earns now (volunteer) or for the period containing `on`."""
    htype = KIND_HOLDER[StarKind(kind)]
    cfg = get_config(s, town_of(s, htype, holder_id), kind)
    on = on or local_date(now or utcnow())
    if kind == StarKind.VOLUNTEER:
        v = volunteer_minutes(s, holder_id)
        return Rating(kind, holder_id, EVER, v, level_for(v, cfg.value_thresholds))
    if kind == StarKind.HOUSEHOLD:
        return _household_rating(s, cfg, holder_id, on)
    start, end = period_bounds("year", on)
    v = collective_services(s, [holder_id], start, end, now).get(holder_id, 0)
    return Rating(kind, holder_id, period_key("year", on), v, level_for(v, cfg.value_thresholds))


def _household_rating(s: Session, cfg: Config, holder_id: int, on: date,
                      score: int | None = None) -> Rating:
    start, end = period_bounds(cfg.period, on)
    v, cap, why = household_figures(s, cfg, holder_id, start, end, score)
    return household_rating(cfg, holder_id, period_key(cfg.period, on), v, cap, why)


def household_rating(cfg: Config, holder_id: int, pkey: str, score: int, cap: int = MAX_LEVEL,
                     why: str | None = None) -> Rating:
    """A household's stars of a period from its figures: the level its score reaches, held
    down to the cap of a veto deduction (`why`) if any."""
    raw = level_for(score, cfg.value_thresholds)
    return Rating(StarKind.HOUSEHOLD, holder_id, pkey, score, min(raw, cap),
                  why if cap < raw else None)


def household_plate(s: Session, household_id: int, now: datetime | None = None, *,
                    standing: Standing | None = None, town_id: int | None = None,
                    year_of: tuple[date, date] | None = None, cfg: Config | None = None
                    ) -> dict:
    """What the door plate shows of a household's stars, with one configuration lookup and
    one read of the scores: {"stars": held (as `star_level`), "capped_by": the current
    period's veto, if any}, and with `year_of` (a year's bounds) "year_score", the
    household's civility score of that year, read in the same statement. `standing`: the
    household's standing as the caller refreshed it in this session
    (`ledger.rules.standing.refreshed`, what `refusal` reads), else refreshed here; `town_id`:
    its town, when the caller has read it; `cfg`: its town's household configuration, when the
    caller has it (`config_by_id`)."""
    now = now or utcnow()
    if cfg is None:
        town = (town_id if town_id is not None
                else town_of(s, HolderType.HOUSEHOLD, household_id))
        cfg = get_config(s, town, StarKind.HOUSEHOLD)
    today = local_date(now)
    prev = date.fromordinal(period_start(cfg.period, today).toordinal() - 1)
    now_score, prev_score, *year_score = household_scores_in(
        s, household_id, [period_bounds(cfg.period, today), period_bounds(cfg.period, prev),
                          *([year_of] if year_of else [])])
    current = _household_rating(s, cfg, household_id, today, now_score)
    held = 0
    stops = (standing.stopping("stars") if standing is not None
             else refusal(s, HolderType.HOUSEHOLD, household_id, "stars", now))
    if stops is None:
        held = _household_rating(s, cfg, household_id, prev, prev_score).level
    return {"stars": held, "capped_by": current.capped_by,
            **({"year_score": year_score[0]} if year_of else {})}


def star_level(session: Session, holder_type: str, holder_id: int) -> int:
    """The stars a holder holds now, 0..5: a volunteer's from certified hours to date; a
    household's from its last completed assessment period; a team's from last year."""
    now = utcnow()
    if refusal(session, holder_type, holder_id, "stars", now) is not None:
        return 0
    if holder_type == HolderType.PERSON:
        return rate(session, StarKind.VOLUNTEER, holder_id, now=now).level
    if holder_type == HolderType.HOUSEHOLD:
        cfg = get_config(session, town_of(session, holder_type, holder_id), StarKind.HOUSEHOLD)
        prev = period_start(cfg.period, local_date(now)).toordinal() - 1
        return rate(session, StarKind.HOUSEHOLD, holder_id, on=date.fromordinal(prev),
                    now=now).level
    if holder_type == HolderType.TEAM:
        last_year = date(local_date(now).year - 1, 6, 30)
        return rate(session, StarKind.TEAM, holder_id, on=last_year, now=now).level
    return 0


def summary(s: Session, holder_type: str, holder_id: int, now: datetime | None = None) -> dict:
    """What a holder's star page shows: stars held, the live figure, the next threshold."""
    now = now or utcnow()
    kind = {v: k for k, v in KIND_HOLDER.items()}.get(HolderType(holder_type))
    if kind is None:
        raise InvalidInput("stars are for people, households and teams", code="invalid_holder")
    cfg = get_config(s, town_of(s, holder_type, holder_id), kind)
    live = rate(s, kind, holder_id, now=now)
    th = cfg.value_thresholds
    nxt = th[live.level] if live.level < MAX_LEVEL else None
    out = {"holder_type": holder_type, "holder_id": holder_id, "kind": str(kind),
           "stars": star_level(s, holder_type, holder_id), "config": cfg.as_dict(),
           "current": {"period": live.period_key, "value": live.value, "level": live.level,
                       "capped_by": live.capped_by, "next_threshold": nxt},
           "history": history(s, kind, holder_id)}
    if kind == StarKind.VOLUNTEER:
        out["current"]["hours_x10"] = live.value * 10 // 60
    if kind == StarKind.HOUSEHOLD:  # the score in steps; in points as people read it
        out["current"]["points"] = points_of(live.value, cfg.scale)
        out["current"]["next_threshold_points"] = (
            None if nxt is None else points_of(nxt, cfg.scale))
    if kind == StarKind.TEAM:
        out["current"]["meets_plan"] = live.value >= MIN_COLLECTIVE_SERVICES
    return out


def history(s: Session, kind: str, holder_id: int, limit: int = 50) -> list[dict]:
    """A holder's recorded star changes, newest first."""
    rows = s.scalars(select(StarChange).where(StarChange.kind == kind,
                                              StarChange.holder_id == holder_id)
                     .order_by(StarChange.id.desc()).limit(limit))
    return [{"at": c.changed_at.isoformat(), "period": c.period_key, "from": c.old_level,
             "to": c.new_level, "value": c.value, "cause": c.cause, "ref": c.cause_ref,
             "config_version": c.config_version} for c in rows]

