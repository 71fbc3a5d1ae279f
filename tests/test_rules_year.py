"""A year of generated activity under each shipped catalog gives the totals that a separate,
plain calculation in this file expects (per holder: points and service minutes)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import select

from ledger.registry.models import Team
from ledger.errors import DomainError
from ledger.journal.models import Account
from ledger.rules import coins, levels, store, timebank
from ledger.rules import service as svc
from ledger.rules.expiry import expire_due, post_opening_grants
from ledger.rules.periods import local_date, period_key
from ledger.rules.workflow import post_due_notices
from ledger.timeutil import utcnow
from tests.conftest import audit_clean
from tests.builders.rules import add_household, add_person, balance, load, make_world, staff

def score_balance(db, holder_type: str, holder_id: int) -> int:
    """What counts for the holder without being held by it (ledger/rules/wallets.py)."""
    with db.sessions() as s:
        return s.scalar(select(Account.balance).where(
            Account.holder_type == holder_type, Account.holder_id == holder_id,
            Account.purpose == "score")) or 0


YEAR_START = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 00:00 Beijing
EVENTS = 300


class Plain:
    """The catalog's arithmetic written out plainly, one deed at a time."""

    def __init__(self, c):
        self.c = c
        self.used = defaultdict(int)  # (holder, scope, period key, metric) → amount
        self.points = defaultdict(int)
        self.minutes = defaultdict(int)
        self.counted = defaultdict(int)  # a deed held in another wallet, counted here
        self.coins = defaultdict(int)  # (holder, coin) → coins earned (rules/coins.py)
        self.earned = defaultdict(int)  # positive amounts awarded (levels' points_earned)
        self.deducted = defaultdict(list)  # holder → (time, steps) of each deduction
        self.bank = defaultdict(int)  # person → banked minutes (rules/timebank.py)
        self.bank_earned = defaultdict(int)

    def _caps(self, item):
        cat = self.c.category_of(item)
        coin = self.c.coin_of(item)
        return [("item:" + item.code, item.caps), ("cat:" + cat.code, cat.caps),
                ("catalog", self.c.caps)] + ([("coin:" + coin.code, coin.caps)] if coin else [])

    def _room(self, holder, scope, caps, metric, d, sign_key):
        rooms = []
        for m, p, limit in caps:
            if m == metric:
                rooms.append(limit - self.used[(holder, scope, period_key(p, d), sign_key)])
        return rooms

    def _factor(self, item, d, tags, sign):
        best = Fraction(1)
        for m in self.c.multipliers:
            if m.applies_to not in (("awards" if sign > 0 else "deductions"), "both"):
                continue
            if m.categories and item.category not in m.categories or \
                    m.items and item.code not in m.items or \
                    m.days_of_month and d.day not in m.days_of_month or \
                    m.weekdays and d.isoweekday() not in m.weekdays or \
                    m.date_from and d < m.date_from or m.date_to and d > m.date_to or \
                    m.holder_tags and not set(m.holder_tags) & tags:
                continue
            best = max(best, m.factor)
        return best

    def _one(self, item, holder, d, base_steps, minutes, tags, rolled):
        if item.once_per and self.used[(holder, "item:" + item.code,
                                        period_key(item.once_per, d), "n")]:
            return None
        counted = 0
        if item.per != "occurrence":
            counted = minutes
            if rolled is None:
                counted = min(counted, item.max_minutes_per_activity or counted)
                for scope, caps in self._caps(item):
                    for room in self._room(holder, scope, caps, "minutes", d, "min"):
                        if room <= 0:
                            return None
                        counted = min(counted, room)
            else:
                counted = rolled
            unit = 60 if item.per == "hour" else item.half_day_minutes
            base_steps = item.points_steps * counted // unit if item.per == "hour" else \
                item.points_steps * (counted // unit)
        sign = -1 if base_steps < 0 else 1
        mag = int(abs(base_steps) * self._factor(item, d, tags, item.sign))
        for scope, caps in self._caps(item):
            for room in self._room(holder, scope, caps, "times", d, "n"):
                if room < 1:
                    return None
        keeps = item.per != "occurrence" and rolled is None
        for scope, caps in self._caps(item):
            for room in self._room(holder, scope, caps, "points", d, sign):
                if room <= 0 and not (keeps or mag == 0):
                    return None
                mag = max(min(mag, room), 0)
        if mag == 0 and not keeps:
            return None
        for scope, caps in self._caps(item):
            periods = {p for _, p, _ in caps} | ({item.once_per} if scope.startswith("item:")
                                                 and item.once_per else set())
            for p in periods:
                k = (holder, scope, period_key(p, d))
                self.used[(*k, sign)] += mag
                self.used[(*k, "n")] += 1
                self.used[(*k, "min")] += counted if rolled is None else 0
        return sign * mag, counted

    def deed(self, item, holder, household, at, inputs, tags):  # noqa: C901 - the rules, plainly
        d = local_date(at)
        base = 0
        if item.range_steps:
            base = int(Fraction(str(inputs["points"])) * self.c.scale)
        elif item.levels:
            base = dict(item.levels)[inputs["level"]]
        elif item.per == "occurrence":
            base = item.points_steps * inputs.get("quantity", 1)
        before = dict(self.used)
        got = self._one(item, holder, d, base, inputs.get("minutes", 0), tags, None)
        if got is None:
            return
        in_household = self.c.wallet_of(item) == "household" and household
        if (item.rollup or in_household) and household:
            hh = self._one(item, ("household", household), d, base, 0, tags,
                           got[1] if item.per != "occurrence" else None)
            if in_household:  # held by the household, counted for the person
                if hh is None:  # nowhere to hold it: the whole deed is refused
                    self.used.clear()
                    self.used.update(before)
                    return
                self.minutes[holder] += got[1] if item.per != "occurrence" else 0
                self.points[("household", household)] += hh[0]
                self.counted[holder] += got[0]
                return
            if hh is not None:  # counted for the household, held by the person
                self.counted[("household", household)] += hh[0]
        self.minutes[holder] += got[1] if item.per != "occurrence" else 0
        coin = self.c.coin_of(item)
        if coin is not None:  # earned in the coin, not in points
            self.coins[(holder, coin.code)] += got[0]
        else:
            self.points[holder] += got[0]
            self.earned[holder] += max(got[0], 0)
            if got[0] < 0:
                self.deducted[holder].append((at, -got[0]))

    def exchange(self, receiver, helper, minutes, at):
        """A time-bank exchange: both opened once (only if it goes through), the helper's
        yearly cap, the receiver never overdrawn. Returns whether it went through."""
        tb = self.c.time_bank
        bank = dict(self.bank)
        for p in (receiver, helper):
            if p not in self.bank:
                bank[p] = tb.opening_minutes
        year = (helper, local_date(at).year)
        if tb.year_cap_minutes is not None and \
                self.bank_earned[year] + minutes > tb.year_cap_minutes:
            return False
        if bank[receiver] < minutes:
            return False
        bank[receiver] -= minutes
        bank[helper] += minutes
        self.bank.update(bank)
        self.bank_earned[year] += minutes
        return True

    def level(self, holder, now):
        """The rank the demo's levels give: levels met from the lowest up (each is `after` the
        one below), none while a bar after heavy deductions stands."""
        total = 0
        for at, steps in self.deducted[holder]:
            total += steps
            for st in self.c.standing:
                if st.deducted_over_steps is not None and total > st.deducted_over_steps \
                        and "stars" in st.effects and at <= now < at + timedelta(days=st.for_days):
                    return 0
        rank = 0
        for lv in self.c.levels.levels:
            if lv.selection or lv.activities or \
                    (lv.hours and self.minutes[holder] < lv.hours * 60) or \
                    (lv.points_held_steps and self.points[holder] < lv.points_held_steps) or \
                    (lv.points_earned_steps and self.earned[holder] < lv.points_earned_steps):
                break
            rank += 1
        return rank


def _usable(c, item):
    recorders = item.recorders if item.recorders is not None else c.recorders
    return not item.review and not item.sanction and set(recorders) & {"admin", "inspector",
                                                                       "organizer"}


def _inputs(rng, c, item):
    ctx = {"note": "记录", "photos": ["photo:1"]}
    if item.per != "occurrence":
        ctx["minutes"] = rng.randrange(20, 601)
    elif item.range_steps:
        lo, hi = item.range_steps
        ctx["points"] = float(Fraction(rng.randrange(lo, hi + 1), c.scale))
        ctx["reason"] = "理由"
    elif item.levels:
        ctx["level"] = rng.choice([name for name, _ in item.levels])
    else:
        ctx["quantity"] = rng.randrange(1, 4)
    return ctx


@pytest.mark.parametrize("code,village", [("baogai", "塘后村"), ("household_1000", "坑东村"),
                                          ("volunteer_hours", "塘后村"),
                                          ("family_bank", "塘后村"),
                                          ("volunteer_levels", "塘后村"),
                                          ("multi_currency", "坑东村")])
def test_a_year_of_activity_gives_the_expected_totals(db, settings, code, village):
    rng = random.Random(f"year:{code}")
    w = make_world(db, villages=(village,), budget=10_000_000)
    load(db, code)
    with db.sessions() as s:
        c = store.catalog(s, code)
    vid = w.villages[village]
    households = [add_household(db, w, f"户{i}", village) for i in range(3)]
    people = [(add_person(db, w, f"人{i}", village, f"户{i % 3}"), households[i % 3])
              for i in range(5)]
    with db.transaction() as s:
        team = Team(town_id=w.town, village_id=vid, kind="卫生环保", name="清洁队",
                    standing=True, created_at=utcnow())
        s.add(team)
        s.flush()
        team_id = team.id
    tags = {people[0][0]: {"team_leader"}}
    admin = staff(50, "village_admin", "inspector", "organizer", village_id=vid)
    second = staff(51, "inspector", village_id=vid)
    plain = Plain(c)
    if c.opening_grant or c.opening_balance:
        post_opening_grants(db, settings, YEAR_START + timedelta(hours=1))
    if c.opening_grant:
        for h in households:
            plain.points[("household", h)] += c.opening_grant.points_steps
    if c.opening_balance:  # once per holder, beside any grant
        for subject in c.opening_balance.subjects:
            for hid in {"household": households, "person": [p for p, _ in people],
                        "team": [team_id]}[subject]:
                plain.points[(subject, hid)] += c.opening_balance.points_steps
    items = [it for it in c.items.values() if _usable(c, it)]
    seen_levels: set[int] = set()
    for n in range(EVENTS):
        at = YEAR_START + timedelta(days=n * 365 // EVENTS, hours=rng.randrange(8, 20),
                                    minutes=rng.randrange(60))
        item = rng.choice(items)
        subjects = item.subjects or c.subjects
        kind = rng.choice(subjects)
        if kind == "person":
            pid, hh = rng.choice(people)
            holder, t = ("person", pid), tags.get(pid, set())
        elif kind == "household":
            holder, hh, t = ("household", rng.choice(households)), None, set()
        else:
            holder, hh, t = ("team", team_id), None, set()
        ctx = _inputs(rng, c, item)
        recorders = item.recorders if item.recorders is not None else c.recorders
        ctx["channel"] = next(ch for ch in ("admin", "inspector", "organizer") if ch in recorders)
        ctx["occurred_at"] = at.isoformat()
        if t:
            ctx["tags"] = sorted(t)
        try:
            svc.record_award(db, settings, item_code=item.code, holder=holder, recorder=admin,
                             confirmer=second, context=ctx, key=None, now=at)
        except DomainError as exc:
            assert exc.code in {"cap_reached", "period_already_scored"}, exc.code
        plain.deed(item, holder, hh, at, ctx, t)
        if c.levels and n % 50 == 49:  # levels now, as the holder's page would record them
            with db.transaction() as s:
                for pid, _ in people:
                    got = levels.refresh(s, "person", pid, at)[0]["rank"]
                    assert got == plain.level(("person", pid), at), (pid, at)
                    seen_levels.add(got or None)
                    seen_levels.discard(None)
        if c.time_bank and n % 3 == 0:  # a neighbour's help paid in banked hours
            (r, _), (h, _) = rng.sample(people, 2)
            m = rng.randrange(10, c.time_bank.max_exchange_minutes + 1)
            try:
                timebank.record(db, settings, timebank.Exchange(r, h, m, "互助"),
                                recorder=admin, now=at)
                went = True
            except DomainError as exc:
                assert exc.code in {"time_bank_insufficient", "time_bank_year_cap"}, exc.code
                went = False
            assert went == plain.exchange(r, h, m, at)
    while post_due_notices(db, YEAR_START + timedelta(days=400)):
        pass
    holders = [("person", p) for p, _ in people] + [("household", h) for h in households] + \
        [("team", team_id)]
    for h in holders:
        assert balance(db, *h) == plain.points[h], h
        assert balance(db, *h, unit="minutes") == plain.minutes[h], h
        assert score_balance(db, *h) == plain.counted[h], h
        for coin in c.coins:
            assert balance(db, *h, unit=coins.unit_of(coin)) == plain.coins[(h, coin.code)], h
    assert sum(plain.points.values()) + sum(plain.coins.values()) != 0
    end = YEAR_START + timedelta(days=365)
    if c.levels:  # each person's level from the plain figures
        with db.transaction() as s:
            for pid, _ in people:
                got = levels.refresh(s, "person", pid, end)[0]["rank"]
                assert got == plain.level(("person", pid), end), pid
        assert seen_levels, "no level reached all year"
    if c.time_bank:
        for pid, _ in people:
            assert balance(db, "person", pid, unit="bank_minutes") == plain.bank.get(pid, 0)
            assert balance(db, "person", pid, unit="minutes") == plain.minutes[("person", pid)]
    for coin in c.coins:  # each person converts what the rate allows into points
        for pid, _ in people:
            h = ("person", pid)
            n = plain.coins[(h, coin.code)] // coin.rate_coin_steps * coin.rate_coin_steps
            if n <= 0:
                continue
            coins.convert(db, settings, holder_type="person", holder_id=pid,
                          coin_code=coin.code, amount=c.points(n), recorder=admin, now=end)
            plain.coins[(h, coin.code)] -= n
            plain.points[h] += n // coin.rate_coin_steps * coin.rate_points_steps
            assert balance(db, *h, unit=coins.unit_of(coin)) == plain.coins[(h, coin.code)]
            assert balance(db, *h) == plain.points[h]
    if c.expiry and c.expiry.year_end:  # 清零: the year's positive balances all expire
        expire_due(db, YEAR_START + timedelta(days=365))
        for h in holders:
            assert balance(db, *h) == min(plain.points[h], 0)
    audit_clean(db)
