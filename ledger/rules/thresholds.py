"""Thresholds with consequences, for redemption and recognition to read: redeem only at or
above a balance, flag benefits below one, a sanction that bars redemption for a while; and a
holder's standing with the expiries coming up (announced ahead on the holder's page)."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import DomainError, Forbidden
from ledger.rules import spec as S
from ledger.rules import standing as standing_states
from ledger.rules.expiry import holder_fifo
from ledger.rules.holders import holder_available, require_own_or_staff, resolve_holder
from ledger.rules.models import AwardRecord, AwardStatus, Sanction
from ledger.rules.periods import local_date
from ledger.rules.schemas import Standing
from ledger.rules.service import holder_balance
from ledger.rules.store import catalogs_for
from ledger.timeutil import utcnow
from ledger.units import value_fen

MAX_UPCOMING = 24


def active_bars(s: Session, holder_type: str, holder_id: int, now: datetime) -> list[Sanction]:
    return list(s.scalars(select(Sanction).where(
        Sanction.holder_type == holder_type, Sanction.holder_id == holder_id,
        Sanction.lifted_at.is_(None), Sanction.starts_at <= now, Sanction.ends_at > now)
        .order_by(Sanction.ends_at.desc())))


def standing_for(db: Database, actor, holder_type: str, holder_id: int) -> Standing:
    """A holder's standing (`standing`), for the holder or the staff of its village."""
    with db.sessions() as s:
        view = standing(s, holder_type, holder_id)
    require_own_or_staff(actor, holder_type, holder_id, view["village_id"])
    return msgspec.convert(view, Standing)


def standing(s: Session, holder_type: str, holder_id: int, now: datetime | None = None) -> dict:
    """Balance, thresholds and what they mean now, sanctions, pending awards on notice, and
    the expiries to come within each catalog's notice period."""
    now = now or utcnow()
    h = resolve_holder(s, holder_type, holder_id)
    bal = holder_balance(s, h)
    cats = catalogs_for(s, h.village_name, now)
    scale = max((c.scale for c in cats), default=1)
    redeem_min = max((c.redeem_min_steps for c in cats if c.redeem_min_steps is not None),
                     default=None)
    flag_below = max((c.flag_below_steps for c in cats if c.flag_below_steps is not None),
                     default=None)
    notice_days = max((c.expiry.notice_days for c in cats if c.expiry), default=0)
    res = holder_fifo(s, holder_type, holder_id, now)
    horizon = now + timedelta(days=notice_days)
    bars = active_bars(s, holder_type, holder_id, now)
    pending = s.execute(select(AwardRecord.id, AwardRecord.item_name, AwardRecord.amount_steps,
                               AwardRecord.notice_until).where(
        AwardRecord.holder_type == holder_type, AwardRecord.holder_id == holder_id,
        AwardRecord.status.in_([AwardStatus.ON_NOTICE, AwardStatus.IN_REVIEW]))).all()
    p = lambda n: S.points_of(n, scale)
    available = holder_available(s, h)
    floor = max((c.floor_steps for c in cats if c.floor_steps is not None), default=None)
    states = standing_states.compute(s, holder_type, holder_id, now)
    stop = states.stopping("redeem")
    return {
        "holder_type": holder_type, "holder_id": holder_id, "village_id": h.village_id,
        "balance": p(bal), "balance_steps": bal, "scale": scale,
        "available": p(available), "available_steps": available,
        "floor": p(floor) if floor is not None else None,
        "spendable": p(max(available - (floor or 0), 0)),
        "states": [x.as_dict() for x in states.states],
        "standing_history": standing_states.history(s, holder_type, holder_id),
        "redemption_policy": _policy_view(cats, now),
        "catalogs": [c.code for c in cats],
        "point_value_fen": max((c.point_value_fen for c in cats), default=0),
        "redeem_min": p(redeem_min) if redeem_min is not None else None,
        "may_redeem": not bars and stop is None and (redeem_min is None
                                                      or available >= redeem_min),
        "flag_below": p(flag_below) if flag_below is not None else None,
        "benefits_flagged": flag_below is not None and bal < flag_below,
        "redemption_barred_until": bars[0].ends_at.isoformat() if bars else None,
        "pending": [{"award_id": i, "item_name": n, "points": p(a),
                     "notice_until": u.isoformat() if u else None} for i, n, a, u in pending],
        "expiring": [{"at": t.isoformat(), "last_valid_day": (local_date(t) - timedelta(days=1))
                      .isoformat(), "points": p(n)}
                     for t, n in res.upcoming[:MAX_UPCOMING] if t <= horizon],
    }


def _policy_view(cats: list[S.Catalog], now: datetime) -> list[dict]:
    """Each catalog's holder-level redemption policy and the next day it allows."""
    out = []
    today = local_date(now)
    for c in cats:
        r = c.redemption
        if r is None:
            continue
        nxt = today if r.allows(today) else r.next_day(today)
        out.append({"catalog": c.code, "per_holder": dict(r.per_holder),
                    "per_reward": dict(r.per_reward), "days_of_month": list(r.days_of_month),
                    "period_ends": list(r.period_ends), "min_activities": r.min_activities,
                    "next_redemption_day": nxt.isoformat() if nxt else None})
    return out


def redemption_refusal(session: Session, holder_type: str, holder_id: int,
                       now: datetime | None = None) -> DomainError | None:
    """What the rules say against redeeming now, or None (read by ledger.redemption)."""
    now = now or utcnow()
    stop = standing_states.refusal(session, holder_type, holder_id, "redeem", now)
    if stop is not None:
        return stop
    bars = active_bars(session, holder_type, holder_id, now)
    if bars:
        return Forbidden(f"因处罚暂停兑换至 {bars[0].ends_at.isoformat()} (redemption barred)",
                         code="redemption_barred", until=bars[0].ends_at.isoformat())
    h = resolve_holder(session, holder_type, holder_id)
    cats = catalogs_for(session, h.village_name, now)
    need = [c for c in cats if c.redeem_min_steps is not None]
    if not need:
        return None
    c = max(need, key=lambda c: c.redeem_min_steps)
    return _below_minimum(c, holder_available(session, h))


def _below_minimum(c: S.Catalog, available: int) -> DomainError | None:
    if available < c.redeem_min_steps:
        return Forbidden(f"可用积分须达到 {c.points(c.redeem_min_steps)} 分方可兑换 (available "
                         "points below the redemption threshold)", code="below_redeem_threshold",
                         redeem_min=c.points(c.redeem_min_steps), available=c.points(available))
    return None


def balance_refusal(session: Session, holder_type: str, holder_id: int, *, account_id: int,
                    amount_steps: int, now: datetime | None = None) -> DomainError | None:
    """The balance rules against spending `amount_steps` now, read under the account's lock
    right before the hold: the minimum to redeem at all (`redeem_min`) and the floor that is
    never spent (`floor`), both on what is available. Called by ledger.redemption."""
    now = now or utcnow()
    h = resolve_holder(session, holder_type, holder_id)
    available = holder_available(session, h, account_id=account_id, lock=True)
    cats = catalogs_for(session, h.village_name, now)
    mins = [c for c in cats if c.redeem_min_steps is not None]
    if mins and (refusal := _below_minimum(max(mins, key=lambda c: c.redeem_min_steps),
                                           available)):
        return refusal
    floors = [c for c in cats if c.floor_steps is not None]
    if floors:
        c = max(floors, key=lambda c: c.floor_steps)
        if available - amount_steps < c.floor_steps:
            room = max(available - c.floor_steps, 0)
            return Forbidden(f"须保留 {c.points(c.floor_steps)} 分底数，本次最多可用 "
                             f"{c.points(room)} 分 (only points above the floor can be spent)",
                             code="below_floor", floor=c.points(c.floor_steps),
                             available=c.points(available), spendable=c.points(room))
    return None


def settlement_value_fen(steps: int, c: S.Catalog) -> int:
    """What points are worth in settlement with a shop (1 point = point_value_fen fen)."""
    return value_fen(steps, c.scale, c.point_value_fen)
