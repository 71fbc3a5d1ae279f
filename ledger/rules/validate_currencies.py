"""Checking a catalog's `time_bank:` (hours as a currency) and `coins:` (several earning
currencies converted into one shop currency) and writing them back to the plain form. Called
from `validate` by one line each (head and whole catalog);
enforcement lives in ledger/rules/timebank.py and ledger/rules/coins.py."""

from __future__ import annotations

from ledger.rules import spec as S
from ledger.rules.validate_fields import Checker, Path

TIME_BANK_KEYS = ("opening_hours", "max_exchange_hours", "year_cap_hours")
COIN_KEYS = ("code", "name", "categories", "rate", "caps")
MAX_COINS = 10
MAX_COIN_CODE = 10  # the journal keeps a coin as unit `coin.<code>` (16 characters at most)
MAX_BANK_HOURS = 24
MAX_BANK_YEAR_HOURS = 2000
MAX_OPENING_HOURS = 100


def _hours(ck: Checker, v, p: Path, hi: int) -> int | None:
    """Hours as written (1, 0.5) → whole minutes."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= hi \
            or v * 60 != int(v * 60):
        ck.err(p, f"应为 0 到 {hi} 之间的小时数，精确到分钟 (hours in (0, {hi}], whole minutes)")
        return None
    return int(v * 60)


def _time_bank(ck: Checker, v, path: Path) -> S.TimeBank | None:
    m = ck.mapping(v, path, TIME_BANK_KEYS)
    if not isinstance(v, dict):
        return None
    return S.TimeBank(
        opening_minutes=_hours(ck, m.get("opening_hours"), path + ("opening_hours",),
                               MAX_OPENING_HOURS) or 0,
        max_exchange_minutes=_hours(ck, m.get("max_exchange_hours"),
                                    path + ("max_exchange_hours",), MAX_BANK_HOURS) or 480,
        year_cap_minutes=_hours(ck, m.get("year_cap_hours"), path + ("year_cap_hours",),
                                MAX_BANK_YEAR_HOURS))


def _coin(ck: Checker, v, p: Path, scale: int, before: list[S.Coin]) -> S.Coin | None:
    m = ck.mapping(v, p, COIN_KEYS, ("code", "name", "categories", "rate"))
    if not m:
        return None
    code = ck.code(m.get("code"), p + ("code",))
    if len(code) > MAX_COIN_CODE:
        ck.err(p + ("code",), f"币种编码至多 {MAX_COIN_CODE} 个字符 (a coin code has at most "
                              f"{MAX_COIN_CODE} characters)")
    if any(k.code == code for k in before):
        ck.err(p + ("code",), f"币种编码 {code!r} 重复 (duplicate coin code)")
    rate = ck.mapping(m.get("rate"), p + ("rate",), ("coins", "points"), ("coins", "points"))
    coins = ck.steps(rate["coins"], p + ("rate", "coins"), scale, positive=True) \
        if "coins" in rate else None
    pts = ck.steps(rate["points"], p + ("rate", "points"), scale, positive=True) \
        if "points" in rate else None
    return S.Coin(code=code, name=ck.text(m.get("name"), p + ("name",)),
                  categories=tuple(ck.choices(m.get("categories"), p + ("categories",), None)),
                  rate_coin_steps=coins or 1, rate_points_steps=pts or 1,
                  caps=ck.caps(m.get("caps"), p + ("caps",), scale, S.ITEM_CAP_METRICS))


def head(ck: Checker, h: dict, path: Path, scale: int) -> dict:
    """The catalog head's currency keys, for `validate._head` to merge."""
    out: dict = {}
    if "time_bank" in h:
        out["time_bank"] = _time_bank(ck, h["time_bank"], path + ("time_bank",))
    if "coins" in h:
        raw = h["coins"]
        if not isinstance(raw, list) or not raw or len(raw) > MAX_COINS:
            ck.err(path + ("coins",), f"应为 1–{MAX_COINS} 个币种的列表 (a list of 1-"
                                      f"{MAX_COINS} coins)")
            return out
        coins: list[S.Coin] = []
        for i, v in enumerate(raw):
            if (k := _coin(ck, v, path + ("coins", i), scale, coins)) is not None:
                coins.append(k)
        out["coins"] = tuple(coins)
    return out


def check(ck: Checker, head: dict, categories: list[S.Category], items: dict[str, S.Item]
          ) -> None:
    """What the coins say about the categories: each named, each in one coin at most, and no
    coin item on public notice (a coin is not drawn from the village's points budget)."""
    coins = head.get("coins", ())
    codes = {c.code for c in categories}
    seen: dict[str, str] = {}
    for i, k in enumerate(coins):
        for cat in k.categories:
            if cat not in codes:
                ck.err(("catalog", "coins", i, "categories"), f"没有大类 {cat!r} (no such "
                                                              "category)")
            elif cat in seen:
                ck.err(("catalog", "coins", i, "categories"), f"大类 {cat!r} 已属于币种 "
                                                              f"{seen[cat]!r} (a category "
                                                              "earns one coin)")
            seen[cat] = k.code
    if not seen:
        return
    if head.get("public_notice_days") or head.get("village_notice_days"):
        ck.err(("catalog", "public_notice_days"), "有币种的目录不设公示 (a catalog with coins "
                                                  "has no public notice)")
    for it in items.values():
        if it.category in seen and (it.public_notice_days or it.rollup or it.sanction
                                    or it.wallet == "household"):
            ck.err(("categories",), f"条目 {it.code}：币种条目不设公示、计入家庭、存入家庭或处罚 "
                                    "(a coin item has no notice, rollup, household wallet or "
                                    "sanction)")
