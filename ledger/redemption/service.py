"""Orders and vouchers: redeem (hold points, count limits, reserve stock, issue a voucher, all in
one transaction), fulfil at the counter, cancel, and the expiry sweep. Every step is idempotent.

Rows are locked in one order everywhere — voucher, limit counters, the holder's account, the
provider's account, the reward — so redemptions, fulfilments and cancellations never deadlock,
and the reward's hot stock row is locked last, for the shortest time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
import structlog
from sqlalchemy import and_, bindparam, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ledger import paging
from ledger.db import Database
from ledger.errors import Conflict, DomainError, Forbidden, InvalidInput, LimitExceeded, NotFound
from ledger.journal import book, holds
from ledger.journal.models import Hold, HoldStatus, Unit
from ledger.redemption.catalog import (
    clerk_provider_id,
    get_provider,
    get_reward,
    provider_account,
)
from ledger.redemption.eligibility import (
    DEFAULT_POLICY,
    Holder,
    Policy,
    availability_refusal,
    eligibility_refusal,
    load_holder,
)
from ledger.redemption.models import (
    FundedBy,
    RedemptionCounter,
    RedemptionOrder,
    Reward,
    Voucher,
    VoucherStatus,
)
from ledger.redemption import holder_policy
from ledger.redemption.schemas import CounterView, OrderPage, OrderView
from ledger.redemption.vouchers import display_code, new_code, normalize_code
from ledger.timeutil import LOCAL_TZ, UTCDateTime, utcnow
from ledger.view import typed

log = structlog.get_logger("jifen.redemption")
MAX_QUANTITY = 10  # units of one reward in one order
HOLD_GRACE_S = 7 * 24 * 3600  # a hold outlives its voucher, so only our sweep releases it
SWEEP_BATCH = 500
MAX_PAGE = paging.MAX_PAGE

_now = bindparam("now", type_=UTCDateTime())
TAKE_STOCK = text("UPDATE reward SET reserved = reserved + :q WHERE id = :id "
                  "AND (stock IS NULL OR stock - reserved - issued >= :q) RETURNING id")
RELEASE_STOCK = text("UPDATE reward SET reserved = reserved - :q WHERE id = :id")
ISSUE_STOCK = text("UPDATE reward SET reserved = reserved - :q, issued = issued + :q "
                   "WHERE id = :id")
_COUNT = text("UPDATE redemption_counter SET used = used + :q WHERE reward_id = :r "
              "AND holder_type = :t AND holder_id = :h AND period = :p "
              "AND (:limit < 0 OR used + :q <= :limit) RETURNING used")
_UNCOUNT = text("UPDATE redemption_counter SET used = used - :q WHERE reward_id = :r "
                "AND holder_type = :t AND holder_id = :h AND period = :p")
_USE = text("UPDATE voucher SET status = 'used', resolved_at = :now, resolved_by = :actor "
            "WHERE id = :id AND status = 'issued' AND expires_at > :now RETURNING id"
            ).bindparams(_now)
_CLOSE = text("UPDATE voucher SET status = :status, resolved_at = :now, resolved_by = :actor "
              "WHERE id = :id AND status = 'issued' RETURNING id").bindparams(_now)
_CLOSE_EXPIRED = text("UPDATE voucher SET status = 'expired', resolved_at = :now "
                      "WHERE id = :id AND status = 'issued' AND expires_at <= :now RETURNING id"
                      ).bindparams(_now)
_SET_ENTRY = text("UPDATE voucher SET entry_id = :e WHERE id = :id")


def periods(now: datetime) -> tuple[str, str]:
    """The local month and year an order counts against."""
    local = now.astimezone(LOCAL_TZ)
    return f"{local.year:04d}-{local.month:02d}", f"{local.year:04d}"


def _insert_ignore(s: Session):
    return pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert


def _count(s: Session, reward: Reward, holder: Holder, period: str, quantity: int,
           limit: int | None) -> None:
    """Add to the holder's counter for the period, refusing past the limit (race-safe: the
    check and the increment are one guarded UPDATE on the counter row)."""
    key = {"r": reward.id, "t": holder.holder_type, "h": holder.holder_id, "p": period}
    s.execute(_insert_ignore(s)(RedemptionCounter).values(
        reward_id=reward.id, holder_type=holder.holder_type, holder_id=holder.holder_id,
        period=period, used=0).on_conflict_do_nothing())
    if s.execute(_COUNT, {**key, "q": quantity,
                          "limit": -1 if limit is None else limit}).first() is None:
        used = s.scalar(select(RedemptionCounter.used).where(
            RedemptionCounter.reward_id == reward.id,
            RedemptionCounter.holder_type == holder.holder_type,
            RedemptionCounter.holder_id == holder.holder_id, RedemptionCounter.period == period))
        raise LimitExceeded(f"the limit for {period} is {limit}; {used} already redeemed",
                            code="limit_reached", status=409, period=period, limit=limit,
                            used=used)


def _uncount(s: Session, order: RedemptionOrder) -> None:
    for period in (order.month, order.year):
        s.execute(_UNCOUNT, {"q": order.quantity, "r": order.reward_id,
                             "t": order.holder_type, "h": order.holder_id, "p": period})


def check_quantity(quantity: object) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool) \
            or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidInput(f"quantity must be a whole number in 1..{MAX_QUANTITY}",
                           code="invalid_quantity", max_quantity=MAX_QUANTITY)
    return quantity


def take_stock(s: Session, reward: Reward, quantity: int) -> None:
    if s.execute(TAKE_STOCK, {"q": quantity, "id": reward.id}).first() is None:
        raise Conflict(f"reward {reward.id} has fewer than {quantity} left",
                       code="out_of_stock")


def issue_voucher(s: Session, order: RedemptionOrder, reward: Reward, now: datetime) -> Voucher:
    v = Voucher(order_id=order.id, provider_id=order.provider_id, code=new_code(),
                status=VoucherStatus.ISSUED, issued_at=now,
                expires_at=now + timedelta(seconds=reward.voucher_ttl_s))
    s.add(v)
    s.flush()
    return v


def order_view(order: RedemptionOrder, voucher: Voucher, reward: Reward) -> dict:
    return {
        "order_id": order.id, "reward": {"id": reward.id, "name": reward.name,
                                         "kind": reward.kind},
        "provider_id": order.provider_id, "holder_type": order.holder_type,
        "holder_id": order.holder_id, "quantity": order.quantity,
        "unit_cost_points": order.unit_cost_points, "amount_points": order.amount_points,
        "funded_by": order.funded_by, "draw_id": order.draw_id, "hold_id": order.hold_id,
        "created_at": order.created_at.isoformat(),
        "voucher": {"code": voucher.code, "display_code": display_code(voucher.code),
                    "status": voucher.status, "expires_at": voucher.expires_at.isoformat(),
                    "resolved_at": voucher.resolved_at.isoformat() if voucher.resolved_at
                    else None, "entry_id": voucher.entry_id},
    }


def redeem(db: Database, *, reward_id: int, holder_type: str, holder_id: int, quantity: int,
           actor_id: int | None, key: str | None, now: datetime | None = None,
           policy: Policy = DEFAULT_POLICY) -> OrderView:
    """Order `quantity` units for the holder: a hold on their points, limits counted, stock
    reserved and a voucher issued, all or nothing. Same key and request → the first result."""
    check_quantity(quantity)
    req = {"op": "redeem", "reward": reward_id, "holder": [str(holder_type), holder_id],
           "quantity": quantity}

    def work(s: Session) -> dict:
        at = now or utcnow()
        reward = get_reward(s, reward_id)
        refusal = availability_refusal(reward, at,
                                       provider_active=get_provider(s, reward.provider_id).active)
        if refusal is None and reward.stock is not None \
                and reward.stock - reward.reserved - reward.issued < quantity:
            refusal = Conflict(f"reward {reward.id} has fewer than {quantity} left",
                               code="out_of_stock")
        if refusal:
            raise refusal
        holder = load_holder(s, holder_type, holder_id)
        refusal = eligibility_refusal(s, reward, holder, policy)
        if refusal:
            raise refusal
        month, year = periods(at)
        amount = reward.cost_points * quantity
        order = RedemptionOrder(
            reward_id=reward.id, provider_id=reward.provider_id, holder_type=holder.holder_type,
            holder_id=holder.holder_id, quantity=quantity, unit_cost_points=reward.cost_points,
            amount_points=amount, funded_by=FundedBy.HOLDER, month=month, year=year,
            placed_by=actor_id, created_at=at)
        s.add(order)
        s.flush()
        _count(s, reward, holder, month, quantity, reward.limit_per_month)
        _count(s, reward, holder, year, quantity, reward.limit_per_year)
        # Balance rules read what is available under the lock the hold then takes (guarantee 8)
        refusal = policy.balance_refusal(s, holder, amount, at) or holder_policy.holder_refusal(
            s, holder.holder_type, holder.holder_id, reward_id=reward.id, order_id=order.id,
            now=at)
        if refusal:
            raise refusal
        order.hold_id = holds.reserve(
            s, unit=Unit.POINTS, debit_account_id=holder.account_id,
            credit_account_id=provider_account(s, reward.provider_id), amount=amount,
            ttl_s=reward.voucher_ttl_s + HOLD_GRACE_S, memo=f"兑换 {reward.name} ×{quantity}",
            source="redemption", source_ref=str(order.id),
            details={"order_id": order.id, "reward_id": reward.id, "quantity": quantity,
                     "unit_cost_points": reward.cost_points}, now=at)
        take_stock(s, reward, quantity)
        voucher = issue_voucher(s, order, reward, at)
        return order_view(order, voucher, reward)

    return msgspec.convert(book.write(db, work, key=key, request=req).result, OrderView)


def _state_refusal(v: Voucher, now: datetime) -> Conflict | None:
    if v.status == VoucherStatus.USED:
        return Conflict(f"voucher was used at {v.resolved_at.isoformat()}",
                        code="voucher_already_used", used_at=v.resolved_at.isoformat())
    if v.status == VoucherStatus.CANCELLED:
        return Conflict("voucher was cancelled", code="voucher_cancelled")
    if v.status == VoucherStatus.EXPIRED or v.expires_at <= now:
        return Conflict(f"voucher expired at {v.expires_at.isoformat()}",
                        code="voucher_expired", status=410,
                        expires_at=v.expires_at.isoformat())
    return None


def voucher_by_code(s: Session, code: str) -> Voucher:
    canonical = normalize_code(code)
    v = s.scalar(select(Voucher).where(Voucher.code == canonical)) if canonical else None
    if v is None:
        raise NotFound("no voucher has this code", code="voucher_not_found")
    return v


def _clerk_voucher(s: Session, code: str, clerk_user_id: int) -> Voucher:
    v = voucher_by_code(s, code)
    provider_id = clerk_provider_id(s, clerk_user_id)
    if provider_id is None:
        raise Forbidden("this account is not a clerk of any shop", code="clerk_not_assigned")
    if v.provider_id != provider_id:
        raise Forbidden("this voucher is for another shop", code="voucher_wrong_provider",
                        provider_id=v.provider_id)
    return v


def fulfil(db: Database, *, code: str, clerk_user_id: int, key: str | None,
           now: datetime | None = None) -> OrderView:
    """A clerk hands the reward over: the voucher is used and the hold posts to the provider.
    Exactly once however many counters scan it at the same moment."""
    canonical = normalize_code(code) or code

    def work(s: Session) -> dict:
        at = now or utcnow()
        v = _clerk_voucher(s, canonical, clerk_user_id)
        refusal = _state_refusal(v, at)
        if refusal:
            raise refusal
        if s.execute(_USE, {"now": at, "actor": clerk_user_id, "id": v.id}).first() is None:
            s.refresh(v)  # another counter won: say what happened to it
            raise _state_refusal(v, at) or Conflict("voucher is no longer open",
                                                    code="voucher_already_used")
        order = s.get(RedemptionOrder, v.order_id)
        reward = s.get(Reward, order.reward_id)
        entry = holds.post_hold(
            s, order.hold_id, kind="redeem", memo=f"兑换 {reward.name} ×{order.quantity}",
            actor_id=clerk_user_id, now=at,
            details={"order_id": order.id, "voucher_id": v.id, "reward_id": reward.id,
                     "provider_id": order.provider_id, "quantity": order.quantity,
                     "funded_by": order.funded_by, "draw_id": order.draw_id})
        s.execute(ISSUE_STOCK, {"q": order.quantity, "id": reward.id})
        s.execute(_SET_ENTRY, {"e": entry.id, "id": v.id})
        s.refresh(v)
        return order_view(order, v, reward)

    return msgspec.convert(book.write(db, work, key=key, request={"op": "fulfil",
                                                                 "code": canonical}).result,
                           OrderView)


def _release(s: Session, order: RedemptionOrder, *, expired: bool, now: datetime) -> None:
    """Give back what an unused voucher held: limit counters, the points hold, the stock."""
    if order.funded_by == FundedBy.HOLDER:
        _uncount(s, order)
    try:
        holds.void_hold(s, order.hold_id, expired=expired, now=now)
    except Conflict:
        # The journal's own hold sweep may have released it already. A hold posted outside
        # redemption (the ledger's generic hold API) cannot be released here: an admin
        # reverses that entry first.
        status = s.scalar(select(Hold.status).where(Hold.id == order.hold_id))
        if status not in (HoldStatus.VOIDED, HoldStatus.EXPIRED):
            raise Conflict(f"the points of order {order.id} were already posted outside "
                           f"redemption (hold {order.hold_id}); reverse that entry first",
                           code="hold_posted", hold_id=order.hold_id) from None
    s.execute(RELEASE_STOCK, {"q": order.quantity, "id": order.reward_id})


def cancel(db: Database, *, order_id: int, actor_id: int | None, key: str | None,
           holders: list[tuple[str, int]] | None = None, holder: tuple[str, int] | None = None,
           by_admin: bool = False, now: datetime | None = None) -> OrderView:
    """The holder (the order's holder is `holder` or among `holders`) or an admin (`by_admin`)
    cancels an unused voucher; points, stock and the holder's limit are released."""
    mine = [(str(t), int(i)) for t, i in (holders or [])] + ([(str(holder[0]), int(holder[1]))]
                                                            if holder else [])

    def work(s: Session) -> dict:
        at = now or utcnow()
        order = s.get(RedemptionOrder, order_id)
        if order is None or not (by_admin or (order.holder_type, order.holder_id) in mine):
            raise NotFound(f"order {order_id} does not exist", code="order_not_found")
        v = s.scalar(select(Voucher).where(Voucher.order_id == order.id))
        if v.status != VoucherStatus.ISSUED:
            raise _state_refusal(v, at)
        if s.execute(_CLOSE, {"status": VoucherStatus.CANCELLED.value, "now": at,
                              "actor": actor_id, "id": v.id}).first() is None:
            s.refresh(v)
            raise _state_refusal(v, at)
        _release(s, order, expired=False, now=at)
        s.refresh(v)
        return order_view(order, v, s.get(Reward, order.reward_id))

    return msgspec.convert(book.write(db, work, key=key, request={
        "op": "cancel", "order": order_id}).result, OrderView)


def sweep_expired_vouchers(db: Database, now: datetime | None = None) -> int:
    """Expire every unused voucher past its time, releasing points, stock and limits. Safe to
    run twice or in parallel (each voucher closes by one conditional UPDATE)."""
    at = now or utcnow()
    done, last_id = 0, 0
    while True:
        with db.sessions() as s:
            ids = list(s.scalars(select(Voucher.id).where(
                Voucher.status == VoucherStatus.ISSUED, Voucher.expires_at <= at,
                Voucher.id > last_id).order_by(Voucher.id).limit(SWEEP_BATCH)))
        if not ids:
            return done
        for vid in ids:
            try:
                done += book.write(db, lambda s, vid=vid: _expire_one(s, vid, at)
                                   ).result["expired"]
            except DomainError as exc:  # one bad voucher must not stop the sweep
                log.warning("voucher_expiry_refused", voucher_id=vid, code=exc.code,
                             detail=exc.detail)
        last_id = ids[-1]


def _expire_one(s: Session, voucher_id: int, now: datetime) -> dict:
    if s.execute(_CLOSE_EXPIRED, {"now": now, "id": voucher_id}).first() is None:
        return {"expired": 0}  # used, cancelled or expired meanwhile
    order_id = s.scalar(select(Voucher.order_id).where(Voucher.id == voucher_id))
    _release(s, s.get(RedemptionOrder, order_id), expired=True, now=now)
    return {"expired": 1}


def voucher_for_clerk(s: Session, code: str, clerk_user_id: int,
                      now: datetime | None = None) -> CounterView:
    """What the counter sees after a scan, before handing anything over."""
    v = _clerk_voucher(s, code, clerk_user_id)
    order = s.get(RedemptionOrder, v.order_id)
    refusal = _state_refusal(v, now or utcnow())
    return typed({**order_view(order, v, s.get(Reward, order.reward_id)),
                  "usable": refusal is None, "refusal": refusal.code if refusal else None},
                 CounterView)


def holder_voucher_code(s: Session, code: str, holders: list[tuple[str, int]] | None) -> str:
    """The code, if the voucher belongs to one of `holders` (for showing its QR)."""
    v = voucher_by_code(s, code)
    order = s.get(RedemptionOrder, v.order_id)
    if holders is not None and (order.holder_type, order.holder_id) not in holders:
        raise NotFound("no voucher has this code", code="voucher_not_found")
    return v.code


def list_orders(s: Session, holders: list[tuple[str, int]], *, status: str | None = None,
                limit: int = 50, before_id: int | None = None) -> OrderPage:
    """The holders' orders, newest first, `limit` at a time."""
    paging.check_limit(limit)
    if status is not None and status not in set(VoucherStatus):
        raise InvalidInput(f"status must be one of {', '.join(VoucherStatus)}",
                           code="invalid_status")
    if not holders:
        return OrderPage(items=[], next_before_id=None)
    q = (select(RedemptionOrder, Voucher, Reward)
         .join(Voucher, Voucher.order_id == RedemptionOrder.id)
         .join(Reward, Reward.id == RedemptionOrder.reward_id)
         .where(or_(*[and_(RedemptionOrder.holder_type == t, RedemptionOrder.holder_id == i)
                      for t, i in holders]))
         .order_by(RedemptionOrder.id.desc()).limit(limit))
    if status is not None:
        q = q.where(Voucher.status == status)
    if before_id is not None:
        q = q.where(RedemptionOrder.id < before_id)
    items = typed([order_view(o, v, r) for o, v, r in s.execute(q)], list[OrderView])
    return OrderPage(items=items,
                     next_before_id=items[-1].order_id if len(items) == limit else None)
