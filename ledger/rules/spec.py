"""A catalog in memory: frozen dataclasses the engine reads, and their canonical plain form
(`to_dict`) that export writes and the database stores. Points are kept in steps of the
catalog's scale (scale 2: one step is half a point), so every amount is an integer.
(Just over 400 lines: the catalog's every shape and its plain form belong together.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction

from ledger.rules.periods import PERIODS, period_start
from ledger.units import points_of  # noqa: F401 - re-exported: S.points_of

ALLOWED_SCALES = (1, 2, 4, 5, 10, 20, 100)
SUBJECTS = ("person", "household", "team")
CHANNELS = ("inspector", "organizer", "admin", "claim", "system")
LEVELS = ("national", "provincial", "city", "county", "town", "village")
ONCE_PERIODS = ("week", "month", "quarter", "half_year", "year", "ever")
GRANT_PERIODS = ("month", "quarter", "half_year", "year")
PER_UNITS = ("occurrence", "hour", "half_day")
WALLETS = ("own", "household")  # where a person's deed is held (see ledger/rules/wallets.py)
EVIDENCE_KINDS = ("note", "photo")
MAX_POLICY_DAYS_AHEAD = 400  # a redemption policy that opens no day within this far has no next day
ITEM_CAP_METRICS = ("points", "times", "minutes")
CATALOG_CAP_METRICS = ("points", "minutes")
MULTIPLIER_TARGETS = ("awards", "deductions", "both")
DEFAULT_SUBJECTS = ("person", "household")
DEFAULT_RECORDERS = ("inspector", "organizer", "admin")
DEFAULT_HALF_DAY_MINUTES = 240
DEFAULT_APPEAL_DAYS = 7
DEFAULT_BACKDATE_DAYS = 90
MAX_BACKDATE_DAYS = 400  # a year-end assessment reaches back a whole year, not further
DEFAULT_EXPIRY_NOTICE_DAYS = 30

Caps = tuple[tuple[str, str, int], ...]  # (metric, period, limit); points limits in steps


def caps_sorted(caps: dict[tuple[str, str], int]) -> Caps:
    return tuple(sorted(((m, p, n) for (m, p), n in caps.items()),
                        key=lambda c: (c[0], PERIODS.index(c[1]))))


@dataclass(frozen=True)
class Multiplier:
    code: str
    name: str
    factor: Fraction
    categories: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    days_of_month: tuple[int, ...] = ()
    weekdays: tuple[int, ...] = ()  # 1 = Monday … 7 = Sunday
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    holder_tags: tuple[str, ...] = ()
    applies_to: str = "awards"


@dataclass(frozen=True)
class Sanction:
    zero_balance: bool = False
    bar_redemption_days: int = 0
    ban_days: int = 0  # a ban from everything standing governs (faked hours: 1–3 years)


STANDING_EFFECTS = ("redeem", "draws", "honors", "stars", "checkin")


@dataclass(frozen=True)
class StandingState:
    """A named state of standing and what it stops (see ledger/rules/standing.py): in force
    while the balance is below `below_steps`, or for `for_days` after the points deducted in
    a year pass `deducted_over_steps`."""

    code: str
    name: str
    effects: tuple[str, ...]
    below_steps: int | None = None
    deducted_over_steps: int | None = None
    for_days: int = 0


LEVEL_DOWNGRADES = ("never", "points")  # levels kept once reached, or fall with points held


@dataclass(frozen=True)
class Level:
    """One level of a scheme (ledger/rules/levels.py): reached when every criterion it names
    holds; criteria left out (None, False) are not asked."""

    code: str
    name: str
    hours: int | None = None  # certified service hours, lifetime (never go down)
    points_earned_steps: int | None = None  # points ever awarded (posted, positive)
    points_held_steps: int | None = None  # points available now (balance less holds)
    activities: int | None = None  # certified activities attended
    after: str | None = None  # a lower level reached first
    selection: bool = False  # an admin's selection recorded for this level


@dataclass(frozen=True)
class LevelScheme:
    levels: tuple[Level, ...]
    subjects: tuple[str, ...] = ("person",)
    downgrade: str = "never"  # "points": a level whose points held are no longer met falls


@dataclass(frozen=True)
class TimeBank:
    """Hours as a currency (ledger/rules/timebank.py): a person spends banked minutes to
    receive help, the helper earns them; certified service minutes are never touched."""

    opening_minutes: int = 0  # given once to each person at their first exchange
    max_exchange_minutes: int = 480
    year_cap_minutes: int | None = None  # at most this many earned through the bank a year


@dataclass(frozen=True)
class Coin:
    """An earning currency (ledger/rules/coins.py): items of these categories credit the coin,
    not points; a holder converts coins into the shop currency (points) at the coin's rate;
    `caps` per holder across the coin's categories (an annual cap per coin)."""

    code: str
    name: str
    categories: tuple[str, ...]
    rate_coin_steps: int  # this many coin steps …
    rate_points_steps: int  # … convert into this many points steps (the shop currency)
    caps: Caps = ()


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    category: str
    per: str = "occurrence"
    points_steps: int | None = None  # fixed points per occurrence / hour / half day
    range_steps: tuple[int, int] | None = None  # the recorder picks within
    levels: tuple[tuple[str, int], ...] = ()  # level → steps
    half_day_minutes: int = DEFAULT_HALF_DAY_MINUTES
    once_per: str | None = None
    subjects: tuple[str, ...] | None = None  # None: the catalog's
    rollup: str | None = None  # "household": a person's deed also counts for the household
    wallet: str | None = None  # "own" | "household": where it is held (None: the catalog's)
    backdate_days: int | None = None  # how far back a deed may be recorded (None: catalog's)
    accumulate: str | None = None  # per-hour: minutes carry over within this period
    caps: Caps = ()
    max_minutes_per_activity: int | None = None
    recorders: tuple[str, ...] | None = None
    review: bool = False
    evidence: tuple[str, ...] = ()
    public_notice_days: int | None = None
    effective_from: date | None = None
    effective_to: date | None = None  # inclusive
    sanction: Sanction | None = None
    book_minutes: bool | None = None  # None: yes for per-hour and per-half-day items
    description: str = ""
    version: int = field(default=0, compare=False)  # set when read from the database

    @property
    def sign(self) -> int:
        vals = [v for v in (self.points_steps,) if v is not None]
        vals += list(self.range_steps or ()) + [v for _, v in self.levels]
        if any(v < 0 for v in vals) or (self.sanction and self.sanction.zero_balance):
            return -1
        return 1

    @property
    def books_minutes(self) -> bool:
        return self.per != "occurrence" if self.book_minutes is None else self.book_minutes


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    caps: Caps = ()
    items: tuple[str, ...] = ()


GRANT_NEGATIVE = ("carry", "reset")  # a negative balance at a new period: N + debt, or N


@dataclass(frozen=True)
class Grant:
    points_steps: int
    every: str
    subjects: tuple[str, ...] = ("household",)
    negative: str = "carry"


@dataclass(frozen=True)
class OpeningBalance:
    """Given once to each holder of these subjects when it joins the scheme."""

    points_steps: int
    subjects: tuple[str, ...] = ("person",)


@dataclass(frozen=True)
class RedemptionPolicy:
    """Holder-level rules on redeeming (enforced by ledger/redemption/holder_policy.py)."""

    per_holder: tuple[tuple[str, int], ...] = ()  # (period, at most K orders) across rewards
    per_reward: tuple[tuple[str, int], ...] = ()  # (period, at most K orders) of one reward
    days_of_month: tuple[int, ...] = ()  # only on these days …
    period_ends: tuple[str, ...] = ()  # … or on the last day of these periods
    min_activities: int = 0  # only after this many certified activities attended

    def allows(self, d: date) -> bool:
        """Whether redeeming is open on the local day `d` (every day when no days are set)."""
        if not self.days_of_month and not self.period_ends:
            return True
        if d.day in self.days_of_month:
            return True
        nxt = d + timedelta(days=1)
        return any(period_start(k, nxt) == nxt for k in self.period_ends)

    def next_day(self, d: date) -> date | None:
        """The first day after `d` that redeeming is open, within MAX_POLICY_DAYS_AHEAD."""
        for i in range(1, MAX_POLICY_DAYS_AHEAD):
            if self.allows(d + timedelta(days=i)):
                return d + timedelta(days=i)
        return None


@dataclass(frozen=True)
class Expiry:
    after_years: int | None = None  # lots expire on their anniversary N years on
    year_end: bool = False  # 清零: everything earned in a year goes at its end
    notice_days: int = DEFAULT_EXPIRY_NOTICE_DAYS


@dataclass(frozen=True)
class Catalog:
    code: str
    name: str
    effective_from: date
    categories: tuple[Category, ...]
    items: dict[str, Item] = field(hash=False)
    demo: bool = False
    description: str = ""
    town: str = ""
    villages: tuple[str, ...] = ()  # empty: the whole town
    scale: int = 1
    point_value_fen: int = 0
    approved_by: str = ""
    decision: str = ""
    approved_on: date | None = None
    subjects: tuple[str, ...] = DEFAULT_SUBJECTS
    recorders: tuple[str, ...] = DEFAULT_RECORDERS
    public_notice_days: int = 0
    village_notice_days: tuple[tuple[str, int], ...] = ()
    appeal_days: int = DEFAULT_APPEAL_DAYS
    second_confirmation_over_steps: int | None = None
    redeem_min_steps: int | None = None
    flag_below_steps: int | None = None
    floor_steps: int | None = None  # only points above this base may be spent
    wallet: str = "own"  # where a person's deed is held unless its item says
    backdate_days: int = DEFAULT_BACKDATE_DAYS  # a committee records a year's findings: 366
    redemption: RedemptionPolicy | None = None
    expiry: Expiry | None = None
    opening_grant: Grant | None = None
    opening_balance: OpeningBalance | None = None
    standing: tuple[StandingState, ...] = ()
    levels: LevelScheme | None = None  # None: the national 1–5 stars by hours stay the levels
    time_bank: TimeBank | None = None
    coins: tuple[Coin, ...] = ()
    caps: Caps = ()
    multipliers: tuple[Multiplier, ...] = ()
    version: int = field(default=0, compare=False)

    def backdate_days_of(self, item: Item) -> int:
        return item.backdate_days if item.backdate_days is not None else self.backdate_days

    def wallet_of(self, item: Item) -> str:
        return item.wallet or self.wallet

    def coin_of(self, item: Item) -> Coin | None:
        return next((k for k in self.coins if item.category in k.categories), None)

    def category_of(self, item: Item) -> Category:
        return next(c for c in self.categories if c.code == item.category)

    def covers_village(self, village_name: str | None) -> bool:
        return not self.villages or village_name in self.villages

    def notice_days_for(self, item: Item, village_name: str | None) -> int:
        village = dict(self.village_notice_days).get(village_name or "", 0)
        own = self.public_notice_days if item.public_notice_days is None \
            else item.public_notice_days
        return max(own, village)

    def points(self, steps: int) -> int | float:
        """Steps back to points for people and files: whole numbers stay whole."""
        return points_of(steps, self.scale)
