"""Evaluation as a pure function: (catalog, item, holder, recorder, inputs, period history) →
a decision with the points (in steps) and minutes to credit, or a refusal with a distinct
reason. No database, no clock: the caller passes the counters it locked and the time.
Over 400 lines on purpose: every check an award goes through reads in one module."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

from ledger.rules import spec as S
from ledger.rules.periods import DEED_LEAD, local_date, period_key
from ledger.identity.actor import Actor
from ledger.rules.types import (  # noqa: F401 - the engine's public types, re-exported
    CounterKey,
    Credit,
    Decision,
    Evidence,
    History,
    Holder,
    Inputs,
    Usage,
)

MAX_QUANTITY = 100
MAX_MINUTES_PER_RECORD = 24 * 60
MAX_BACKDATE_DAYS = S.DEFAULT_BACKDATE_DAYS  # the default; catalogs and items set their own
MAX_REF_CHARS = 64
MAX_NOTE_CHARS = 1000
MAX_PHOTOS = 9

CONFIRMER_CHANNELS = ("admin", "inspector")

MESSAGES = {
    "item_unknown": "没有这个条目",
    "rule_inactive": "该条目不在有效期内",
    "out_of_scope": "该目录不适用于此村",
    "subject_not_allowed": "该条目不适用于此类对象",
    "not_permitted": "您无权以此方式记录该条目",
    "self_award_forbidden": "不能为本人或本户记分",
    "evidence_required": "该条目需要提供佐证材料",
    "points_required": "请在分值区间内选定分值",
    "points_out_of_range": "所选分值超出区间",
    "points_not_on_scale": "所选分值不是最小计分单位的整数倍",
    "reason_required": "区间计分须写明理由",
    "level_unknown": "没有这个级别",
    "minutes_required": "请填写服务时长（分钟）",
    "quantity_out_of_range": "次数超出范围",
    "occurred_in_future": "发生时间晚于现在",
    "occurred_too_long_ago": "发生时间早于本条目允许的补记期限（见 max_days），不能补记",
    "period_already_scored": "本周期已计过分",
    "cap_reached": "已达到上限",
    "nothing_to_deduct": "余额不为正，无可清零",
    "needs_second_confirmation": "扣分较大，须由第二人确认",
    "confirmer_same_as_recorder": "确认人不能是记录人",
    "budget_exhausted": "村积分预算已用完",
    "activity_item_deduction": "扣分条目不能用于活动签到计分",
}


class _Refuse(Exception):
    def __init__(self, reason: str, **detail) -> None:
        self.reason, self.detail = reason, detail


def _scopes(c: S.Catalog, item: S.Item) -> list[tuple[str, S.Caps]]:
    out = [(f"item:{c.code}:{item.code}", item.caps),
           (f"cat:{c.code}:{item.category}", c.category_of(item).caps),
           (f"catalog:{c.code}", c.caps)]
    if c.coins and (coin := c.coin_of(item)) is not None:  # a cap per coin (rules/coins.py)
        out.append((f"coin:{c.code}:{coin.code}", coin.caps))
    return out


def waits_for_approval(item: S.Item, inp: Inputs) -> bool:
    """A claim, or an item under review: checked now, committed (under lock) later."""
    return bool(item.review) or inp.channel == "claim"


# (id of a catalog, item code) -> (the catalog, its item's (scope, periods)): what an item's
# counters are depends on the parsed catalog only (frozen), and an award asks it four times.
# The catalog is kept in the value so that an id reused by another object never matches.
_SCOPE_PERIODS: dict[tuple[int, str], tuple[S.Catalog, S.Item, tuple]] = {}
SCOPE_CACHE_SIZE = 1024


def _scope_periods(c: S.Catalog, item: S.Item) -> tuple:
    got = _SCOPE_PERIODS.get((id(c), item.code))
    if got is not None and got[0] is c and got[1] is item:
        return got[2]
    out = []
    for scope, caps in _scopes(c, item):
        periods = {p for _, p, _ in caps}
        if scope.startswith("item:") and item.once_per:
            periods.add(item.once_per)
        if scope.startswith("item:") and item.accumulate:
            periods.add(item.accumulate)
        out.append((scope, tuple(sorted(periods))))
    if len(_SCOPE_PERIODS) >= SCOPE_CACHE_SIZE:
        _SCOPE_PERIODS.clear()
    _SCOPE_PERIODS[(id(c), item.code)] = (c, item, tuple(out))
    return tuple(out)


def _holder_keys(c: S.Catalog, item: S.Item, holder: Holder, inp: Inputs) -> list[CounterKey]:
    d = local_date(inp.occurred_at)
    keys = []
    for scope, periods in _scope_periods(c, item):
        keys += [CounterKey(holder.type, holder.id, scope, period_key(p, d)) for p in periods]
    if item.max_minutes_per_activity and inp.activity_ref:
        keys.append(CounterKey(holder.type, holder.id,
                               f"act:{c.code}:{item.code}:{inp.activity_ref}", "ever"))
    return sorted(set(keys))


def rollup_holder(c: S.Catalog, item: S.Item, holder: Holder) -> Holder | None:
    """The household a person's deed also concerns: it counts there (`rollup: household`)
    or is held there (`wallet: household`)."""
    if (item.rollup == "household" or c.wallet_of(item) == "household") \
            and holder.type == "person" and holder.household_id:
        return Holder("household", holder.household_id, holder.village_id, holder.village_name,
                      holder.household_id, holder.tags)
    return None


def counter_keys(c: S.Catalog, item_code: str, holder: Holder, inp: Inputs) -> list[CounterKey]:
    """The counters an evaluation reads and an award updates (lock these, in this order)."""
    item = c.items.get(item_code)
    if item is None:
        return []
    keys = _holder_keys(c, item, holder, inp)
    if (h := rollup_holder(c, item, holder)) is not None:
        keys += _holder_keys(c, item, h, inp)
    return sorted(set(keys))


def refusal_of_recorder(c: S.Catalog, item: S.Item, *, actor: Actor, channel: str,
                        village_id: int | None, subject: str,
                        for_activity: bool = False) -> tuple[str, dict] | None:
    """Why the engine refuses `actor` recording `item` for a `subject` (person | household)
    of `village_id` through `channel`, or None when it may (whoever the holder turns out to
    be: self-awards and claims for others are checked against the holder itself). Forms list
    exactly the items this returns None for, so they offer what the engine accepts."""
    if subject not in (item.subjects or c.subjects):
        return "subject_not_allowed", {"holder_type": subject}
    allowed = item.recorders if item.recorders is not None else c.recorders
    if channel not in allowed:
        return "not_permitted", {"channel": channel, "allowed": list(allowed)}
    if channel != "claim" and channel not in actor.channels(village_id):
        return "not_permitted", {"channel": channel, "why": "role missing"}
    if for_activity and item.sign < 0:  # attendance earns; a deduction is never a check-in
        return "activity_item_deduction", {"item": item.code}
    return None


def _check_who(c: S.Catalog, item: S.Item, holder: Holder, actor: Actor, inp: Inputs) -> None:
    d = local_date(inp.occurred_at)
    if d < c.effective_from or (item.effective_from and d < item.effective_from) \
            or (item.effective_to and d > item.effective_to):
        raise _Refuse("rule_inactive", date=d.isoformat())
    if not c.covers_village(holder.village_name):
        raise _Refuse("out_of_scope", village=holder.village_name)
    refusal = refusal_of_recorder(c, item, actor=actor, channel=inp.channel,
                                  village_id=holder.village_id, subject=holder.type,
                                  for_activity=inp.activity_ref is not None)
    if refusal is not None:
        raise _Refuse(refusal[0], **refusal[1])
    if inp.channel == "claim":
        if not actor.is_self_or_household(holder):
            raise _Refuse("not_permitted", channel="claim", why="claims are for oneself")
    elif inp.channel != "system" and actor.is_self_or_household(holder):
        raise _Refuse("self_award_forbidden")


def _check_inputs(c: S.Catalog, item: S.Item, inp: Inputs, hist: History) -> None:
    if inp.occurred_at > hist.now + DEED_LEAD:
        raise _Refuse("occurred_in_future")
    days = c.backdate_days_of(item)  # per catalog or item: a year-end assessment reaches back
    if inp.occurred_at < hist.now - timedelta(days=days):
        raise _Refuse("occurred_too_long_ago", max_days=days)
    if "note" in item.evidence and not inp.evidence.note.strip():
        raise _Refuse("evidence_required", missing="note")
    if "photo" in item.evidence and not inp.evidence.photos:
        raise _Refuse("evidence_required", missing="photo")
    if not 1 <= inp.quantity <= MAX_QUANTITY or (inp.quantity != 1 and (
            item.per != "occurrence" or item.range_steps or item.levels or item.sanction)):
        raise _Refuse("quantity_out_of_range", max=MAX_QUANTITY)


def _base(c: S.Catalog, item: S.Item, inp: Inputs, hist: History) -> int:
    """Steps before minutes, multipliers and caps (occurrence, range, level, sanction)."""
    if item.sanction and item.sanction.zero_balance:
        return -max(hist.balance_steps, 0)
    if item.range_steps is not None:
        if inp.points is None:
            raise _Refuse("points_required")
        try:
            f = Fraction(str(inp.points)) * c.scale
        except (ValueError, ZeroDivisionError):
            raise _Refuse("points_out_of_range") from None
        if f.denominator != 1:
            raise _Refuse("points_not_on_scale", scale=c.scale)
        lo, hi = item.range_steps
        if not lo <= int(f) <= hi:
            raise _Refuse("points_out_of_range", min=c.points(lo), max=c.points(hi))
        if not inp.reason.strip():
            raise _Refuse("reason_required")
        return int(f)
    if item.levels:
        levels = dict(item.levels)
        if inp.level not in levels:
            raise _Refuse("level_unknown", levels=list(levels))
        return levels[inp.level]
    return (item.points_steps or 0) * inp.quantity


def _usage(hist: History, key: CounterKey) -> Usage:
    return hist.usage.get(key) or Usage()


def _cap_list(c: S.Catalog, item: S.Item, metric: str) -> list[tuple[str, str, int]]:
    return [(scope, period, limit) for scope, caps in _scopes(c, item)
            for m, period, limit in caps if m == metric]


def _counted_minutes(c: S.Catalog, item: S.Item, holder: Holder, inp: Inputs, hist: History,
                     caps_log: list[dict]) -> int:
    """Service minutes after the per-activity limit and every minutes cap."""
    if inp.minutes is None or not 1 <= inp.minutes <= MAX_MINUTES_PER_RECORD:
        raise _Refuse("minutes_required", max=MAX_MINUTES_PER_RECORD)
    d = local_date(inp.occurred_at)
    counted = inp.minutes
    limits = []
    if item.max_minutes_per_activity:
        used = 0
        if inp.activity_ref:
            used = _usage(hist, CounterKey(holder.type, holder.id,
                                           f"act:{c.code}:{item.code}:{inp.activity_ref}",
                                           "ever")).minutes
        limits.append((f"act:{c.code}:{item.code}", "activity", item.max_minutes_per_activity,
                       used))
    for scope, period, limit in _cap_list(c, item, "minutes"):
        used = _usage(hist, CounterKey(holder.type, holder.id, scope, period_key(period, d)))
        limits.append((scope, period, limit, used.minutes))
    for scope, period, limit, used in limits:
        room = limit - used
        caps_log.append({"scope": scope, "period": period, "metric": "minutes", "limit": limit,
                         "before": used, "clipped": room < counted})
        if room <= 0:
            raise _Refuse("cap_reached", scope=scope, period=period, metric="minutes",
                          limit=limit)
        counted = min(counted, room)
    for entry in caps_log:
        entry["after"] = entry["before"] + counted
    return counted


def _multiplier(c: S.Catalog, item: S.Item, holder: Holder, inp: Inputs, sign: int
                ) -> tuple[S.Multiplier | None, list[str]]:
    d = local_date(inp.occurred_at)
    target = "awards" if sign > 0 else "deductions"
    matched = [m for m in c.multipliers
               if m.applies_to in (target, "both")
               and (not m.categories or item.category in m.categories)
               and (not m.items or item.code in m.items)
               and (not m.days_of_month or d.day in m.days_of_month)
               and (not m.weekdays or d.isoweekday() in m.weekdays)
               and (m.date_from is None or d >= m.date_from)
               and (m.date_to is None or d <= m.date_to)
               and (not m.holder_tags or holder.tags & set(m.holder_tags))]
    best = max(matched, key=lambda m: m.factor, default=None)  # the highest applies, never a product
    return best, [m.code for m in matched]


def _apply_points_caps(c: S.Catalog, item: S.Item, holder: Holder, inp: Inputs, hist: History,
                       steps: int, caps_log: list[dict], allow_zero: bool) -> int:
    d = local_date(inp.occurred_at)
    sign = 1 if steps >= 0 else -1
    mag = abs(steps)
    for scope, period, limit in _cap_list(c, item, "times"):
        used = _usage(hist, CounterKey(holder.type, holder.id, scope, period_key(period, d))).times
        caps_log.append({"scope": scope, "period": period, "metric": "times", "limit": limit,
                         "before": used, "after": used + 1, "clipped": False})
        if used + 1 > limit:
            raise _Refuse("cap_reached", scope=scope, period=period, metric="times", limit=limit)
    points_log = []
    for scope, period, limit in _cap_list(c, item, "points"):
        u = _usage(hist, CounterKey(holder.type, holder.id, scope, period_key(period, d)))
        used = u.award_steps if sign > 0 else u.deduct_steps
        room = limit - used
        points_log.append({"scope": scope, "period": period, "metric": "points",
                           "limit": c.points(limit), "before": c.points(used),
                           "clipped": room < mag, "_used": used})
        if room <= 0 and not allow_zero:
            raise _Refuse("cap_reached", scope=scope, period=period, metric="points",
                          limit=c.points(limit))
        mag = max(min(mag, room), 0)
    for entry in points_log:
        entry["after"] = c.points(entry.pop("_used") + mag)
    caps_log.extend(points_log)
    return sign * mag


def _credit(c: S.Catalog, item: S.Item, holder: Holder, inp: Inputs, hist: History,
            base: int, factor: Fraction, rolled_minutes: int | None = None) -> Credit:
    """One holder's share. A roll-up to the household reuses the person's counted minutes
    (service time stays the person's) and meets the household's own points caps."""
    keys = _holder_keys(c, item, holder, inp)
    if item.once_per:
        k = CounterKey(holder.type, holder.id, f"item:{c.code}:{item.code}",
                       period_key(item.once_per, local_date(inp.occurred_at)))
        if _usage(hist, k).times > 0:
            raise _Refuse("period_already_scored", period=k.period)
    caps_log: list[dict] = []
    minutes = 0
    steps = base
    if item.per != "occurrence":
        minutes = rolled_minutes if rolled_minutes is not None else \
            _counted_minutes(c, item, holder, inp, hist, caps_log)
        if item.per == "hour" and item.accumulate and rolled_minutes is None:
            # remainders carry within the period: two 30-minute deeds give one hour's points
            k = CounterKey(holder.type, holder.id, f"item:{c.code}:{item.code}",
                           period_key(item.accumulate, local_date(inp.occurred_at)))
            before = _usage(hist, k).minutes
            steps = item.points_steps * (before + minutes) // 60 - \
                item.points_steps * before // 60
        elif item.per == "hour":
            steps = item.points_steps * minutes // 60
        else:
            steps = item.points_steps * (minutes // item.half_day_minutes)
    steps = int(steps * factor) if steps >= 0 else -int(-steps * factor)
    keeps_minutes = item.per != "occurrence" and item.books_minutes and rolled_minutes is None
    steps = _apply_points_caps(c, item, holder, inp, hist, steps, caps_log,
                               allow_zero=keeps_minutes or steps == 0)
    if steps == 0 and not keeps_minutes and not (item.sanction and (
            item.sanction.bar_redemption_days or item.sanction.ban_days)):
        raise _Refuse("nothing_to_deduct" if item.sanction else "cap_reached")
    own_minutes = minutes if item.books_minutes and rolled_minutes is None else 0
    return Credit(holder, steps, own_minutes, keys, caps_log)


def _check_confirmation(c: S.Catalog, holder: Holder, actor: Actor, steps: int,
                        confirmer: Actor | None) -> None:
    limit = c.second_confirmation_over_steps
    if steps >= 0 or limit is None or -steps <= limit:
        return
    if confirmer is None:
        raise _Refuse("needs_second_confirmation", over=c.points(limit))
    if confirmer.user_id == actor.user_id:
        raise _Refuse("confirmer_same_as_recorder")
    if confirmer.is_self_or_household(holder):
        raise _Refuse("self_award_forbidden", who="confirmer")
    if not confirmer.channels(holder.village_id) & set(CONFIRMER_CHANNELS):
        raise _Refuse("not_permitted", who="confirmer")


def _roll_up(c: S.Catalog, item: S.Item, holder: Holder, household: Holder, inp: Inputs,
             hist: History, base: int, factor: Fraction, dec: Decision) -> None:
    """The household's share of a member's deed, within the household's own caps. One of the
    two is held in a wallet, the other only counts (DESIGN guarantee 7): with `wallet:
    household` the household holds it and the person counts it, otherwise the reverse."""
    first = dec.credits[0]
    in_household = c.wallet_of(item) == "household"
    try:
        rolled = first.minutes if item.per != "occurrence" else None
        if rolled is not None and not item.books_minutes:
            rolled = _counted_minutes(c, item, holder, inp, hist, [])
        share = _credit(c, item, household, inp, hist, base, factor, rolled)
    except _Refuse as r:
        if in_household:  # nowhere to hold it
            raise
        dec.rollup_refused = {"reason": r.reason, "message": MESSAGES[r.reason], **r.detail}
        return
    share.held, first.held = in_household, not in_household
    dec.credits.append(share)


def evaluate(c: S.Catalog, item_code: str, holder: Holder, actor: Actor, inp: Inputs,
             hist: History, *, confirmer: Actor | None = None) -> Decision:
    """Decide what an award or deduction would credit; never touches a database."""
    item = c.items.get(item_code)
    dec = Decision(ok=False, reason=None, catalog=c.code, catalog_version=c.version,
                   item=item_code, item_version=item.version if item else 0,
                   inputs=inp.as_dict(), minutes_input=inp.minutes)
    try:
        if item is None:
            raise _Refuse("item_unknown")
        dec.sign = item.sign
        dec.needs_review = item.review or inp.channel == "claim"
        dec.notice_days = c.notice_days_for(item, holder.village_name)
        dec.backdate_days = c.backdate_days_of(item)
        if item.sanction:
            dec.sanction = {"zero_balance": item.sanction.zero_balance,
                            "bar_redemption_days": item.sanction.bar_redemption_days,
                            "ban_days": item.sanction.ban_days}
        _check_who(c, item, holder, actor, inp)
        _check_inputs(c, item, inp, hist)
        base = _base(c, item, inp, hist)
        dec.base_steps = base
        best, dec.multipliers_matched = _multiplier(c, item, holder, inp, item.sign)
        factor = best.factor if best else Fraction(1)
        if best:
            dec.multiplier = {"code": best.code, "name": best.name, "factor": str(best.factor)}
        dec.credits.append(_credit(c, item, holder, inp, hist, base, factor))
        if (h := rollup_holder(c, item, holder)) is not None:
            _roll_up(c, item, holder, h, inp, hist, base, factor, dec)
        _check_confirmation(c, holder, actor, dec.steps, confirmer)
        need = dec.held_award_steps
        if need and hist.budget_available is not None and need > hist.budget_available:
            raise _Refuse("budget_exhausted", available=c.points(hist.budget_available),
                          needed=c.points(need))
    except _Refuse as r:
        dec.ok, dec.reason, dec.message, dec.detail = False, r.reason, MESSAGES[r.reason], r.detail
        dec.credits = []
        return dec
    dec.ok, dec.message = True, "可以记分"
    return dec
