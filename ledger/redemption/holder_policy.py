"""Holder-level redemption policy written in the rule catalog (`catalog.redemption`): at most K
orders per holder per period across all rewards, a per-reward limit for any period, redeeming
only on set days, and only after N certified activities attended. Each refusal has its own code
and says when the holder may next redeem (`next_on`, a local date) or what is still missing.

Checked in `service.redeem` after the holder's points account is locked (by the balance rules),
so two orders of one holder are counted one after the other and cannot both take the last
slot. Orders counted: those funded by the holder whose voucher is issued or used (cancelled and
expired orders give their slot back); draw prizes are not the holder's redemptions.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from ledger.errors import DomainError, Forbidden, LimitExceeded
from ledger.redemption.models import FundedBy, RedemptionOrder, Voucher, VoucherStatus
from ledger.rules import spec as S
from ledger.rules import store
from ledger.rules.holders import resolve_holder
from ledger.rules.periods import local_date, local_midnight, next_period_start, period_start

PERIOD_NAMES = {"week": "本周", "month": "本月", "quarter": "本季度", "half_year": "本半年",
                "year": "本年"}


def _orders(s: Session, holder_type: str, holder_id: int, since: datetime, *,
            exclude_order: int | None, reward_id: int | None = None) -> int:
    q = (select(func.count()).select_from(RedemptionOrder)
         .join(Voucher, Voucher.order_id == RedemptionOrder.id)
         .where(RedemptionOrder.holder_type == holder_type,
                RedemptionOrder.holder_id == holder_id,
                RedemptionOrder.funded_by == FundedBy.HOLDER,
                RedemptionOrder.created_at >= since,
                Voucher.status.in_((VoucherStatus.ISSUED, VoucherStatus.USED))))
    if exclude_order is not None:
        q = q.where(RedemptionOrder.id != exclude_order)
    if reward_id is not None:
        q = q.where(RedemptionOrder.reward_id == reward_id)
    return int(s.scalar(q) or 0)


def activities_attended(s: Session, holder_type: str, holder_id: int) -> int:
    """Distinct activities with a certified attendance: the person's, or a household's
    members' (ledger.activities keeps attendances)."""
    from ledger.activities.models import CERTIFIED_REVIEWS, Attendance, AttendanceState
    from ledger.registry.models import Person
    q = select(func.count(distinct(Attendance.activity_id))).where(
        Attendance.state == AttendanceState.CHECKED_OUT, Attendance.review.in_(CERTIFIED_REVIEWS))
    if holder_type == "household":
        q = q.join(Person, Person.id == Attendance.person_id).where(
            Person.household_id == holder_id)
    else:
        q = q.where(Attendance.person_id == holder_id)
    return int(s.scalar(q) or 0)


def _limit_refusal(s: Session, limits, holder_type: str, holder_id: int, today: date, *,
                   order_id: int | None, reward_id: int | None) -> DomainError | None:
    for period, k in limits:
        start = period_start(period, today)
        used = _orders(s, holder_type, holder_id, local_midnight(start),
                       exclude_order=order_id, reward_id=reward_id)
        if used >= k:
            nxt = next_period_start(period, today)
            what = "该奖品" if reward_id is not None else "兑换"
            return LimitExceeded(
                f"{PERIOD_NAMES[period]}{what}已达 {k} 次，{nxt.isoformat()} 起可再兑换 "
                f"({'reward' if reward_id is not None else 'holder'} limit of {k} a {period})",
                code="reward_period_limit" if reward_id is not None
                else "holder_redemption_limit", status=409, period=period, limit=k,
                used=used, next_on=nxt.isoformat())
    return None


def refusal(s: Session, policy: S.RedemptionPolicy, holder_type: str, holder_id: int, *,
            reward_id: int, order_id: int | None, now: datetime) -> DomainError | None:
    """Why this holder may not place this order now under the catalog's policy, or None."""
    today = local_date(now)
    if not policy.allows(today):
        nxt = policy.next_day(today)
        return Forbidden(f"今天不是兑换日，下一个兑换日是 {nxt.isoformat() if nxt else '—'} "
                         "(not a redemption day)", code="not_a_redemption_day",
                         next_on=nxt.isoformat() if nxt else None,
                         days_of_month=list(policy.days_of_month),
                         period_ends=list(policy.period_ends))
    if policy.min_activities:
        n = activities_attended(s, holder_type, holder_id)
        if n < policy.min_activities:
            return Forbidden(f"须参加 {policy.min_activities} 次活动后方可兑换，还差 "
                             f"{policy.min_activities - n} 次 (too few activities attended)",
                             code="too_few_activities", attended=n,
                             needed=policy.min_activities, next_on=None)
    return _limit_refusal(s, policy.per_holder, holder_type, holder_id, today,
                          order_id=order_id, reward_id=None) or \
        _limit_refusal(s, policy.per_reward, holder_type, holder_id, today,
                       order_id=order_id, reward_id=reward_id)


def holder_refusal(s: Session, holder_type: str, holder_id: int, *, reward_id: int,
                   order_id: int | None, now: datetime) -> DomainError | None:
    """The policies of every catalog covering the holder's village; the first refusal."""
    h = resolve_holder(s, holder_type, holder_id)
    for c in store.catalogs_for(s, h.village_name, now):
        if c.redemption is not None and (r := refusal(
                s, c.redemption, holder_type, holder_id, reward_id=reward_id,
                order_id=order_id, now=now)):
            return r
    return None
