"""The catalog validator: checking a catalog's plain form and building the in-memory `Catalog`.
Every problem is collected with the path and (when read from a file) the line it is on, so a
town clerk can fix the whole file at once; nothing is built unless there are no problems.

One validator in three modules by concern: this one reads the catalog as a whole (its head,
thresholds, standing states, redemption policy, categories; `build`), validate_items.py an
item and a multiplier, validate_fields.py one typed value (`Checker`) and the shared limits.
A new catalog key is checked where its part of the catalog is read: a head key in `_head`
here (a larger block in its own validate_<what>.py, called from `_head`), an item key in
validate_items.read_item."""

from __future__ import annotations

from datetime import date

from ledger.rules import spec as S
from ledger.rules import validate_currencies, validate_levels
from ledger.rules.validate_fields import (
    MAX_NOTICE_DAYS,
    MAX_STANDING_DAYS,
    MAX_TEXT,
    Checker,
    Path,
    Problem,
)
from ledger.rules.validate_items import read_item, read_multiplier

MAX_CATEGORIES = 50
MAX_ITEMS = 500
MAX_MULTIPLIERS = 20
MAX_APPEAL_DAYS = 90
MAX_EXPIRY_YEARS = 10
HEAD_KEYS = ("code", "name", "demo", "description", "town", "villages", "scale",
             "point_value_fen", "effective_from", "approval", "subjects", "recorders",
             "public_notice_days", "village_notice_days", "appeal_days",
             "second_confirmation_over", "thresholds", "expiry", "opening_grant", "caps",
             "multipliers", "wallet", "redemption", "opening_balance", "standing",
             "backdate_days", "levels", "time_bank", "coins")
STANDING_KEYS = ("code", "name", "below", "deducted_over", "for_days", "effects")
MAX_STANDING_STATES = 10
REDEMPTION_KEYS = ("per_holder", "per_reward", "days_of_month", "period_ends", "min_activities")
REDEMPTION_PERIODS = ("week", "month", "quarter", "half_year", "year")
MAX_REDEMPTIONS_PER_PERIOD = 1000
MAX_MIN_ACTIVITIES = 1000


def _period_limits(ck: Checker, v, path: Path) -> tuple[tuple[str, int], ...]:
    m = ck.mapping(v, path, REDEMPTION_PERIODS)
    return tuple((p, n) for p in REDEMPTION_PERIODS if p in m and (n := ck.integer(
        m[p], path + (p,), 1, MAX_REDEMPTIONS_PER_PERIOD)) is not None)


def _redemption(ck: Checker, v, path: Path) -> S.RedemptionPolicy:
    m = ck.mapping(v, path, REDEMPTION_KEYS)
    return S.RedemptionPolicy(
        per_holder=_period_limits(ck, m["per_holder"], path + ("per_holder",))
        if "per_holder" in m else (),
        per_reward=_period_limits(ck, m["per_reward"], path + ("per_reward",))
        if "per_reward" in m else (),
        days_of_month=tuple(ck.choices(m["days_of_month"], path + ("days_of_month",),
                                       tuple(range(1, 32)))) if "days_of_month" in m else (),
        period_ends=tuple(ck.choices(m["period_ends"], path + ("period_ends",),
                                     REDEMPTION_PERIODS)) if "period_ends" in m else (),
        min_activities=ck.integer(m.get("min_activities"), path + ("min_activities",), 1,
                                  MAX_MIN_ACTIVITIES, 0) or 0)


def _standing(ck: Checker, v, path: Path, scale: int) -> tuple[S.StandingState, ...]:
    if not isinstance(v, list) or not v or len(v) > MAX_STANDING_STATES:
        ck.err(path, f"应为 1–{MAX_STANDING_STATES} 个状态的列表 (a list of 1-"
                     f"{MAX_STANDING_STATES} states)")
        return ()
    out = []
    for i, raw in enumerate(v):
        p = path + (i,)
        m = ck.mapping(raw, p, STANDING_KEYS, ("code", "name", "effects"))
        if not m:
            continue
        below = ck.steps(m["below"], p + ("below",), scale, allow_zero=True) \
            if "below" in m else None
        over = ck.steps(m["deducted_over"], p + ("deducted_over",), scale, positive=True) \
            if "deducted_over" in m else None
        days = ck.integer(m.get("for_days"), p + ("for_days",), 1, MAX_STANDING_DAYS, 0) or 0
        if (below is None) == (over is None):
            ck.err(p, "写 below 或 deducted_over 之一 (a state is either below a balance or "
                      "after points deducted in a year, one of them)")
        elif over is not None and not days:
            ck.err(p + ("for_days",), "扣分限制须写天数 (a bar after deductions needs "
                                      "for_days)")
        elif below is not None and days:
            ck.err(p + ("for_days",), "余额状态随余额解除，不写天数 (a balance state ends when "
                                      "the balance is back; for_days is for deductions)")
        code = ck.code(m.get("code"), p + ("code",))
        if any(s.code == code for s in out):
            ck.err(p + ("code",), f"状态编码 {code!r} 重复 (duplicate state code)")
        out.append(S.StandingState(
            code=code, name=ck.text(m.get("name"), p + ("name",)),
            effects=tuple(ck.choices(m.get("effects"), p + ("effects",), S.STANDING_EFFECTS)),
            below_steps=below, deducted_over_steps=over, for_days=days))
    return tuple(out)


def _head(ck: Checker, h: dict, path: Path) -> dict:
    scale = ck.integer(h.get("scale"), path + ("scale",), 1, 100, 1)
    if scale not in S.ALLOWED_SCALES:
        ck.err(path + ("scale",), f"最小单位应为 {S.ALLOWED_SCALES} 之一 (scale must be one "
                                  f"of these steps per point)")
        scale = 1
    out: dict = {"scale": scale}
    out["code"] = ck.code(h.get("code"), path + ("code",))
    out["name"] = ck.text(h.get("name"), path + ("name",))
    out["demo"] = ck.boolean(h.get("demo"), path + ("demo",))
    out["description"] = ck.text(h.get("description"), path + ("description",), max_len=MAX_TEXT)
    out["town"] = ck.text(h.get("town"), path + ("town",))
    if "villages" in h:
        out["villages"] = tuple(str(x) for x in ck.choices(h["villages"], path + ("villages",),
                                                           None))
    out["point_value_fen"] = ck.integer(h.get("point_value_fen"), path + ("point_value_fen",),
                                        0, 100_000, 0)
    eff = ck.day(h.get("effective_from"), path + ("effective_from",))
    out["effective_from"] = eff or date(2000, 1, 1)
    if "approval" in h:
        a = ck.mapping(h["approval"], path + ("approval",),
                       ("approved_by", "decision", "approved_on"))
        out["approved_by"] = ck.text(a.get("approved_by"), path + ("approval", "approved_by"))
        out["decision"] = ck.text(a.get("decision"), path + ("approval", "decision"))
        out["approved_on"] = ck.day(a.get("approved_on"), path + ("approval", "approved_on"))
    for key, opts in (("subjects", S.SUBJECTS), ("recorders", S.CHANNELS)):
        if key in h:
            out[key] = ck.choices(h[key], path + (key,), opts)
    out["backdate_days"] = ck.integer(h.get("backdate_days"), path + ("backdate_days",), 0,
                                      S.MAX_BACKDATE_DAYS, S.DEFAULT_BACKDATE_DAYS)
    if "wallet" in h:
        out["wallet"] = ck.choice(h["wallet"], path + ("wallet",), S.WALLETS, "own")
    out["public_notice_days"] = ck.integer(h.get("public_notice_days"),
                                           path + ("public_notice_days",), 0, MAX_NOTICE_DAYS, 0)
    if "village_notice_days" in h:
        vn = h["village_notice_days"]
        vm = ck.mapping(vn, path + ("village_notice_days",), tuple(vn) if isinstance(vn, dict)
                        else ())
        out["village_notice_days"] = tuple(
            (str(k), ck.integer(d, path + ("village_notice_days", k), 1, MAX_NOTICE_DAYS, 1))
            for k, d in vm.items())
    out["appeal_days"] = ck.integer(h.get("appeal_days"), path + ("appeal_days",), 0,
                                    MAX_APPEAL_DAYS, S.DEFAULT_APPEAL_DAYS)
    if h.get("second_confirmation_over") is not None:
        out["second_confirmation_over_steps"] = ck.steps(
            h["second_confirmation_over"], path + ("second_confirmation_over",), scale,
            positive=True)
    if "thresholds" in h:
        t = ck.mapping(h["thresholds"], path + ("thresholds",),
                       ("redeem_min", "flag_below", "floor"))
        for key, attr in (("redeem_min", "redeem_min_steps"), ("flag_below", "flag_below_steps"),
                          ("floor", "floor_steps")):
            if t.get(key) is not None:
                out[attr] = ck.steps(t[key], path + ("thresholds", key), scale, allow_zero=True,
                                     nonneg=key in ("redeem_min", "floor"))
    if "standing" in h:
        out["standing"] = _standing(ck, h["standing"], path + ("standing",), scale)
    if "redemption" in h:
        out["redemption"] = _redemption(ck, h["redemption"], path + ("redemption",))
    if "expiry" in h:
        e = ck.mapping(h["expiry"], path + ("expiry",), ("after_years", "year_end", "notice_days"))
        years = ck.integer(e.get("after_years"), path + ("expiry", "after_years"), 1,
                           MAX_EXPIRY_YEARS)
        year_end = ck.boolean(e.get("year_end"), path + ("expiry", "year_end"))
        if bool(years) == year_end:
            ck.err(path + ("expiry",), "写 after_years 或 year_end: true 之一 (give after_years "
                                       "or year_end: true, one of them)")
        out["expiry"] = S.Expiry(after_years=years, year_end=year_end and not years,
                                 notice_days=ck.integer(e.get("notice_days"),
                                                        path + ("expiry", "notice_days"), 0, 366,
                                                        S.DEFAULT_EXPIRY_NOTICE_DAYS))
    if "opening_grant" in h:
        g = ck.mapping(h["opening_grant"], path + ("opening_grant",),
                       ("points", "every", "subjects", "negative"), ("points", "every"))
        gp = path + ("opening_grant",)
        out["opening_grant"] = S.Grant(
            points_steps=ck.steps(g.get("points"), gp + ("points",), scale, positive=True) or 1,
            every=ck.choice(g.get("every"), gp + ("every",), S.GRANT_PERIODS, "year"),
            subjects=ck.choices(g["subjects"], gp + ("subjects",), S.SUBJECTS)
            if "subjects" in g else ("household",),
            negative=ck.choice(g.get("negative"), gp + ("negative",), S.GRANT_NEGATIVE,
                               "carry"))
    if "opening_balance" in h:
        ob = ck.mapping(h["opening_balance"], path + ("opening_balance",),
                        ("points", "subjects"), ("points",))
        op = path + ("opening_balance",)
        out["opening_balance"] = S.OpeningBalance(
            points_steps=ck.steps(ob.get("points"), op + ("points",), scale, positive=True) or 1,
            subjects=ck.choices(ob["subjects"], op + ("subjects",), S.SUBJECTS)
            if "subjects" in ob else ("person",))
    out.update(validate_levels.head(ck, h, path, scale))  # levels beyond five stars
    out.update(validate_currencies.head(ck, h, path, scale))  # time bank, coins
    out["caps"] = ck.caps(h.get("caps"), path + ("caps",), scale, S.CATALOG_CAP_METRICS)
    mults = h.get("multipliers") or []
    if not isinstance(mults, list) or len(mults) > MAX_MULTIPLIERS:
        ck.err(path + ("multipliers",), f"应为至多 {MAX_MULTIPLIERS} 项的列表 (a list of at "
                                        f"most {MAX_MULTIPLIERS})")
        mults = []
    out["multipliers"] = tuple(m for i, v in enumerate(mults)
                               if (m := read_multiplier(ck, v, path + ("multipliers", i))))
    return out


class CatalogInvalid(Exception):
    """Internal carrier of problems; `ledger.rules.catalog_io` turns it into InvalidInput."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


def build(data, lines: dict[Path, int] | None = None) -> S.Catalog:
    """Plain form → Catalog, or CatalogInvalid listing every problem found."""
    ck = Checker(lines)
    top = ck.mapping(data, (), ("catalog", "categories"), ("catalog", "categories"))
    head = _head(ck, ck.mapping(top.get("catalog", {}), ("catalog",), HEAD_KEYS,
                                ("code", "name", "effective_from")), ("catalog",)) if top else {}
    scale = head.get("scale", 1)
    cats_raw = top.get("categories") if top else None
    if not isinstance(cats_raw, list) or not cats_raw or len(cats_raw) > MAX_CATEGORIES:
        ck.err(("categories",), f"应为 1–{MAX_CATEGORIES} 个大类的列表 (a list of 1-"
                                f"{MAX_CATEGORIES} categories)")
        cats_raw = []
    categories: list[S.Category] = []
    items: dict[str, S.Item] = {}
    for ci, c in enumerate(cats_raw):
        cp = ("categories", ci)
        cm = ck.mapping(c, cp, ("code", "name", "caps", "items"), ("code", "name", "items"))
        if not cm:
            continue
        code = ck.code(cm.get("code"), cp + ("code",))
        if any(x.code == code for x in categories):
            ck.err(cp + ("code",), f"大类编码 {code!r} 重复 (duplicate category code)")
        raw_items = cm.get("items")
        if not isinstance(raw_items, list) or not raw_items:
            ck.err(cp + ("items",), "大类须有条目列表 (a category needs a list of items)")
            raw_items = []
        codes = []
        for ii, iv in enumerate(raw_items):
            it = read_item(ck, iv, cp + ("items", ii), code, scale, head)
            if it is None:
                continue
            if it.code in items:
                ck.err(cp + ("items", ii, "code"), f"条目编码 {it.code!r} 重复 (duplicate item "
                                                   "code)")
                continue
            items[it.code] = it
            codes.append(it.code)
        categories.append(S.Category(code=code, name=ck.text(cm.get("name"), cp + ("name",)),
                                     caps=ck.caps(cm.get("caps"), cp + ("caps",), scale,
                                                  S.ITEM_CAP_METRICS),
                                     items=tuple(codes)))
    if len(items) > MAX_ITEMS:
        ck.err(("categories",), f"条目超过 {MAX_ITEMS} 项 (more than {MAX_ITEMS} items)")
    cat_codes = {c.code for c in categories}
    for i, m in enumerate(head.get("multipliers", ())):
        for c in m.categories:
            if c not in cat_codes:
                ck.err(("catalog", "multipliers", i, "categories"), f"没有大类 {c!r} "
                                                                     "(no such category)")
        for c in m.items:
            if c not in items:
                ck.err(("catalog", "multipliers", i, "items"), f"没有条目 {c!r} (no such item)")
    validate_currencies.check(ck, head, categories, items)  # coins name categories
    if ck.problems:
        raise CatalogInvalid(ck.problems)
    return S.Catalog(categories=tuple(categories), items=items, **head)
