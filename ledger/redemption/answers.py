"""Redemption as a signed-in caller asks for it: the catalog (admins see withdrawn rewards
too); a holder redeems from their own account or their household's, sees and cancels their
orders; a town admin any holder's; a clerk scans a voucher at the counter. Each resolves whose
accounts the caller may use, opens its own session, and answers a type (schemas.py)."""

from __future__ import annotations

import msgspec
from sqlalchemy import select

from ledger.db import Database
from ledger.errors import Forbidden, NotFound
from ledger.identity.actor import Actor, may
from ledger.redemption import catalog, service
from ledger.redemption.eligibility import person_holders
from ledger.redemption.models import RedemptionOrder, Reward, Voucher
from ledger.redemption.schemas import CounterView, OrderView, ProviderView, RewardView

ANY_ORDER = "redemption.any_order"


def rewards(db: Database, actor: Actor, *, provider_id: int | None = None,
            include_unavailable: bool = False, limit: int = 50,
            after_id: int | None = None) -> dict:
    """A page of the catalog as the actor may see it (`include_unavailable`: admins only),
    its items typed."""
    only_offered = not (include_unavailable and catalog.sees_unavailable(actor))
    with db.sessions() as s:
        page = catalog.list_rewards(s, only_offered=only_offered, provider_id=provider_id,
                                    limit=limit, after_id=after_id)
    return {**page, "items": msgspec.convert(page["items"], list[RewardView])}


def reward(db: Database, reward_id: int) -> RewardView:
    with db.sessions() as s:
        return msgspec.convert(catalog.reward_view(catalog.get_reward(s, reward_id)),
                               RewardView)


def providers(db: Database, town_id: int | None = None) -> list[ProviderView]:
    with db.sessions() as s:
        return msgspec.convert(catalog.list_providers(s, town_id), list[ProviderView])


def holders_of(db: Database, actor: Actor) -> list[tuple[str, int]]:
    """The accounts the actor redeems from and sees: their own, and their household's."""
    with db.sessions() as s:
        return person_holders(s, actor.person_id)


def _seen_by(db: Database, actor: Actor) -> list[tuple[str, int]] | None:
    """Whose orders the actor may see: None (anyone's) for a town admin."""
    return None if may(actor, ANY_ORDER, None) else holders_of(db, actor)


def redeem_for(db: Database, actor: Actor, *, reward_id: int, household: bool, quantity: int,
               key: str | None) -> OrderView:
    """Redeem from the actor's own account, or (`household`) from their household's."""
    wanted = "household" if household else "person"
    holder = next((h for h in holders_of(db, actor) if h[0] == wanted), None)
    if holder is None:
        raise Forbidden(f"this account has no {wanted} to redeem for", code="no_holder_account")
    return service.redeem(db, reward_id=reward_id, holder_type=holder[0], holder_id=holder[1],
                          quantity=quantity, actor_id=actor.user_id, key=key)


def orders_of(db: Database, actor: Actor, *, status: str | None = None, limit: int = 50,
              before_id: int | None = None) -> dict:
    """A page of the actor's (and their household's) orders, newest first, items typed."""
    holders = holders_of(db, actor)
    with db.sessions() as s:
        page = service.list_orders(s, holders, status=status, limit=limit, before_id=before_id)
    return {**page, "items": msgspec.convert(page["items"], list[OrderView])}


def order_of(db: Database, actor: Actor, order_id: int) -> OrderView:
    """One order, if the actor may see it (the same answer as no such order when not)."""
    holders = _seen_by(db, actor)
    with db.sessions() as s:
        order = s.get(RedemptionOrder, order_id)
        if order is None or (holders is not None
                             and (order.holder_type, order.holder_id) not in holders):
            raise NotFound(f"order {order_id} does not exist", code="order_not_found")
        v = s.scalar(select(Voucher).where(Voucher.order_id == order.id))
        return msgspec.convert(service.order_view(order, v, s.get(Reward, order.reward_id)),
                               OrderView)


def voucher_code_of(db: Database, actor: Actor, code: str) -> str:
    """A voucher's code, if the actor may see it (to draw its QR)."""
    holders = _seen_by(db, actor)
    with db.sessions() as s:
        return service.holder_voucher_code(s, code, holders)


def cancel_for(db: Database, actor: Actor, order_id: int, *, key: str | None) -> OrderView:
    """Cancel an unused voucher: its holder, or a town admin."""
    admin = may(actor, ANY_ORDER, None)
    return service.cancel(db, order_id=order_id, actor_id=actor.user_id,
                          holders=[] if admin else holders_of(db, actor), by_admin=admin,
                          key=key)


def at_counter(db: Database, code: str, clerk_user_id: int) -> CounterView:
    """What the counter sees after scanning a voucher, before handing anything over."""
    with db.sessions() as s:
        return msgspec.convert(service.voucher_for_clerk(s, code, clerk_user_id), CounterView)


# ---- a resident's own (api/pages/volunteer.py: /me, /rewards, /me/vouchers) -----------------

def rewards_near(db: Database, actor: Actor | None, *, limit: int) -> list[RewardView]:
    """The rewards on offer where the actor lives (their town's shops); all of them for a
    visitor or an account without a person."""
    from ledger.registry.lookup import person_with_village
    with db.sessions() as s:
        town = None
        if actor is not None and actor.person_id is not None:
            town = person_with_village(s, actor.person_id)[1].town_id
        items = catalog.list_rewards(s, town_id=town, limit=limit)["items"]
    return msgspec.convert(items, list[RewardView])


def own_orders(db: Database, actor: Actor, *, limit: int) -> list[OrderView]:
    """The actor's own orders (not their household's), newest first: /me's list."""
    if actor.person_id is None:
        return []
    with db.sessions() as s:
        page = service.list_orders(s, [("person", actor.person_id)], limit=limit)
    return msgspec.convert(page["items"], list[OrderView])


def own_voucher(db: Database, actor: Actor, code: str) -> OrderView:
    """The order of one of the actor's own vouchers (by its code, as printed or typed)."""
    holders = [("person", actor.person_id)] if actor.person_id is not None else []
    with db.sessions() as s:
        v = service.voucher_by_code(s, service.holder_voucher_code(s, code, holders))
        order = s.get(RedemptionOrder, v.order_id)
        return msgspec.convert(service.order_view(order, v, s.get(Reward, order.reward_id)),
                               OrderView)
