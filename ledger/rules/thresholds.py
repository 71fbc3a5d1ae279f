"""Thresholds with consequences, for redemption and recognition to read: redeem only at or
above a balance, flag benefits below one, a sanction that bars redemption for a while; and a
holder's standing with the expiries coming up (announced ahead on the holder's page)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import DomainError, Forbidden
from ledger.rules import spec as S
from ledger.rules import store
from ledger.rules.expiry import holder_fifo
from ledger.rules.holders import resolve_holder
from ledger.rules.models import AwardRecord, AwardStatus, Sanction
from ledger.rules.periods import local_date
from ledger.rules.service import holder_balance
from ledger.timeutil import utcnow
from ledger.units import value_fen

MAX_UPCOMING = 24


def _catalogs(s: Session, village_name: str | None, now: datetime) -> list[S.Catalog]:
    out = []
    for code in store.catalog_codes(s):
        c = store.catalog(s, code, on=local_date(now))
        if c.covers_village(village_name):
            out.append(c)
    return out


def active_bars(s: Session, holder_type: str, holder_id: int, now: datetime) -> list[Sanction]:
    return list(s.scalars(select(Sanction).where(
        Sanction.holder_type == holder_type, Sanction.holder_id == holder_id,
        Sanction.lifted_at.is_(None), Sanction.starts_at <= now, Sanction.ends_at > now)
        .order_by(Sanction.ends_at.desc())))


def standing(s: Session, holder_type: str, holder_id: int, now: datetime | None = None) -> dict:
    """Balance, thresholds and what they mean now, sanctions, pending awards on notice, and
    the expiries to come within each catalog's notice period."""
    now = now or utcnow()
    h = resolve_holder(s, holder_type, holder_id)
    bal = holder_balance(s, h)
    cats = _catalogs(s, h.village_name, now)
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
    return {
        "holder_type": holder_type, "holder_id": holder_id, "village_id": h.village_id,
        "balance": p(bal), "balance_steps": bal, "scale": scale,
        "catalogs": [c.code for c in cats],
        "point_value_fen": max((c.point_value_fen for c in cats), default=0),
        "redeem_min": p(redeem_min) if redeem_min is not None else None,
        "may_redeem": not bars and (redeem_min is None or bal >= redeem_min),
        "flag_below": p(flag_below) if flag_below is not None else None,
        "benefits_flagged": flag_below is not None and bal < flag_below,
        "redemption_barred_until": bars[0].ends_at.isoformat() if bars else None,
        "pending": [{"award_id": i, "item_name": n, "points": p(a),
                     "notice_until": u.isoformat() if u else None} for i, n, a, u in pending],
        "expiring": [{"at": t.isoformat(), "last_valid_day": (local_date(t) - timedelta(days=1))
                      .isoformat(), "points": p(n)}
                     for t, n in res.upcoming[:MAX_UPCOMING] if t <= horizon],
    }


def redemption_refusal(session: Session, holder_type: str, holder_id: int,
                       now: datetime | None = None) -> DomainError | None:
    """What the rules say against redeeming now, or None (read by ledger.redemption)."""
    now = now or utcnow()
    bars = active_bars(session, holder_type, holder_id, now)
    if bars:
        return Forbidden(f"因处罚暂停兑换至 {bars[0].ends_at.isoformat()} (redemption barred)",
                         code="redemption_barred", until=bars[0].ends_at.isoformat())
    h = resolve_holder(session, holder_type, holder_id)
    cats = _catalogs(session, h.village_name, now)
    need = [c for c in cats if c.redeem_min_steps is not None]
    if not need:
        return None
    c = max(need, key=lambda c: c.redeem_min_steps)
    bal = holder_balance(session, h)
    if bal < c.redeem_min_steps:
        return Forbidden(f"积分余额须达到 {c.points(c.redeem_min_steps)} 分方可兑换 (balance "
                         "below the redemption threshold)", code="below_redeem_threshold",
                         redeem_min=c.points(c.redeem_min_steps), balance=c.points(bal))
    return None


def settlement_value_fen(steps: int, c: S.Catalog) -> int:
    """What points are worth in settlement with a shop (1 point = point_value_fen fen)."""
    return value_fen(steps, c.scale, c.point_value_fen)
