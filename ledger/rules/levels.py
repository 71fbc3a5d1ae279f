"""Levels beyond five hour-based stars (issue #19.8): a catalog's `levels:` lists any number of
levels, lowest first, each reached when every criterion it names holds — certified hours, points
ever earned, points held (available now), activities attended, a lower level reached first
(`after`), an admin's selection. Without `levels:` the national 1–5 stars by certified hours
(ledger/recognition/stars.py) stay the holder's levels.

A level once reached is kept (hours and activities never go down) unless the scheme says
`downgrade: points`: then a level whose `points_held` is no longer met falls, with every level
above it. While a state of standing stops `stars`, no level is held and none is gained.
Every move is a `level_change` row (up, down; an admin's selected, deselected) with who, why and
when, written by `refresh`, which the holder's page and the API call, as standing does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import InvalidInput, NotFound
from ledger.identity.actor import require
from ledger.rules import spec as S
from ledger.rules.models import AwardRecord, AwardStatus, LevelChange
from ledger.rules.schemas import Levels, LevelScheme
from ledger.timeutil import utcnow

MAX_HISTORY = 100
MAX_REASON = 500


@dataclass(frozen=True)
class Figures:
    """What the criteria read, for one holder now."""

    minutes: int  # certified service minutes, lifetime
    earned_steps: int
    held_steps: int  # available: balance less open holds
    activities: int


def figures(s: Session, holder_type: str, holder_id: int) -> Figures:
    from ledger.journal.models import Account, Purpose, Unit
    from ledger.redemption.holder_policy import activities_attended
    from ledger.rules.holders import resolve_holder
    from ledger.rules.thresholds import holder_available
    minutes = int(s.scalar(select(func.coalesce(func.sum(Account.balance), 0)).where(
        Account.unit == Unit.MINUTES, Account.purpose == Purpose.POINTS,
        Account.holder_type == holder_type, Account.holder_id == holder_id)) or 0)
    earned = int(s.scalar(select(func.coalesce(func.sum(AwardRecord.amount_steps), 0)).where(
        AwardRecord.holder_type == holder_type, AwardRecord.holder_id == holder_id,
        AwardRecord.status == AwardStatus.POSTED, AwardRecord.amount_steps > 0)) or 0)
    held = holder_available(s, resolve_holder(s, holder_type, holder_id))
    return Figures(minutes, earned, held, activities_attended(s, holder_type, holder_id))


def unmet(c: S.Catalog, lv: S.Level, f: Figures, selected: set[str], reached: set[str]
          ) -> list[str]:
    """What the level asks that the holder lacks, in words; empty when reached."""
    out = []
    if lv.hours is not None and f.minutes < lv.hours * 60:
        out.append(f"服务时长 {f.minutes // 60}/{lv.hours} 小时")
    if lv.points_earned_steps is not None and f.earned_steps < lv.points_earned_steps:
        out.append(f"累计获得积分 {c.points(f.earned_steps)}/{c.points(lv.points_earned_steps)}")
    if lv.points_held_steps is not None and f.held_steps < lv.points_held_steps:
        out.append(f"可用积分 {c.points(f.held_steps)}/{c.points(lv.points_held_steps)}")
    if lv.activities is not None and f.activities < lv.activities:
        out.append(f"参加活动 {f.activities}/{lv.activities} 次")
    if lv.after is not None and lv.after not in reached:
        out.append(f"须先达到 {lv.after}")
    if lv.selection and lv.code not in selected:
        out.append("须经管理员评定")
    return out


def level_now(c: S.Catalog, scheme: S.LevelScheme, f: Figures, selected: set[str],
              held_rank: int) -> tuple[int, list[list[str]]]:
    """The rank (0 = none, i = the i-th level) the holder holds now, and each level's unmet
    criteria. Pure: the rank reached now, or the rank held before where the scheme keeps it."""
    reached: set[str] = set()
    lacks = []
    rank = 0
    for i, lv in enumerate(scheme.levels, 1):
        miss = unmet(c, lv, f, selected, reached)
        lacks.append(miss)
        if not miss:
            reached.add(lv.code)
            rank = i
    kept = held_rank
    if scheme.downgrade == "points":
        for i, lv in enumerate(scheme.levels[:held_rank], 1):
            if lv.points_held_steps is not None and f.held_steps < lv.points_held_steps:
                kept = i - 1
                break
    return max(rank, kept), lacks


def _changes(s: Session, holder_type: str, holder_id: int, code: str) -> list[LevelChange]:
    return list(s.scalars(select(LevelChange).where(
        LevelChange.holder_type == holder_type, LevelChange.holder_id == holder_id,
        LevelChange.catalog == code).order_by(LevelChange.id)))


def _recorded(rows: list[LevelChange]) -> tuple[int, set[str]]:
    rank, selected = 0, set()
    for r in rows:
        if r.change in ("up", "down"):
            rank = r.rank
        elif r.change == "selected":
            selected.add(r.level)
        elif r.change == "deselected":
            selected.discard(r.level)
    return rank, selected


def _schemes(s: Session, holder_type: str, holder_id: int, now: datetime
             ) -> list[S.Catalog]:
    from ledger.rules.holders import resolve_holder
    from ledger.rules.store import catalogs_for
    h = resolve_holder(s, holder_type, holder_id)
    return [c for c in catalogs_for(s, h.village_name, now)
            if c.levels is not None and holder_type in c.levels.subjects]


def refresh(s: Session, holder_type: str, holder_id: int, now: datetime | None = None
            ) -> list[dict]:
    """Each catalog's level for the holder now, recording every move (in the caller's
    transaction). Empty when no catalog covering the holder has levels for its kind."""
    from ledger.rules.standing import refusal
    now = now or utcnow()
    cats = _schemes(s, holder_type, holder_id, now)
    if not cats:
        return []
    f = figures(s, holder_type, holder_id)
    bar = refusal(s, holder_type, holder_id, "stars", now)
    out = []
    for c in cats:
        scheme = c.levels
        rows = _changes(s, holder_type, holder_id, c.code)
        held, selected = _recorded(rows)
        rank, lacks = level_now(c, scheme, f, selected, held)
        if bar is not None:
            rank = 0
        if rank != held:
            lv = scheme.levels[rank - 1] if rank else None
            why = (f"{bar.extra.get('reason') or bar.code}" if bar is not None else
                   f"达到 {lv.name}" if rank > held else
                   "；".join(lacks[held - 1]) or "条件不再满足")
            s.add(LevelChange(holder_type=holder_type, holder_id=holder_id, catalog=c.code,
                              change="up" if rank > held else "down",
                              level=lv.code if lv else None, rank=rank,
                              reason=why[:MAX_REASON], actor_id=None, at=now))
        out.append(_view(c, scheme, f, rank, lacks, selected, bar))
    s.flush()
    return out


def _view(c: S.Catalog, scheme: S.LevelScheme, f: Figures, rank: int, lacks, selected,
          bar) -> dict:
    lv = scheme.levels[rank - 1] if rank else None
    nxt = scheme.levels[rank] if rank < len(scheme.levels) else None
    return {"catalog": c.code, "downgrade": scheme.downgrade,
            "level": lv.code if lv else None, "name": lv.name if lv else None, "rank": rank,
            "of": len(scheme.levels),
            "next": {"level": nxt.code, "name": nxt.name, "lacks": lacks[rank]} if nxt else None,
            "barred": {"code": bar.code, "reason": bar.extra.get("reason"),
                       "until": bar.extra.get("until")} if bar is not None else None,
            "selected": sorted(selected),
            "figures": {"hours": f.minutes // 60, "points_earned": c.points(f.earned_steps),
                        "points_held": c.points(f.held_steps), "activities": f.activities}}


def choose(s: Session, holder_type: str, holder_id: int, *, catalog: str, level: str,
           selected: bool, actor_id: int, reason: str, actor_person_id: int | None = None,
           now: datetime | None = None) -> dict:
    """An admin's selection (or its withdrawal) of a holder for a level that asks for one;
    the level is then refreshed at once. Who may do it is the route's guard; nobody selects
    themself or their household (`self_award_forbidden`)."""
    from ledger.registry.lookup import refuse_self_award
    now = now or utcnow()
    refuse_self_award(s, actor_person_id, holder_type, holder_id)
    c = next((c for c in _schemes(s, holder_type, holder_id, now) if c.code == catalog), None)
    if c is None:
        raise NotFound(f"no levels of catalog {catalog!r} for this holder", code="no_levels")
    lv = next((x for x in c.levels.levels if x.code == level), None)
    if lv is None or not lv.selection:
        raise InvalidInput(f"level {level!r} asks for no selection", code="level_not_selected")
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidInput(f"a selection needs a reason of at most {MAX_REASON} characters",
                           code="reason_required")
    s.add(LevelChange(holder_type=holder_type, holder_id=holder_id, catalog=catalog,
                      change="selected" if selected else "deselected", level=level, rank=0,
                      reason=reason, actor_id=actor_id, at=now))
    s.flush()
    return next(v for v in refresh(s, holder_type, holder_id, now) if v["catalog"] == catalog)


def history(s: Session, holder_type: str, holder_id: int) -> list[dict]:
    rows = s.scalars(select(LevelChange).where(
        LevelChange.holder_type == holder_type, LevelChange.holder_id == holder_id)
        .order_by(LevelChange.id.desc()).limit(MAX_HISTORY))
    return [{"catalog": r.catalog, "change": r.change, "level": r.level, "rank": r.rank,
             "reason": r.reason, "actor_id": r.actor_id, "at": r.at.isoformat()} for r in rows]


def summary_for(db: Database, actor, holder_type: str, holder_id: int) -> Levels:
    """A holder's levels (`summary`, refreshed in its own transaction), for the holder or the
    staff of its village."""
    from ledger.rules.holders import require_own_or_staff, resolve_holder
    with db.transaction() as s:
        h = resolve_holder(s, holder_type, holder_id)
        require_own_or_staff(actor, holder_type, holder_id, h.village_id)
        return msgspec.convert(summary(s, holder_type, holder_id), Levels)


def select_for(db: Database, actor, holder_type: str, holder_id: int, *, catalog: str,
               level: str, selected: bool, reason: str) -> LevelScheme:
    """An admin of the holder's village selects (or withdraws) the holder for a level
    (`choose`)."""
    from ledger.rules.holders import resolve_holder
    with db.transaction() as s:
        h = resolve_holder(s, holder_type, holder_id)
        require(actor, "village.admin", h.village_id, "selecting for a level", code="forbidden")
        return msgspec.convert(choose(
            s, holder_type, holder_id, catalog=catalog, level=level, selected=selected,
            actor_id=actor.user_id, actor_person_id=actor.person_id, reason=reason),
            LevelScheme)


def summary(s: Session, holder_type: str, holder_id: int, now: datetime | None = None) -> dict:
    """For the holder's page and the API: each catalog's level, or the national stars."""
    schemes = refresh(s, holder_type, holder_id, now)
    out: dict = {"holder_type": holder_type, "holder_id": holder_id, "schemes": schemes,
                 "history": history(s, holder_type, holder_id)}
    if not schemes:  # the default: the national 1–5 stars
        from ledger.recognition.stars import star_level
        out["stars"] = star_level(s, holder_type, holder_id)
    return out


__all__ = ["Figures", "choose", "figures", "history", "level_now", "refresh", "summary"]
