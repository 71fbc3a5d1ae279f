"""Who may redeem what: the holder (a person from their own points, a household from the
household's), the reward's village and minimum star level, and the rule engine's thresholds.

Two things come from other packages and are passed in as functions (a `Policy`), so this
package does not import them at load time and tests can put their own in:
- `star_level(session, holder_type, holder_id) -> int`, 0..5 stars: by default
  ledger.recognition.stars.star_level (asked only for rewards that need stars).
- `refusal(session, holder) -> DomainError | None`: the rule engine's thresholds ("redeem only
  at or above a balance", a sanction that bars redemption): by default
  ledger.rules.thresholds.redemption_refusal. A failure there fails the order: a sanction is
  never skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ledger.registry.models import Household, Person
from ledger.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from ledger.journal.accounts import open_account
from ledger.journal.models import HolderType, Purpose, Unit
from ledger.redemption.models import HolderKinds, Reward

MAX_STAR_LEVEL = 5
REDEEMING_HOLDERS = (HolderType.PERSON, HolderType.HOUSEHOLD)


@dataclass(frozen=True)
class Holder:
    """Who is redeeming, and the points account the order draws on."""

    holder_type: str
    holder_id: int
    village_id: int
    account_id: int


StarLevelFn = Callable[[Session, str, int], int]
RefusalFn = Callable[[Session, Holder], DomainError | None]
BalanceRefusalFn = Callable[[Session, Holder, int, datetime], DomainError | None]


def recognition_stars(session: Session, holder_type: str, holder_id: int) -> int:
    """The stars recognition has computed for the holder now."""
    from ledger.recognition.stars import star_level

    return star_level(session, holder_type, holder_id)


def rules_refusal(session: Session, holder: Holder) -> DomainError | None:
    """The rule engine's say on redeeming now: a sanction that bars it, or a balance below the
    catalog's redemption threshold (`below_redeem_threshold`)."""
    from ledger.rules.thresholds import redemption_refusal

    return redemption_refusal(session, holder.holder_type, holder.holder_id)


def rules_balance_refusal(session: Session, holder: Holder, amount_steps: int,
                          now: datetime) -> DomainError | None:
    """The rule engine's balance rules on this order, under the holder account's lock:
    `below_redeem_threshold` and `below_floor`, on points available (less open holds)."""
    from ledger.rules.thresholds import balance_refusal

    return balance_refusal(session, holder.holder_type, holder.holder_id,
                           account_id=holder.account_id, amount_steps=amount_steps, now=now)


@dataclass(frozen=True)
class Policy:
    star_level: StarLevelFn = recognition_stars
    refusal: RefusalFn = rules_refusal
    balance_refusal: BalanceRefusalFn = rules_balance_refusal


DEFAULT_POLICY = Policy()


def load_holder(session: Session, holder_type: str, holder_id: int) -> Holder:
    """The holder and its points account (opened on first use)."""
    if holder_type not in REDEEMING_HOLDERS:
        raise InvalidInput("only a person or a household can redeem", code="invalid_holder")
    model = Person if holder_type == HolderType.PERSON else Household
    row = session.get(model, holder_id)
    if row is None:
        raise NotFound(f"{holder_type} {holder_id} does not exist", code="holder_not_found")
    account = open_account(session, holder_type=holder_type, holder_id=holder_id,
                           purpose=Purpose.POINTS, unit=Unit.POINTS)
    return Holder(str(holder_type), holder_id, row.village_id, account)


def availability_refusal(reward: Reward, now: datetime, *, provider_active: bool = True
                         ) -> DomainError | None:
    if not reward.active or not provider_active:
        return Conflict(f"reward {reward.id} is not offered now", code="reward_unavailable")
    if reward.available_from is not None and now < reward.available_from:
        return Conflict(f"reward {reward.id} is offered from "
                        f"{reward.available_from.isoformat()}", code="reward_unavailable",
                        available_from=reward.available_from.isoformat())
    if reward.available_until is not None and now >= reward.available_until:
        return Conflict(f"reward {reward.id} was offered until "
                        f"{reward.available_until.isoformat()}", code="reward_unavailable",
                        available_until=reward.available_until.isoformat())
    return None


def eligibility_refusal(session: Session, reward: Reward, holder: Holder,
                        policy: Policy = DEFAULT_POLICY) -> DomainError | None:
    """Why this holder may not redeem this reward, or None."""
    if reward.holder_kinds != HolderKinds.ANY and reward.holder_kinds != holder.holder_type:
        return Forbidden(f"reward {reward.id} is for {reward.holder_kinds} accounts only",
                         code="not_eligible", reason="holder_kind")
    if reward.village_id is not None and reward.village_id != holder.village_id:
        return Forbidden(f"reward {reward.id} is for village {reward.village_id} only",
                         code="not_eligible", reason="village")
    if reward.min_star_level > 0:
        stars = policy.star_level(session, holder.holder_type, holder.holder_id)
        if not 0 <= stars <= MAX_STAR_LEVEL:
            raise AssertionError(f"star level {stars} out of 0..{MAX_STAR_LEVEL}")
        if stars < reward.min_star_level:
            return Forbidden(f"reward {reward.id} needs {reward.min_star_level} stars; "
                             f"the holder has {stars}", code="not_eligible", reason="stars",
                             stars=stars, min_star_level=reward.min_star_level)
    return policy.refusal(session, holder)


def person_holders(session: Session, person_id: int | None) -> list[tuple[str, int]]:
    """The accounts a signed-in person may redeem from and see: their own, and their
    household's."""
    person = session.get(Person, person_id) if person_id is not None else None
    if person is None:
        return []
    out = [(str(HolderType.PERSON), person.id)]
    if person.household_id is not None:
        out.append((str(HolderType.HOUSEHOLD), person.household_id))
    return out
