"""The reward catalog: providers (shops and partners) with their clerks, rewards with cost, stock,
limits, eligibility and an availability window. Every admin write is keyed (idempotent)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from ledger import paging
from ledger.registry.models import Town, Village
from ledger.db import Database
from ledger.errors import Conflict, Forbidden, InvalidInput, NotFound
from ledger.identity.actor import ANYWHERE, Actor, may
from ledger.journal import book
from ledger.journal.accounts import open_account
from ledger.journal.models import HolderType, Purpose, Unit
from ledger.redemption.eligibility import MAX_STAR_LEVEL
from ledger.redemption.models import (
    HolderKinds,
    Provider,
    ProviderClerk,
    ProviderKind,
    Reward,
    RewardKind,
)
from ledger.redemption.schemas import (
    ClerkRemoved,
    ClerkView,
    ProviderView,
    RewardPage,
    RewardView,
)
from ledger.timeutil import UTCDateTime, utcnow
from ledger.view import typed

MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 1000
MAX_COST_POINTS = 1_000_000
MAX_STOCK = 10_000_000
MAX_HOLDER_LIMIT = 1000  # units per holder per month or year
MAX_FEN_PER_POINT = 100_000  # 1000 yuan per point: far above any real scheme
MIN_VOUCHER_TTL_S = 600
MAX_VOUCHER_TTL_S = 60 * 24 * 3600
DEFAULT_VOUCHER_TTL_S = 14 * 24 * 3600
MAX_PAGE = paging.MAX_PAGE
PROVIDER_KINDS = tuple(k.value for k in ProviderKind)  # as a form offers them
REWARD_KINDS = tuple(k.value for k in RewardKind)  # a form's choices, in order

REWARD_FIELDS = ("name", "description", "kind", "cost_points", "limit_per_month",
                 "limit_per_year", "min_star_level", "village_id", "holder_kinds",
                 "available_from", "available_until", "voucher_ttl_s", "active")

_SET_STOCK = text("UPDATE reward SET stock = :stock, updated_at = :now "
                  "WHERE id = :id AND :stock >= reserved + issued RETURNING id"
                  ).bindparams(bindparam("now", type_=UTCDateTime()))
_UNLIMITED = text("UPDATE reward SET stock = NULL, updated_at = :now WHERE id = :id RETURNING id"
                  ).bindparams(bindparam("now", type_=UTCDateTime()))
_ADD_STOCK = text("UPDATE reward SET stock = stock + :add, updated_at = :now "
                  "WHERE id = :id AND stock IS NOT NULL AND stock + :add >= reserved + issued "
                  "AND stock + :add <= :max RETURNING id"
                  ).bindparams(bindparam("now", type_=UTCDateTime()))


def _text(value: Any, field: str, max_chars: int, *, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_chars:
        raise InvalidInput(f"{field} must be text of 1..{max_chars} characters",
                           code=f"invalid_{field}")
    return value.strip()


def _int_or_none(value: Any, field: str, lo: int, hi: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidInput(f"{field} must be a whole number in {lo}..{hi}",
                           code=f"invalid_{field}")
    return value


def _check_village(s: Session, village_id: int | None, town_id: int) -> None:
    if village_id is None:
        return
    village = s.get(Village, village_id)
    if village is None or village.town_id != town_id:
        raise NotFound(f"village {village_id} is not in town {town_id}", code="village_not_found")


def check_admin(actor: Actor, village_id: int | None) -> None:
    """A shop is managed by the town's admins, or by the admins of the shop's village."""
    if not may(actor, "village.admin", village_id):
        raise Forbidden("only the town's admins, or this shop's village admins, may do this",
                        code="forbidden_village")


def sees_unavailable(actor: Actor) -> bool:
    """Admins (of any village) may list withdrawn and out-of-window rewards too."""
    return may(actor, "village.admin", ANYWHERE)


def get_provider(s: Session, provider_id: int) -> Provider:
    provider = s.get(Provider, provider_id)
    if provider is None:
        raise NotFound(f"provider {provider_id} does not exist", code="provider_not_found")
    return provider


def provider_account(s: Session, provider_id: int) -> int:
    return open_account(s, holder_type=HolderType.PROVIDER, holder_id=provider_id,
                        purpose=Purpose.REDEEMED, unit=Unit.POINTS)


def provider_view(p: Provider) -> dict:
    return {"id": p.id, "town_id": p.town_id, "village_id": p.village_id, "name": p.name,
            "kind": p.kind, "fen_per_point": p.fen_per_point, "active": p.active}


def create_provider(db: Database, actor: Actor, *, town_id: int, name: str, kind: str,
                    village_id: int | None = None, fen_per_point: int = 100,
                    key: str | None) -> ProviderView:
    """A shop or partner, with its redeemed account (`account_id`)."""
    check_admin(actor, village_id)
    name = _text(name, "name", MAX_NAME_CHARS)
    if kind not in set(ProviderKind):
        raise InvalidInput(f"kind must be one of {', '.join(ProviderKind)}", code="invalid_kind")
    _int_or_none(fen_per_point, "fen_per_point", 0, MAX_FEN_PER_POINT)
    req = {"op": "create_provider", "town": town_id, "name": name, "kind": kind,
           "village": village_id, "fen": fen_per_point}

    def work(s: Session) -> dict:
        if s.get(Town, town_id) is None:
            raise NotFound(f"town {town_id} does not exist", code="town_not_found")
        _check_village(s, village_id, town_id)
        if s.scalar(select(Provider.id).where(Provider.town_id == town_id,
                                              Provider.name == name)) is not None:
            raise Conflict(f"a provider named {name!r} exists", code="provider_name_taken")
        p = Provider(town_id=town_id, village_id=village_id, name=name, kind=kind,
                     fen_per_point=fen_per_point, active=True, created_at=utcnow())
        s.add(p)
        s.flush()
        return {**provider_view(p), "account_id": provider_account(s, p.id)}

    return msgspec.convert(book.write(db, work, key=key, request=req).result, ProviderView)


def update_provider(db: Database, actor: Actor, provider_id: int, *, changes: dict,
                    key: str | None) -> ProviderView:
    """Rename, change the settlement value, or close (`active` false: its rewards leave the
    catalog; vouchers already issued are still honoured at its counter)."""
    unknown = set(changes) - {"name", "fen_per_point", "active"}
    if unknown:
        raise InvalidInput(f"unknown provider fields: {', '.join(sorted(unknown))}",
                           code="invalid_provider_field")
    if "name" in changes:
        changes = {**changes, "name": _text(changes["name"], "name", MAX_NAME_CHARS)}
    if "fen_per_point" in changes:
        _int_or_none(changes["fen_per_point"], "fen_per_point", 0, MAX_FEN_PER_POINT)
    if not isinstance(changes.get("active", True), bool):
        raise InvalidInput("active is true or false", code="invalid_active")

    def work(s: Session) -> dict:
        p = get_provider(s, provider_id)
        check_admin(actor, p.village_id)
        if "name" in changes and changes["name"] != p.name and s.scalar(
                select(Provider.id).where(Provider.town_id == p.town_id,
                                          Provider.name == changes["name"])) is not None:
            raise Conflict(f"a provider named {changes['name']!r} exists",
                           code="provider_name_taken")
        for name, value in changes.items():
            setattr(p, name, value)
        s.flush()
        return provider_view(p)

    return msgspec.convert(book.write(db, work, key=key, request={
        "op": "update_provider", "provider": provider_id, "changes": changes}).result,
        ProviderView)


def assign_clerk(db: Database, actor: Actor, *, provider_id: int, user_id: int,
                 key: str | None) -> ClerkView:
    """Make the user a clerk of this provider (moving them from any other)."""
    def work(s: Session) -> dict:
        check_admin(actor, get_provider(s, provider_id).village_id)
        row = s.get(ProviderClerk, user_id)
        if row is None:
            row = ProviderClerk(user_id=user_id, provider_id=provider_id, assigned_at=utcnow(),
                                assigned_by=actor.user_id)
            s.add(row)
        else:
            row.provider_id, row.assigned_at = provider_id, utcnow()
            row.assigned_by = actor.user_id
        s.flush()
        return {"user_id": user_id, "provider_id": provider_id}

    return msgspec.convert(book.write(db, work, key=key, request={
        "op": "assign_clerk", "provider": provider_id, "user": user_id}).result, ClerkView)


def remove_clerk(db: Database, actor: Actor, *, provider_id: int,
                 user_id: int) -> ClerkRemoved:
    with db.transaction() as s:
        check_admin(actor, get_provider(s, provider_id).village_id)
        row = s.get(ProviderClerk, user_id)
        if row is None or row.provider_id != provider_id:
            raise NotFound(f"user {user_id} is not a clerk of provider {provider_id}",
                           code="clerk_not_found")
        s.delete(row)
    return ClerkRemoved(user_id=user_id, provider_id=provider_id, removed=True)


def clerk_provider_id(s: Session, user_id: int) -> int | None:
    return s.scalar(select(ProviderClerk.provider_id).where(ProviderClerk.user_id == user_id))


def _validate_reward(s: Session, provider: Provider, f: dict) -> dict:
    """Check and normalise reward fields (all of them, after applying a change)."""
    f["name"] = _text(f["name"], "name", MAX_NAME_CHARS)
    f["description"] = _text(f.get("description") or "", "description", MAX_DESCRIPTION_CHARS,
                             required=False)
    if f["kind"] not in set(RewardKind):
        raise InvalidInput(f"kind must be one of {', '.join(RewardKind)}", code="invalid_kind")
    if f.get("cost_points") is None:
        raise InvalidInput("a reward needs a cost in points", code="invalid_cost_points")
    _int_or_none(f["cost_points"], "cost_points", 1, MAX_COST_POINTS)
    _int_or_none(f.get("limit_per_month"), "limit_per_month", 1, MAX_HOLDER_LIMIT)
    _int_or_none(f.get("limit_per_year"), "limit_per_year", 1, MAX_HOLDER_LIMIT)
    _int_or_none(f.get("min_star_level", 0), "min_star_level", 0, MAX_STAR_LEVEL)
    _int_or_none(f.get("voucher_ttl_s"), "voucher_ttl_s", MIN_VOUCHER_TTL_S, MAX_VOUCHER_TTL_S)
    if f.get("holder_kinds", HolderKinds.ANY) not in set(HolderKinds):
        raise InvalidInput(f"holder_kinds must be one of {', '.join(HolderKinds)}",
                           code="invalid_holder_kinds")
    for name in ("available_from", "available_until"):
        v = f.get(name)
        if v is not None and (not isinstance(v, datetime) or v.tzinfo is None):
            raise InvalidInput(f"{name} must be a time with its zone", code="invalid_window")
    if f.get("available_from") and f.get("available_until") \
            and f["available_until"] <= f["available_from"]:
        raise InvalidInput("the availability window ends before it starts",
                           code="invalid_window")
    _check_village(s, f.get("village_id"), provider.town_id)
    return f


def reward_view(r: Reward) -> dict:
    return {"id": r.id, "provider_id": r.provider_id, "name": r.name,
            "description": r.description, "kind": r.kind, "cost_points": r.cost_points,
            "stock": r.stock, "reserved": r.reserved, "issued": r.issued,
            "available": None if r.stock is None else r.stock - r.reserved - r.issued,
            "limit_per_month": r.limit_per_month, "limit_per_year": r.limit_per_year,
            "min_star_level": r.min_star_level, "village_id": r.village_id,
            "holder_kinds": r.holder_kinds,
            "available_from": r.available_from.isoformat() if r.available_from else None,
            "available_until": r.available_until.isoformat() if r.available_until else None,
            "voucher_ttl_s": r.voucher_ttl_s, "active": r.active}


def get_reward(s: Session, reward_id: int) -> Reward:
    reward = s.get(Reward, reward_id) if isinstance(reward_id, int) else None
    if reward is None:
        raise NotFound(f"reward {reward_id} does not exist", code="unknown_reward")
    return reward


def create_reward(db: Database, actor: Actor, *, provider_id: int, fields: dict,
                  stock: int | None = None, key: str | None) -> RewardView:
    unknown = set(fields) - set(REWARD_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown reward fields: {', '.join(sorted(unknown))}",
                           code="invalid_reward_field")
    _int_or_none(stock, "stock", 0, MAX_STOCK)
    req = {"op": "create_reward", "provider": provider_id, "fields": fields, "stock": stock}

    def work(s: Session) -> dict:
        provider = get_provider(s, provider_id)
        check_admin(actor, provider.village_id)
        f = _validate_reward(s, provider, {"voucher_ttl_s": DEFAULT_VOUCHER_TTL_S,
                                           "min_star_level": 0, "active": True,
                                           "holder_kinds": HolderKinds.ANY, **fields})
        now = utcnow()
        r = Reward(provider_id=provider_id, stock=stock, reserved=0, issued=0, created_at=now,
                   updated_at=now, **f)
        s.add(r)
        s.flush()
        return reward_view(r)

    return msgspec.convert(book.write(db, work, key=key, request=req).result, RewardView)


def update_reward(db: Database, actor: Actor, reward_id: int, *, changes: dict,
                  key: str | None) -> RewardView:
    """Change catalog fields. Open vouchers keep what they were issued with."""
    unknown = set(changes) - set(REWARD_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown reward fields: {', '.join(sorted(unknown))}",
                           code="invalid_reward_field")

    def work(s: Session) -> dict:
        r = get_reward(s, reward_id)
        check_admin(actor, provider_village(s, r.provider_id))
        f = {name: getattr(r, name) for name in REWARD_FIELDS}
        f.update(changes)
        f = _validate_reward(s, get_provider(s, r.provider_id), f)
        for name, value in f.items():
            setattr(r, name, value)
        r.updated_at = utcnow()
        s.flush()
        return reward_view(r)

    return msgspec.convert(book.write(db, work, key=key, request={
        "op": "update_reward", "reward": reward_id, "changes": changes}).result, RewardView)


def change_stock(db: Database, actor: Actor, reward_id: int, *, add: int | None = None,
                 set_to: int | None = None, unlimited: bool = False,
                 key: str | None) -> RewardView:
    """Restock (`add` > 0), write off (`add` < 0), set the total, or make it unlimited. Stock
    never drops below what open vouchers hold plus what was handed over."""
    if sum(x is not None for x in (add, set_to)) + unlimited != 1:
        raise InvalidInput("give exactly one of add, set_to or unlimited",
                           code="invalid_stock_change")
    _int_or_none(add, "stock_add", -MAX_STOCK, MAX_STOCK)
    _int_or_none(set_to, "stock", 0, MAX_STOCK)

    def work(s: Session) -> dict:
        check_admin(actor, reward_village(s, reward_id))
        return apply_stock_change(s, reward_id, add=add, set_to=set_to, unlimited=unlimited)

    req = {"op": "stock", "reward": reward_id, "add": add, "set": set_to, "unlimited": unlimited}
    return msgspec.convert(book.write(db, work, key=key, request=req).result, RewardView)


def apply_stock_change(s: Session, reward_id: int, *, add: int | None = None,
                       set_to: int | None = None, unlimited: bool = False) -> dict:
    """`change_stock` inside the caller's transaction (a stock import applies many)."""
    r = get_reward(s, reward_id)
    now = utcnow()
    if add is not None:
        if r.stock is None:
            raise Conflict("the reward has unlimited stock; set a total first",
                           code="stock_unlimited")
        row = s.execute(_ADD_STOCK, {"add": add, "now": now, "id": reward_id,
                                     "max": MAX_STOCK}).first()
    elif set_to is not None:
        row = s.execute(_SET_STOCK, {"stock": set_to, "now": now, "id": reward_id}).first()
    else:
        row = s.execute(_UNLIMITED, {"now": now, "id": reward_id}).first()
    if row is None:
        s.refresh(r)
        raise Conflict(f"stock cannot go below the {r.reserved + r.issued} units held or "
                       "handed over", code="stock_below_committed",
                       committed=r.reserved + r.issued)
    s.refresh(r)
    return reward_view(r)


def list_rewards(s: Session, *, now: datetime | None = None, only_offered: bool = True,
                 provider_id: int | None = None, town_id: int | None = None, limit: int = 50,
                 after_id: int | None = None) -> RewardPage:
    """The catalog, by id, `limit` at a time; `only_offered` hides inactive or out-of-window;
    `town_id` keeps the rewards of that town's providers."""
    paging.check_limit(limit)
    now = now or utcnow()
    q = select(Reward).order_by(Reward.id).limit(limit)
    if only_offered:
        q = q.where(Reward.active.is_(True),
                    Reward.provider_id.in_(select(Provider.id).where(Provider.active.is_(True))),
                    (Reward.available_from.is_(None)) | (Reward.available_from <= now),
                    (Reward.available_until.is_(None)) | (Reward.available_until > now))
    if provider_id is not None:
        q = q.where(Reward.provider_id == provider_id)
    if town_id is not None:
        q = q.where(Reward.provider_id.in_(select(Provider.id).where(Provider.town_id == town_id)))
    if after_id is not None:
        q = q.where(Reward.id > after_id)
    items = typed([reward_view(r) for r in s.scalars(q)], list[RewardView])
    return RewardPage(items=items,
                      next_after_id=items[-1].id if len(items) == limit else None)


def list_providers(s: Session, town_id: int | None = None) -> list[ProviderView]:
    q = select(Provider).order_by(Provider.id)
    if town_id is not None:
        q = q.where(Provider.town_id == town_id)
    return typed([provider_view(p) for p in s.scalars(q)], list[ProviderView])


def provider_village(s: Session, provider_id: int) -> int | None:
    """The village whose admins may manage this provider (None: town admins only)."""
    return get_provider(s, provider_id).village_id


def reward_village(s: Session, reward_id: int) -> int | None:
    return provider_village(s, get_reward(s, reward_id).provider_id)
