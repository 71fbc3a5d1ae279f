"""The engine's inputs and outputs: who holds, what was done, what the period so far says, and
the decision with its explanation. Who records is ledger/identity/actor.Actor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from ledger.rules import spec as S

class CounterKey(NamedTuple):
    holder_type: str
    holder_id: int
    scope: str  # item:<catalog>:<code> | cat:<catalog>:<code> | catalog:<code> | act:…
    period: str  # e.g. month:2026-03, ever


@dataclass
class Usage:
    award_steps: int = 0
    deduct_steps: int = 0
    times: int = 0
    minutes: int = 0


@dataclass(frozen=True)
class Holder:
    type: str
    id: int
    village_id: int | None = None
    village_name: str | None = None
    household_id: int | None = None  # a person's household; a household's own id
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Evidence:
    note: str = ""
    photos: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inputs:
    occurred_at: datetime
    channel: str = "admin"
    points: int | float | str | None = None  # the chosen value of a range item, in points
    level: str | None = None
    minutes: int | None = None
    quantity: int = 1
    activity_ref: str | None = None
    reason: str = ""
    evidence: Evidence = Evidence()

    def as_dict(self) -> dict:
        d = {"occurred_at": self.occurred_at.isoformat(), "channel": self.channel}
        for k in ("points", "level", "minutes", "activity_ref"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.quantity != 1:
            d["quantity"] = self.quantity
        if self.reason:
            d["reason"] = self.reason
        return d


@dataclass(frozen=True)
class History:
    """What the period so far says: the counters (as locked by the caller), the village's
    budget still available, the holder's balance, and the time of evaluation."""

    now: datetime
    usage: dict = field(default_factory=dict)  # CounterKey → Usage
    budget_available: int | None = None
    balance_steps: int = 0


@dataclass
class Credit:
    holder: Holder
    steps: int
    minutes: int
    keys: list[CounterKey]
    caps: list[dict] = field(default_factory=list)
    held: bool = True  # False: counted in this holder's score, held in another's wallet

    def delta(self) -> Usage:
        return Usage(award_steps=max(self.steps, 0), deduct_steps=max(-self.steps, 0),
                     times=1, minutes=self.minutes)


@dataclass
class Decision:
    ok: bool
    reason: str | None
    catalog: str
    catalog_version: int
    item: str
    item_version: int
    message: str = ""
    detail: dict = field(default_factory=dict)
    sign: int = 1
    base_steps: int = 0
    multiplier: dict | None = None
    multipliers_matched: list[str] = field(default_factory=list)
    credits: list[Credit] = field(default_factory=list)
    minutes_input: int | None = None
    inputs: dict = field(default_factory=dict)
    notice_days: int = 0
    needs_review: bool = False
    sanction: dict | None = None
    rollup_refused: dict | None = None
    backdate_days: int = 0  # how far back this item may be recorded

    @property
    def steps(self) -> int:
        return self.credits[0].steps if self.credits else 0

    @property
    def held_award_steps(self) -> int:
        """What the budget pays: the positive steps credited to a wallet (counting is free)."""
        return sum(c.steps for c in self.credits if c.steps > 0 and c.held)

    def explain(self, scale: int) -> dict:
        p = lambda s: S.points_of(s, scale)
        return {
            "ok": self.ok, "reason": self.reason, "message": self.message, "detail": self.detail,
            "catalog": self.catalog, "catalog_version": self.catalog_version,
            "item": self.item, "item_version": self.item_version, "scale": scale,
            "inputs": self.inputs, "base_points": p(self.base_steps),
            "multiplier": self.multiplier, "multipliers_matched": self.multipliers_matched,
            "credits": [{"holder_type": c.holder.type, "holder_id": c.holder.id,
                         "points": p(c.steps), "steps": c.steps, "minutes": c.minutes,
                         "held": c.held, "caps": c.caps} for c in self.credits],
            "minutes_input": self.minutes_input, "notice_days": self.notice_days,
            "needs_review": self.needs_review, "sanction": self.sanction,
            "rollup_refused": self.rollup_refused, "backdate_days": self.backdate_days,
        }
