"""The civility score, defined once: which entries count, how a reversal counts, the period
an amount belongs to, and the functions every reader goes through (the door-plate page, the
village ranking, household stars, honor lists).

- **What counts**: awards and deductions, reversals included; spending (`redeem`), expiry,
  sanctions that zero a balance and a debt written off at a period's start (`reset`) are not
  civility. A reversal counts as the kind of entry it reverses: reversing a deduction gives the
  points back to the score, reversing a sanction or a redemption does not.
- **Which period**: the deed's (`rules.periods.deed_time`, its SQL twin `deed_time_sql` here):
  a finding of 30 December whose 公示 ends on 5 January counts in the closing year.
- **Where it is read**: the rollups (`holder_rollup`, kept by ledger/recognition/rollups.py
  with exactly these rules, rebuildable from the journal). A household's row holds its own
  points and its members' deeds counted for it (ledger/rules/wallets.py). Nothing here scans
  the journal.

This module imports nothing else of recognition's, so every other module can import it.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ledger.journal.models import HolderType, Unit
from ledger.recognition.models import HolderRollup

# spending, expiry, zeroing, and a debt written off when a period starts afresh (`reset`)
NON_SCORE_KINDS = frozenset({"redeem", "expire", "sanction", "reset"})
ITEM_KEYS = ("item", "item_code", "rule_item")


def counts_in_score(kind: str, reversed_kind: str | None) -> bool:
    """Whether a posting of an entry of `kind` (reversing one of `reversed_kind`) counts."""
    return (reversed_kind if kind == "reverse" and reversed_kind else kind) not in NON_SCORE_KINDS


def deed_time_sql(dialect: str, posted: str = "p.created_at") -> str:
    """SQL for `periods.deed_time` over a posting `p` of an entry `e`, as the naive UTC the
    time columns hold (a deed on notice over New Year belongs to the old year). `posted` is
    the fallback, the posting's time (the rebuild passes NULL to compute the entry's part once
    per entry, and fills in the posting's time after the join)."""
    if dialect == "postgresql":  # parsed only where the text names one of the two times
        return (f"CASE WHEN strpos(e.details::text, '_at\"') = 0 THEN {posted} ELSE "
                "COALESCE((e.details::jsonb ->> 'period_at')::timestamptz AT TIME ZONE 'UTC', "
                "(e.details::jsonb -> 'inputs' ->> 'occurred_at')::timestamptz "
                f"AT TIME ZONE 'UTC', {posted}) END")
    j = ("(strftime('%Y-%m-%d %H:%M:%S', json_extract(e.details, '{0}')) "
         "|| substr(strftime('%f', json_extract(e.details, '{0}')), 3) || '000')")
    return f"COALESCE({j.format('$.period_at')}, {j.format('$.inputs.occurred_at')}, " \
           f"{posted})"


def item_code_of(details: dict | None) -> str | None:
    """The rule item an entry names (the rule engine writes `item`)."""
    if not isinstance(details, dict):
        return None
    for k in ITEM_KEYS:
        v = details.get(k)
        if isinstance(v, str) and v:
            return v[:64]
    rule = details.get("rule")
    if isinstance(rule, dict) and isinstance(rule.get("item"), str):
        return rule["item"][:64]
    return None


def month_key(d: date) -> str:
    return f"month:{d.year}-{d.month:02d}"


def year_key(d: date) -> str:
    return f"year:{d.year}"


def months_of(start: date, end: date) -> list[str]:
    """The rollup keys of the local months in [start, end) (whole months)."""
    keys, d = [], start.replace(day=1)
    while d < end:
        keys.append(month_key(d))
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return keys


def keys_of(start: date, end: date) -> list[str]:
    """The fewest rollup keys that cover [start, end): one `year:` key for a calendar year."""
    if start.month == start.day == 1 and end == date(start.year + 1, 1, 1):
        return [year_key(start)]
    return months_of(start, end)


def household_scores(s: Session, start: date, end: date, *, household_ids=None,
                     village_id: int | None = None, town_id: int | None = None
                     ) -> dict[int, int]:
    """Household id → civility score (in steps) of the period [start, end) of local dates,
    for the given households, or every household of a village or a town with a score (a
    household with no counted entry is absent: its score is 0)."""
    R = HolderRollup
    q = (select(R.holder_id, func.sum(R.net))
         .where(R.holder_type == HolderType.HOUSEHOLD, R.unit == Unit.POINTS,
                R.period_key.in_(keys_of(start, end)))
         .group_by(R.holder_id))
    if household_ids is not None:
        ids = list(household_ids)
        if not ids:
            return {}
        q = q.where(R.holder_id.in_(ids))
    if village_id is not None:
        q = q.where(R.village_id == village_id)
    if town_id is not None:
        q = q.where(R.town_id == town_id)
    return {int(h): int(n or 0) for h, n in s.execute(q)}


def household_score(s: Session, household_id: int, start: date, end: date) -> int:
    """One household's civility score of [start, end) (0 without counted entries)."""
    return household_scores_in(s, household_id, [(start, end)])[0]


_HOUSEHOLD_NET = (  # built once: every door plate reads it
    select(HolderRollup.period_key, func.sum(HolderRollup.net))
    .where(HolderRollup.holder_type == HolderType.HOUSEHOLD, HolderRollup.unit == Unit.POINTS,
           HolderRollup.holder_id == bindparam("hid"),
           HolderRollup.period_key.in_(bindparam("keys", expanding=True)))
    .group_by(HolderRollup.period_key))


def household_scores_in(s: Session, household_id: int, periods: list[tuple[date, date]]
                        ) -> list[int]:
    """One household's civility score of each period [start, end), in one statement (the
    door plate's current and previous star periods)."""
    keys = [keys_of(start, end) for start, end in periods]
    net = dict(s.execute(_HOUSEHOLD_NET, {"hid": household_id,
                                          "keys": sorted({k for ks in keys for k in ks})}).all())
    return [sum(int(net.get(k) or 0) for k in ks) for ks in keys]


def village_totals(s: Session, start: date, end: date) -> dict[int, int]:
    """Village id → the sum of its households' civility scores of [start, end)."""
    R = HolderRollup
    q = (select(R.village_id, func.sum(R.net))
         .where(R.holder_type == HolderType.HOUSEHOLD, R.unit == Unit.POINTS,
                R.period_key.in_(keys_of(start, end)), R.village_id.is_not(None))
         .group_by(R.village_id))
    return {int(v): int(n or 0) for v, n in s.execute(q)}


def ranking(s: Session, *, unit: str, holder_type: str, start: date, end: date, minimum: int,
            limit: int, scope=None) -> list[tuple[int, int]]:
    """(holder id, value) of the best holders of [start, end) by rollup `net` (a household's
    civility score, a person's points or service minutes), best first, ties by holder id;
    `scope(query, HolderRollup)` narrows it (a village, a town, a team's members). One period
    key reads the ranking index in order; several are summed."""
    R = HolderRollup
    keys = keys_of(start, end)
    value = R.net if len(keys) == 1 else func.sum(R.net)
    q = select(R.holder_id, value).where(R.unit == unit, R.holder_type == holder_type,
                                         R.period_key.in_(keys))
    if scope is not None:
        q = scope(q, R)
    if value is R.net:
        q = q.where(R.net >= minimum).order_by(R.net.desc(), R.holder_id)
    else:
        q = (q.group_by(R.holder_id).having(func.sum(R.net) >= minimum)
             .order_by(func.sum(R.net).desc(), R.holder_id))
    return [(int(h), int(v)) for h, v in s.execute(q.limit(limit))]


def year_bounds(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year + 1, 1, 1)
