"""Several earning currencies, one spending currency (issue #19.11): a catalog's `coins:` name
the categories whose items earn a coin (knowledge, culture, service) instead of points. Each
coin is its own journal unit, `coin.<code>`, issued from the village's `funding` account in that
unit (not from the points budget); a holder converts coins into points — the shop currency —
at the coin's rate by a pair of conversion entries in one transaction: the coins back to the
village, the points from the village's budget. A coin's `caps` bound what a holder earns across
its categories (the engine's `coin:` counter scope, under the same locks as every cap).
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.config import Settings
from ledger.db import Database
from ledger.errors import Conflict, Forbidden, InsufficientFunds, InvalidInput, NotFound
from ledger.journal import book
from ledger.journal.accounts import budget_shards, open_account
from ledger.journal.models import Account, HolderType, Purpose, Unit
from ledger.journal.posting import Line, post_entry
from ledger.rules import spec as S
from ledger.rules.schemas import Conversion, Currencies
from ledger.identity.actor import Actor
from ledger.timeutil import utcnow
from ledger.units import steps_of

KIND = "convert"
STAFF = ("organizer", "village_admin")
MAX_CONVERT_STEPS = 10**9


def unit_of(coin: S.Coin) -> str:
    return f"coin.{coin.code}"


def holder_account(s: Session, coin: S.Coin, holder_type: str, holder_id: int) -> int:
    return open_account(s, holder_type=holder_type, holder_id=holder_id,
                        purpose=Purpose.POINTS, unit=unit_of(coin))


def source_account(s: Session, coin: S.Coin, village_id: int) -> int:
    return open_account(s, holder_type=HolderType.VILLAGE, holder_id=village_id,
                        purpose=Purpose.FUNDING, unit=unit_of(coin))


def award_lines(s: Session, coin: S.Coin, village_id: int, credits: list[dict]
                ) -> list[Line]:
    """An award's lines in the coin's unit: each holder credited (or debited), the village's
    coin source the other side. Coin items are held by their own holder (validated)."""
    lines = [Line.of(holder_account(s, coin, cr["holder_type"], cr["holder_id"]), cr["steps"])
             for cr in credits if cr["steps"]]
    total = sum(cr["steps"] for cr in credits)
    if total:
        lines.append(Line.of(source_account(s, coin, village_id), -total))
    return lines


def balances(s: Session, c: S.Catalog, holder_type: str, holder_id: int) -> list[dict]:
    out = []
    for coin in c.coins:
        bal = int(s.scalar(select(Account.balance).where(
            Account.unit == unit_of(coin), Account.holder_type == holder_type,
            Account.holder_id == holder_id, Account.purpose == Purpose.POINTS)) or 0)
        out.append({"catalog": c.code, "coin": coin.code, "name": coin.name,
                    "coins": c.points(bal), "steps": bal,
                    "rate": {"coins": c.points(coin.rate_coin_steps),
                             "points": c.points(coin.rate_points_steps)}})
    return out


def _may_convert(s: Session, recorder: Actor, holder_type: str, holder_id: int,
                 household_id: int | None, village_id: int) -> None:
    """The holder converts its own coins (a person, or a member of the household); staff of
    the village may do it for them."""
    if holder_type == "person" and recorder.person_id == holder_id:
        return
    if holder_type == "household" and recorder.person_id is not None:
        from ledger.registry.models import Person
        me = s.get(Person, recorder.person_id)
        if me is not None and me.household_id == holder_id:
            return
    if not any(r == "town_admin" or (r in STAFF and v in (None, village_id))
               for r, v in recorder.roles):
        raise Forbidden("只有本人或本村工作人员可以兑换币种 (the holder or the village's staff "
                        "converts coins)", code="conversion_not_permitted")


def convert_in(s: Session, shards: int, *, holder_type: str, holder_id: int, coin_code: str,
               amount: float | str, recorder: Actor, now: datetime) -> dict:
    """Convert `amount` coins (as a person writes them) inside the caller's transaction: two
    entries, or nothing."""
    from ledger.rules.holders import resolve_holder
    from ledger.rules.store import catalogs_for
    h = resolve_holder(s, holder_type, holder_id)
    found = [(c, k) for c in catalogs_for(s, h.village_name, now) for k in c.coins
             if k.code == coin_code]
    if not found:
        raise NotFound(f"没有币种 {coin_code!r} (no such coin here)", code="coin_unknown")
    c, coin = found[0]
    _may_convert(s, recorder, holder_type, holder_id, h.household_id, h.village_id)
    try:
        coins_steps = steps_of(amount, c.scale)
    except (ValueError, ZeroDivisionError):
        coins_steps = 0
    if not 0 < coins_steps <= MAX_CONVERT_STEPS or coins_steps % coin.rate_coin_steps:
        raise InvalidInput(f"兑换数量须为 {c.points(coin.rate_coin_steps)} 的整数倍 (convert a "
                           f"whole multiple of the rate's coins)", code="conversion_amount_invalid",
                           multiple_of=c.points(coin.rate_coin_steps))
    points_steps = coins_steps // coin.rate_coin_steps * coin.rate_points_steps
    details = {"catalog": c.code, "catalog_version": c.version, "coin": coin.code,
               "coins_steps": coins_steps, "points_steps": points_steps,
               "rate": [coin.rate_coin_steps, coin.rate_points_steps],
               "recorder": recorder.user_id}
    try:
        out = post_entry(s, unit=unit_of(coin), kind=KIND, lines=[
            Line.of(holder_account(s, coin, holder_type, holder_id), -coins_steps),
            Line.of(source_account(s, coin, h.village_id), coins_steps)],
            memo=f"{coin.name}兑换积分", source="coins", source_ref=f"{holder_type}:{holder_id}",
            actor_id=recorder.user_id, details=details, now=now)
    except InsufficientFunds as exc:
        raise Conflict(f"{coin.name}余额不足 (not enough coins)", code="coins_insufficient",
                       available=c.points(exc.extra.get("available") or 0)) from None
    into = post_entry(s, unit=Unit.POINTS, kind=KIND, lines=[
        Line.of(open_account(s, holder_type=holder_type, holder_id=holder_id,
                             purpose=Purpose.POINTS), points_steps),
        Line(budget_shards(s, h.village_id, shards), -points_steps, hot=True)],
        memo=f"{coin.name}兑换积分", source="coins", source_ref=f"{holder_type}:{holder_id}",
        actor_id=recorder.user_id, details={**details, "coin_entry": out.id}, now=now)
    return {"catalog": c.code, "coin": coin.code, "coins": c.points(coins_steps),
            "points": c.points(points_steps), "coin_entry_id": out.id,
            "points_entry_id": into.id}


def convert(db: Database, settings: Settings, *, holder_type: str, holder_id: int,
            coin_code: str, amount: float | str, recorder: Actor, key: str | None = None,
            now: datetime | None = None) -> Conversion:
    """One conversion in one transaction, idempotent by `key` (book.write); the budget's
    shards retried by book.write when one is short."""
    now = now or utcnow()
    request = {"op": "convert", "holder": [holder_type, holder_id], "coin": coin_code,
               "amount": str(amount)}
    return msgspec.convert(book.write(db, lambda s: convert_in(
        s, settings.budget_shards, holder_type=holder_type, holder_id=holder_id,
        coin_code=coin_code, amount=amount, recorder=recorder, now=now),
        key=key, request=request).result, Conversion)


def summary_for(db: Database, actor, holder_type: str, holder_id: int) -> Currencies:
    """A holder's coins and banked hours (`summary`), for the holder or the staff of its
    village."""
    from ledger.rules.holders import require_own_or_staff
    with db.sessions() as s:
        view = summary(s, holder_type, holder_id)
    require_own_or_staff(actor, holder_type, holder_id, view["village_id"])
    return msgspec.convert(view, Currencies)


def summary(s: Session, holder_type: str, holder_id: int, now: datetime | None = None) -> dict:
    """For the holder's page and the API: each coin's balance and rate, and banked hours
    where a time bank covers the holder (a person)."""
    from ledger.rules.holders import resolve_holder
    from ledger.rules.store import catalogs_for
    from ledger.rules.timebank import balance as bank_balance
    h = resolve_holder(s, holder_type, holder_id)
    cats = catalogs_for(s, h.village_name, now or utcnow())
    bank = any(c.time_bank is not None for c in cats) and holder_type == "person"
    return {"holder_type": holder_type, "holder_id": holder_id, "village_id": h.village_id,
            "coins": [b for c in cats for b in balances(s, c, holder_type, holder_id)],
            "time_bank": {"minutes": bank_balance(s, holder_id)} if bank else None}


__all__ = ["award_lines", "balances", "convert", "convert_in", "summary", "summary_for",
           "unit_of"]
