"""Redemption as a signed-in caller asks for it: the catalog (admins see withdrawn rewards
too); a holder redeems from their own account or their household's, sees and cancels their
orders; a town admin any holder's, and sets up shops and their clerks; a clerk scans a voucher
at the counter. Each resolves whose accounts the caller may use, opens its own session, and
answers a type (schemas.py)."""

from __future__ import annotations

import msgspec
from sqlalchemy import select

from ledger.db import Database
from ledger.errors import Forbidden, NotFound
from ledger.identity.actor import Actor, may
from ledger.identity.models import AppUser
from ledger.identity.roles import CLERK
from ledger.identity.service import grant_role, normalize_login, roles_of
from ledger.journal.models import HolderType
from ledger.redemption import catalog, service
from ledger.redemption.eligibility import person_holders
from ledger.redemption.models import ProviderClerk, RedemptionOrder, Reward, Voucher
from ledger.redemption.schemas import (
    ClerkView,
    CounterView,
    OrderPage,
    OrderView,
    ProviderView,
    RewardPage,
    RewardView,
    ShopClerk,
)
from ledger.registry.lookup import village
from ledger.registry.models import Town

ANY_ORDER = "redemption.any_order"


def rewards(db: Database, actor: Actor, *, provider_id: int | None = None,
            include_unavailable: bool = False, limit: int = 50,
            after_id: int | None = None) -> RewardPage:
    """A page of the catalog as the actor may see it (`include_unavailable`: admins only)."""
    only_offered = not (include_unavailable and catalog.sees_unavailable(actor))
    with db.sessions() as s:
        return catalog.list_rewards(s, only_offered=only_offered, provider_id=provider_id,
                                    limit=limit, after_id=after_id)


def reward(db: Database, reward_id: int) -> RewardView:
    with db.sessions() as s:
        return msgspec.convert(catalog.reward_view(catalog.get_reward(s, reward_id)),
                               RewardView)


def providers(db: Database, town_id: int | None = None) -> list[ProviderView]:
    with db.sessions() as s:
        return catalog.list_providers(s, town_id)


def clerks(db: Database) -> dict[int, list[ShopClerk]]:
    """Each provider's clerks (by provider id), by login."""
    out: dict[int, list[ShopClerk]] = {}
    with db.sessions() as s:
        for provider_id, user_id, login, name in s.execute(
                select(ProviderClerk.provider_id, AppUser.id, AppUser.login, AppUser.name)
                .join(AppUser, AppUser.id == ProviderClerk.user_id).order_by(AppUser.login)):
            out.setdefault(provider_id, []).append(ShopClerk(user_id=user_id, login=login,
                                                             name=name))
    return out


def create_shop(db: Database, actor: Actor, *, name: str, kind: str, village_id: int | None,
                fen_per_point: int, key: str | None) -> ProviderView:
    """A provider in its village's town, or (a town-wide one) in the first town: the shops
    page names no town."""
    with db.sessions() as s:
        if village_id is not None:
            town_id = village(s, village_id).town_id
        else:
            town_id = s.scalar(select(Town.id).order_by(Town.id).limit(1)) or 1
    return catalog.create_provider(db, actor, town_id=town_id, name=name, kind=kind,
                                   village_id=village_id, fen_per_point=fen_per_point, key=key)


def add_clerk(db: Database, actor: Actor, provider_id: int, login: str, *,
              key: str | None) -> ClerkView:
    """Make the staff account with this login a clerk of the shop, first granting it the
    clerk role for the shop's village (town-wide for a town-wide shop) when it has none."""
    login = normalize_login(login)
    with db.sessions() as s:
        user_id = s.scalar(select(AppUser.id).where(AppUser.login == login)) if login else None
        village_id = catalog.provider_village(s, provider_id)
        has_role = user_id is not None and may(Actor(user_id, roles=roles_of(s, user_id)),
                                               (CLERK,), village_id)
    if user_id is None:
        raise NotFound(f"no user {login!r}", code="user_not_found", field="login")
    if not has_role:
        grant_role(db, actor, user_id, CLERK, village_id)
    return catalog.assign_clerk(db, actor, provider_id=provider_id, user_id=user_id, key=key)


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
              before_id: int | None = None) -> OrderPage:
    """A page of the actor's (and their household's) orders, newest first."""
    holders = holders_of(db, actor)
    with db.sessions() as s:
        return service.list_orders(s, holders, status=status, limit=limit, before_id=before_id)


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


def own_voucher_code(db: Database, actor: Actor, code: str) -> str:
    """A voucher's code, if it is the actor's own (a person's, not their household's): where
    its QR code leads its holder (/me/vouchers)."""
    if actor.person_id is None:
        raise NotFound("no voucher has this code", code="voucher_not_found")
    with db.sessions() as s:
        return service.holder_voucher_code(s, code, [(HolderType.PERSON, actor.person_id)])


def cancel_for(db: Database, actor: Actor, order_id: int, *, key: str | None) -> OrderView:
    """Cancel an unused voucher: its holder, or a town admin."""
    admin = may(actor, ANY_ORDER, None)
    return service.cancel(db, order_id=order_id, actor_id=actor.user_id,
                          holders=[] if admin else holders_of(db, actor), by_admin=admin,
                          key=key)


def at_counter(db: Database, code: str, clerk_user_id: int) -> CounterView:
    """What the counter sees after scanning a voucher, before handing anything over."""
    with db.sessions() as s:
        return service.voucher_for_clerk(s, code, clerk_user_id)


# ---- a resident's own (api/pages/volunteer.py: /me, /rewards, /me/vouchers) -----------------

def rewards_near(db: Database, actor: Actor | None, *, limit: int) -> list[RewardView]:
    """The rewards on offer where the actor lives (their town's shops); all of them for a
    visitor or an account without a person."""
    from ledger.registry.lookup import person_with_village
    with db.sessions() as s:
        town = None
        if actor is not None and actor.person_id is not None:
            town = person_with_village(s, actor.person_id)[1].town_id
        return catalog.list_rewards(s, town_id=town, limit=limit).items


def own_orders(db: Database, actor: Actor, *, limit: int) -> list[OrderView]:
    """The actor's own orders (not their household's), newest first: /me's list."""
    if actor.person_id is None:
        return []
    with db.sessions() as s:
        return service.list_orders(s, [("person", actor.person_id)], limit=limit).items


def own_voucher(db: Database, actor: Actor, code: str) -> OrderView:
    """The order of one of the actor's own vouchers (by its code, as printed or typed)."""
    canonical = own_voucher_code(db, actor, code)  # the one rule of whose vouchers are "own"
    with db.sessions() as s:
        v = service.voucher_by_code(s, canonical)
        order = s.get(RedemptionOrder, v.order_id)
        return msgspec.convert(service.order_view(order, v, s.get(Reward, order.reward_id)),
                               OrderView)
