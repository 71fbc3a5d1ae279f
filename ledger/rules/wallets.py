"""Where a deed's points are held and where they count (DESIGN guarantee 7).

A deed is credited once, to the wallet the catalog names (`wallet: own | household`): that
holder's `points` account. A household roll-up (`rollup: household`) or a member's deed held in
the household's wallet also *counts* for the other holder's score, as a memo posting on that
holder's `score` account (never spendable, never redeemed, never expired) balanced by the
village's `score` account. The rollups, stars, rankings and the door plate add a holder's
`score` postings to its own civility score; spending reads the `points` account only.

Award records written before this split carry no `held` flag on their credits: both credits
went to `points` accounts (a member's +2 credited to the person and again to the household).
`double_credits` lists them and `settle_double_credit` reverses each such entry and posts it
again the way it should have been (docs/rules.md, "Settling double-credited roll-ups").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.journal.accounts import open_account, shards_of
from ledger.journal.models import JournalEntry, Purpose
from ledger.journal.posting import Line, post_entry, reverse_entry

MAX_LISTED = 10_000  # double credits listed or settled per run


def is_held(credit: dict) -> bool:
    return bool(credit.get("held", True))


def held_total(credits: list[dict]) -> int:
    """The net steps the award moves between the budget and wallets."""
    return sum(cr["steps"] for cr in credits if is_held(cr))


def credit_lines(s: Session, village_id: int, credits: list[dict], *, shards: int
                 ) -> list[Line]:
    """The lines of an award's entry for its holders: each held credit to the holder's points,
    each counted credit to the holder's score, and the village's score balancing the latter
    (sharded as its budget is, `shards` sub-accounts: every roll-up award of the village posts
    to it, and one row would make them wait for each other's COMMIT). The caller adds the
    budget (or transit) line for `held_total`."""
    lines, counted = [], 0
    for cr in credits:
        if cr["steps"] == 0:
            continue
        purpose = Purpose.POINTS if is_held(cr) else Purpose.SCORE
        if purpose == Purpose.SCORE:
            # The score rolls up into the holder's points-account row: make sure it exists.
            open_account(s, holder_type=cr["holder_type"], holder_id=cr["holder_id"],
                         purpose=Purpose.POINTS)
            counted += cr["steps"]
        lines.append(Line.of(open_account(s, holder_type=cr["holder_type"],
                                          holder_id=cr["holder_id"], purpose=purpose),
                             cr["steps"]))
    if counted:
        lines.append(Line(shards_of(s, village_id, shards, Purpose.SCORE), -counted,
                          hot=True))
    return lines


# ---------------------------------------------------------------------------------------------
# Databases written before the split: find and settle the double credits


@dataclass(frozen=True)
class DoubleCredit:
    award_id: int
    entry_id: int
    item: str
    person_id: int
    household_id: int
    steps: int  # what the household was credited on top of the person
    occurred_at: datetime

    def as_dict(self) -> dict:
        return {"award_id": self.award_id, "entry_id": self.entry_id, "item": self.item,
                "person_id": self.person_id, "household_id": self.household_id,
                "steps": self.steps, "occurred_at": self.occurred_at.isoformat()}


def double_credits(s: Session, limit: int = MAX_LISTED) -> list[DoubleCredit]:
    """Posted roll-up awards that credited both the person's and the household's points."""
    from ledger.rules.models import AwardRecord, AwardStatus
    out = []
    q = (select(AwardRecord).where(AwardRecord.status == AwardStatus.POSTED,
                                   AwardRecord.holder_type == "person",
                                   AwardRecord.entry_id.is_not(None))
         .order_by(AwardRecord.id))
    for a in s.scalars(q.execution_options(yield_per=500)):
        credits = a.credits or []
        if len(credits) < 2 or not all("held" not in cr for cr in credits):
            continue
        hh = next((cr for cr in credits if cr["holder_type"] == "household"
                   and cr["steps"] != 0), None)
        if hh is None:
            continue
        out.append(DoubleCredit(a.id, a.entry_id, a.item_code, a.holder_id, hh["holder_id"],
                                hh["steps"], a.occurred_at))
        if len(out) >= limit:
            break
    return out


def settle_double_credit(s: Session, shards: int, d: DoubleCredit, *, actor_id: int | None,
                         now: datetime) -> list[int]:
    """Reverse the award's entry (person and household debited, budget refunded), then post it
    again with the household's share counted, not held. The household's balance may go below
    zero where it already spent the extra points: that debt is what it was overpaid."""
    from ledger.journal.accounts import budget_shards
    from ledger.rules.models import AwardRecord
    a = s.get(AwardRecord, d.award_id, with_for_update=True)
    if a is None or a.entry_id != d.entry_id:
        return []
    rev = reverse_entry(s, d.entry_id, memo=f"重复计入家庭，冲正：{a.item_name}"[:500],
                        actor_id=actor_id, source="rollup_settlement", source_ref=str(a.id),
                        now=now, details={"reverses": d.entry_id, "award_id": a.id,
                                          "rollup_settlement": True})
    credits = [{**cr, "held": cr["holder_type"] == a.holder_type} for cr in a.credits]
    original = s.get(JournalEntry, d.entry_id)
    total = held_total(credits)
    lines = credit_lines(s, a.village_id, credits, shards=shards)
    lines.append(Line(budget_shards(s, a.village_id, shards), -total, hot=True))
    e = post_entry(s, unit=original.unit, kind=original.kind, lines=lines, memo=original.memo,
                   source="rule", source_ref=str(a.id), actor_id=actor_id,
                   details={**(original.details or {}), "rollup_settlement": rev.id}, now=now)
    a.credits = credits
    a.entry_ids = [i for i in (a.entry_ids or []) if i != d.entry_id] + [e.id]
    a.entry_id = e.id
    return [rev.id, e.id]


def settle_all(db, shards: int, *, actor_id: int | None, now: datetime,
               limit: int = MAX_LISTED) -> list[dict]:
    """Settle every double credit found (each in its own transaction); safe to run again: a
    settled award carries `held` on its credits and is not found twice."""
    with db.sessions() as s:
        found = double_credits(s, limit)
    done = []
    for d in found:
        with db.transaction() as s:
            ids = settle_double_credit(s, shards, d, actor_id=actor_id, now=now)
        if ids:
            done.append({**d.as_dict(), "reversal_id": ids[0], "entry_id_now": ids[1]})
    return done
