"""The catalog validator's items (their points, levels, sanctions and limits) and its
multipliers: each read from its plain form into the spec, every problem recorded."""

from __future__ import annotations

from fractions import Fraction

from ledger.rules import spec as S
from ledger.rules.validate_fields import (
    MAX_NOTICE_DAYS,
    MAX_STANDING_DAYS,
    MAX_TEXT,
    Checker,
    Path,
)

MAX_BAR_DAYS = 3 * 366  # a sanction bars redemption for at most three years
MAX_FACTOR = Fraction(10)
ITEM_KEYS = ("code", "name", "description", "per", "points", "levels", "half_day_minutes",
             "once_per", "subjects", "rollup", "caps", "max_minutes_per_activity", "recorders",
             "review", "evidence", "public_notice_days", "effective_from", "effective_to",
             "sanction", "book_minutes", "wallet", "backdate_days", "accumulate")
MULTIPLIER_KEYS = ("code", "name", "factor", "categories", "items", "days_of_month", "weekdays",
                   "from", "to", "holder_tags", "applies_to")


def read_multiplier(ck: Checker, v, path: Path) -> S.Multiplier | None:
    m = ck.mapping(v, path, MULTIPLIER_KEYS, ("code", "name", "factor"))
    if not m:
        return None
    factor = None
    raw = m.get("factor")
    try:
        factor = Fraction(str(raw)) if not isinstance(raw, bool) else None
    except (ValueError, ZeroDivisionError):
        factor = None
    if factor is None or not 0 < factor <= MAX_FACTOR:
        ck.err(path + ("factor",), f"倍数应在 0 与 {MAX_FACTOR} 之间 (factor must be in "
                                   f"(0, {MAX_FACTOR}])")
        factor = Fraction(1)
    days = ck.choices(m["days_of_month"], path + ("days_of_month",), tuple(range(1, 32))) \
        if "days_of_month" in m else ()
    weekdays = ck.choices(m["weekdays"], path + ("weekdays",), tuple(range(1, 8))) \
        if "weekdays" in m else ()
    d_from, d_to = ck.day(m.get("from"), path + ("from",)), ck.day(m.get("to"), path + ("to",))
    if d_from and d_to and d_to < d_from:
        ck.err(path + ("to",), "结束日期早于开始日期 (to is before from)")
    return S.Multiplier(
        code=ck.code(m.get("code"), path + ("code",)), name=ck.text(m.get("name"), path + ("name",)),
        factor=factor,
        categories=ck.choices(m["categories"], path + ("categories",), None)
        if "categories" in m else (),
        items=ck.choices(m["items"], path + ("items",), None) if "items" in m else (),
        days_of_month=days, weekdays=weekdays, date_from=d_from, date_to=d_to,
        holder_tags=ck.choices(m["holder_tags"], path + ("holder_tags",), None)
        if "holder_tags" in m else (),
        applies_to=ck.choice(m.get("applies_to"), path + ("applies_to",), S.MULTIPLIER_TARGETS,
                             "awards"))


def _points(ck: Checker, m: dict, path: Path, scale: int) -> dict:
    out: dict = {}
    pts, levels = m.get("points"), m.get("levels")
    sanction = m.get("sanction") if isinstance(m.get("sanction"), dict) else {}
    if pts is not None and levels is not None:
        ck.err(path, "points 与 levels 只能写一个 (give points or levels, not both)")
    if isinstance(pts, dict):
        r = ck.mapping(pts, path + ("points",), ("min", "max"), ("min", "max"))
        lo = ck.steps(r.get("min"), path + ("points", "min"), scale) if "min" in r else None
        hi = ck.steps(r.get("max"), path + ("points", "max"), scale) if "max" in r else None
        if lo is not None and hi is not None:
            if lo >= hi:
                ck.err(path + ("points",), f"区间下限须小于上限 (min must be below max; got "
                                           f"min {r['min']}, max {r['max']})")
            elif (lo < 0) != (hi < 0):
                ck.err(path + ("points",), "区间两端须同号 (min and max must be both of one "
                                           "sign: an item awards or deducts, not both)")
            else:
                out["range_steps"] = (lo, hi)
    elif levels is not None:
        lv = ck.mapping(levels, path + ("levels",), tuple(levels) if isinstance(levels, dict)
                        else ())
        vals = []
        for name, val in lv.items():
            if not isinstance(name, str) or not name.strip() or len(name) > 32:
                ck.err(path + ("levels", name), "级别名称应为文本 (level name must be text)")
                continue
            n = ck.steps(val, path + ("levels", name), scale)
            if n is not None:
                vals.append((name, n))
        if not lv:
            ck.err(path + ("levels",), "至少一个级别 (at least one level)")
        if vals and len({v > 0 for _, v in vals}) > 1:
            ck.err(path + ("levels",), "各级别分值须同号 (all levels of one sign)")
        out["levels"] = tuple(vals)
    elif pts is not None:
        zero_ok = bool(sanction.get("bar_redemption_days") or sanction.get("zero_balance")
                       or sanction.get("ban_days"))
        n = ck.steps(pts, path + ("points",), scale, allow_zero=zero_ok)
        if n is not None:
            out["points_steps"] = n
    elif not sanction.get("zero_balance"):
        ck.err(path, "缺少分值：写 points 或 levels (missing points or levels)")
    return out


def read_item(ck: Checker, v, path: Path, cat: str, scale: int, head: dict) -> S.Item | None:
    m = ck.mapping(v, path, ITEM_KEYS, ("code", "name"))
    if not m:
        return None
    per = ck.choice(m.get("per"), path + ("per",), S.PER_UNITS, "occurrence")
    pts = _points(ck, m, path, scale)
    if per != "occurrence" and "points_steps" not in pts:
        ck.err(path + ("points",), "按时长计分的条目须写固定分值 (per-hour and per-half-day "
                                   "items need a fixed number of points)")
    subjects = ck.choices(m["subjects"], path + ("subjects",), S.SUBJECTS) \
        if "subjects" in m else None
    rollup = ck.choice(m.get("rollup"), path + ("rollup",), ("household",))
    if rollup and "person" not in (subjects or head.get("subjects", S.DEFAULT_SUBJECTS)):
        ck.err(path + ("rollup",), "计入家庭只适用于个人条目 (rollup needs person among "
                                   "the subjects)")
    wallet = ck.choice(m.get("wallet"), path + ("wallet",), S.WALLETS)
    if wallet == "household" and "person" not in (subjects or head.get("subjects",
                                                                       S.DEFAULT_SUBJECTS)):
        ck.err(path + ("wallet",), "存入家庭只适用于个人条目 (wallet: household needs person "
                                   "among the subjects)")
    sanction = None
    if "sanction" in m:
        sm = ck.mapping(m["sanction"], path + ("sanction",),
                        ("zero_balance", "bar_redemption_days", "ban_days"))
        sanction = S.Sanction(
            zero_balance=ck.boolean(sm.get("zero_balance"), path + ("sanction", "zero_balance")),
            bar_redemption_days=ck.integer(sm.get("bar_redemption_days"),
                                           path + ("sanction", "bar_redemption_days"),
                                           1, MAX_BAR_DAYS, 0) or 0,
            ban_days=ck.integer(sm.get("ban_days"), path + ("sanction", "ban_days"), 1,
                                MAX_STANDING_DAYS, 0) or 0)
        if not (sanction.zero_balance or sanction.bar_redemption_days or sanction.ban_days):
            ck.err(path + ("sanction",), "处罚须清零、限制兑换或禁止参与 (a sanction zeroes the "
                                         "balance, bars redemption or bans)")
    eff_from = ck.day(m.get("effective_from"), path + ("effective_from",))
    eff_to = ck.day(m.get("effective_to"), path + ("effective_to",))
    if eff_from and eff_to and eff_to < eff_from:
        ck.err(path + ("effective_to",), "失效日期早于生效日期 (effective_to before "
                                         "effective_from)")
    item = S.Item(
        code=ck.code(m.get("code"), path + ("code",)),
        name=ck.text(m.get("name"), path + ("name",)),
        description=ck.text(m.get("description"), path + ("description",), max_len=MAX_TEXT),
        category=cat, per=per, **pts,
        half_day_minutes=ck.integer(m.get("half_day_minutes"), path + ("half_day_minutes",),
                                    30, 720, S.DEFAULT_HALF_DAY_MINUTES),
        once_per=ck.choice(m.get("once_per"), path + ("once_per",), S.ONCE_PERIODS),
        subjects=subjects, rollup=rollup, wallet=wallet,
        backdate_days=ck.integer(m.get("backdate_days"), path + ("backdate_days",), 0,
                                 S.MAX_BACKDATE_DAYS),
        accumulate=ck.choice(m.get("accumulate"), path + ("accumulate",),
                             ("day", "week", "month", "quarter", "half_year", "year")),
        caps=ck.caps(m.get("caps"), path + ("caps",), scale, S.ITEM_CAP_METRICS),
        max_minutes_per_activity=ck.integer(m.get("max_minutes_per_activity"),
                                            path + ("max_minutes_per_activity",), 1, 24 * 60),
        recorders=ck.choices(m["recorders"], path + ("recorders",), S.CHANNELS)
        if "recorders" in m else None,
        review=ck.boolean(m.get("review"), path + ("review",)),
        evidence=ck.choices(m["evidence"], path + ("evidence",), S.EVIDENCE_KINDS)
        if "evidence" in m else (),
        public_notice_days=ck.integer(m.get("public_notice_days"),
                                      path + ("public_notice_days",), 0, MAX_NOTICE_DAYS),
        effective_from=eff_from, effective_to=eff_to, sanction=sanction,
        book_minutes=ck.boolean(m["book_minutes"], path + ("book_minutes",))
        if "book_minutes" in m else None)
    if item.accumulate and (item.per != "hour" or not item.books_minutes):
        ck.err(path + ("accumulate",), "累计分钟只适用于按小时且记时长的条目 (accumulate needs "
                                       "per: hour with service minutes booked)")
    elif item.accumulate and (item.rollup or item.wallet == "household"):
        ck.err(path + ("accumulate",), "累计分钟的条目不能计入或存入家庭 (accumulate is per "
                                       "person: not with rollup or wallet: household)")
    if item.sign < 0 and item.per != "occurrence":
        ck.err(path + ("per",), "扣分条目只能按次 (deductions are per occurrence)")
    if item.sanction and item.sign > 0 and (item.points_steps or 0) > 0:
        ck.err(path + ("sanction",), "处罚条目不能加分 (a sanction cannot award points)")
    return item
