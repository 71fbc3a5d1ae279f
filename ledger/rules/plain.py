"""A catalog written back to its plain form: the dict (and so the YAML) a town writes, which
`catalog_io` dumps and `validate.build` reads again to the same `spec.Catalog`. The reading half
is `validate*`; the types are `spec`."""

from __future__ import annotations

from ledger.rules import spec as S
from ledger.rules.spec import (
    DEFAULT_APPEAL_DAYS,
    DEFAULT_BACKDATE_DAYS,
    DEFAULT_EXPIRY_NOTICE_DAYS,
    DEFAULT_HALF_DAY_MINUTES,
    DEFAULT_RECORDERS,
    DEFAULT_SUBJECTS,
    Caps,
    Catalog,
    Item,
    Multiplier,
)
from ledger.units import points_of


def _caps_dict(caps: Caps, scale: int) -> dict:
    out: dict = {}
    for metric, period, limit in caps:
        out.setdefault(metric, {})[period] = points_of(limit, scale) if metric == "points" \
            else limit
    return out


def _multiplier_dict(m: Multiplier) -> dict:
    f = m.factor
    d: dict = {"code": m.code, "name": m.name,
               "factor": f.numerator if f.denominator == 1 else float(f)}
    for key, val in (("categories", list(m.categories)), ("items", list(m.items)),
                     ("days_of_month", list(m.days_of_month)), ("weekdays", list(m.weekdays)),
                     ("from", m.date_from), ("to", m.date_to),
                     ("holder_tags", list(m.holder_tags))):
        if val:
            d[key] = val
    if m.applies_to != "awards":
        d["applies_to"] = m.applies_to
    return d


def _item_dict(it: Item, scale: int) -> dict:
    p = lambda s: points_of(s, scale)
    d: dict = {"code": it.code, "name": it.name}
    if it.description:
        d["description"] = it.description
    if it.per != "occurrence":
        d["per"] = it.per
    if it.range_steps is not None:
        d["points"] = {"min": p(it.range_steps[0]), "max": p(it.range_steps[1])}
    elif it.levels:
        d["levels"] = {name: p(v) for name, v in it.levels}
    elif it.points_steps is not None:
        d["points"] = p(it.points_steps)
    if it.per == "half_day" and it.half_day_minutes != DEFAULT_HALF_DAY_MINUTES:
        d["half_day_minutes"] = it.half_day_minutes
    opt = (("once_per", it.once_per), ("subjects", list(it.subjects or ()) or None),
           ("rollup", it.rollup), ("wallet", it.wallet), ("backdate_days", it.backdate_days),
           ("accumulate", it.accumulate),
           ("caps", _caps_dict(it.caps, scale) or None),
           ("max_minutes_per_activity", it.max_minutes_per_activity),
           ("recorders", list(it.recorders) if it.recorders is not None else None),
           ("review", it.review or None), ("evidence", list(it.evidence) or None),
           ("public_notice_days", it.public_notice_days),
           ("effective_from", it.effective_from), ("effective_to", it.effective_to),
           ("book_minutes", it.book_minutes))
    for key, val in opt:
        if val is not None:
            d[key] = val
    if it.sanction is not None:
        s: dict = {}
        if it.sanction.zero_balance:
            s["zero_balance"] = True
        if it.sanction.bar_redemption_days:
            s["bar_redemption_days"] = it.sanction.bar_redemption_days
        if it.sanction.ban_days:
            s["ban_days"] = it.sanction.ban_days
        d["sanction"] = s
    return d


def to_dict(c: Catalog) -> dict:
    """The canonical plain form: what export writes and load reads back to an equal catalog.
    Defaults are left out, keys come in a fixed order, dates stay `date` objects."""
    p = lambda s: points_of(s, c.scale)
    head: dict = {"code": c.code, "name": c.name}
    if c.demo:
        head["demo"] = True
    for key, val in (("description", c.description), ("town", c.town),
                     ("villages", list(c.villages))):
        if val:
            head[key] = val
    if c.scale != 1:
        head["scale"] = c.scale
    if c.point_value_fen:
        head["point_value_fen"] = c.point_value_fen
    head["effective_from"] = c.effective_from
    approval = {k: v for k, v in (("approved_by", c.approved_by), ("decision", c.decision),
                                  ("approved_on", c.approved_on)) if v}
    if approval:
        head["approval"] = approval
    if c.subjects != DEFAULT_SUBJECTS:
        head["subjects"] = list(c.subjects)
    if c.recorders != DEFAULT_RECORDERS:
        head["recorders"] = list(c.recorders)
    if c.wallet != "own":
        head["wallet"] = c.wallet
    if c.backdate_days != DEFAULT_BACKDATE_DAYS:
        head["backdate_days"] = c.backdate_days
    if c.public_notice_days:
        head["public_notice_days"] = c.public_notice_days
    if c.village_notice_days:
        head["village_notice_days"] = dict(c.village_notice_days)
    if c.appeal_days != DEFAULT_APPEAL_DAYS:
        head["appeal_days"] = c.appeal_days
    if c.second_confirmation_over_steps is not None:
        head["second_confirmation_over"] = p(c.second_confirmation_over_steps)
    th = {k: p(v) for k, v in (("redeem_min", c.redeem_min_steps),
                               ("flag_below", c.flag_below_steps),
                               ("floor", c.floor_steps)) if v is not None}
    if th:
        head["thresholds"] = th
    if c.redemption is not None:
        r = c.redemption
        head["redemption"] = {k: v for k, v in (
            ("per_holder", dict(r.per_holder)), ("per_reward", dict(r.per_reward)),
            ("days_of_month", list(r.days_of_month)), ("period_ends", list(r.period_ends)),
            ("min_activities", r.min_activities)) if v}
    if c.expiry is not None:
        e: dict = {"after_years": c.expiry.after_years} if c.expiry.after_years \
            else {"year_end": True}
        if c.expiry.notice_days != DEFAULT_EXPIRY_NOTICE_DAYS:
            e["notice_days"] = c.expiry.notice_days
        head["expiry"] = e
    if c.opening_grant is not None:
        g = c.opening_grant
        head["opening_grant"] = {"points": p(g.points_steps), "every": g.every,
                                 "subjects": list(g.subjects)}
        if g.negative != "carry":
            head["opening_grant"]["negative"] = g.negative
    if c.opening_balance is not None:
        head["opening_balance"] = {"points": p(c.opening_balance.points_steps),
                                   "subjects": list(c.opening_balance.subjects)}
    if c.standing:
        head["standing"] = [{k: v for k, v in (
            ("code", st.code), ("name", st.name),
            ("below", p(st.below_steps) if st.below_steps is not None else None),
            ("deducted_over", p(st.deducted_over_steps)
             if st.deducted_over_steps is not None else None),
            ("for_days", st.for_days or None), ("effects", list(st.effects)))
            if v is not None} for st in c.standing]
    if c.levels is not None:
        head["levels"] = levels_dict(c.levels, c.scale)
    if c.time_bank is not None or c.coins:
        head.update(currencies_dict(c))
    if c.caps:
        head["caps"] = _caps_dict(c.caps, c.scale)
    if c.multipliers:
        head["multipliers"] = [_multiplier_dict(m) for m in c.multipliers]
    cats = []
    for cat in c.categories:
        cd: dict = {"code": cat.code, "name": cat.name}
        if cat.caps:
            cd["caps"] = _caps_dict(cat.caps, c.scale)
        cd["items"] = [_item_dict(c.items[code], c.scale) for code in cat.items]
        cats.append(cd)
    return {"catalog": head, "categories": cats}


def item_dict(c: Catalog, code: str) -> dict:
    return _item_dict(c.items[code], c.scale)


def levels_dict(ls: S.LevelScheme, scale: int) -> dict:
    out: dict = {}
    if ls.subjects != ("person",):
        out["subjects"] = list(ls.subjects)
    if ls.downgrade != "never":
        out["downgrade"] = ls.downgrade
    rows = []
    for lv in ls.levels:
        d: dict = {"code": lv.code, "name": lv.name}
        for key, val in (("hours", lv.hours),
                         ("points_earned", points_of(lv.points_earned_steps, scale)
                          if lv.points_earned_steps is not None else None),
                         ("points_held", points_of(lv.points_held_steps, scale)
                          if lv.points_held_steps is not None else None),
                         ("activities", lv.activities), ("after", lv.after),
                         ("selection", lv.selection or None)):
            if val is not None:
                d[key] = val
        rows.append(d)
    out["list"] = rows
    return out


def currencies_dict(c: S.Catalog) -> dict:
    p = lambda n: points_of(n, c.scale)
    out: dict = {}
    if c.time_bank is not None:
        tb = c.time_bank
        h = lambda m: m // 60 if m % 60 == 0 else m / 60
        d = {"max_exchange_hours": h(tb.max_exchange_minutes)}
        if tb.opening_minutes:
            d["opening_hours"] = h(tb.opening_minutes)
        if tb.year_cap_minutes is not None:
            d["year_cap_hours"] = h(tb.year_cap_minutes)
        out["time_bank"] = d
    if c.coins:
        out["coins"] = [{k: v for k, v in (
            ("code", k.code), ("name", k.name), ("categories", list(k.categories)),
            ("rate", {"coins": p(k.rate_coin_steps), "points": p(k.rate_points_steps)}),
            ("caps", _caps_dict(k.caps, c.scale) or None)) if v is not None}
            for k in c.coins]
    return out
