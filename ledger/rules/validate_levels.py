"""Checking a catalog's `levels:` (any number of levels beyond the five national stars) and
writing them back to the plain form. Called from `validate._head` by one line;
enforcement lives in ledger/rules/levels.py."""

from __future__ import annotations

from ledger.rules import spec as S
from ledger.rules.validate_fields import Checker, Path

LEVELS_KEYS = ("subjects", "downgrade", "list")
LEVEL_KEYS = ("code", "name", "hours", "points_earned", "points_held", "activities", "after",
              "selection")
LEVEL_SUBJECTS = ("person", "household")
MAX_LEVELS = 30
MAX_LEVEL_HOURS = 100_000
MAX_LEVEL_ACTIVITIES = 100_000


def _level(ck: Checker, raw, p: Path, scale: int, before: list[S.Level]) -> S.Level | None:
    m = ck.mapping(raw, p, LEVEL_KEYS, ("code", "name"))
    if not m:
        return None
    code = ck.code(m.get("code"), p + ("code",))
    if any(x.code == code for x in before):
        ck.err(p + ("code",), f"级别编码 {code!r} 重复 (duplicate level code)")
    after = m.get("after")
    if after is not None and after not in {x.code for x in before}:
        ck.err(p + ("after",), f"after 须为排在前面的级别编码，没有 {after!r} (after names a "
                               "lower level listed above this one)")
        after = None
    lv = S.Level(
        code=code, name=ck.text(m.get("name"), p + ("name",)),
        hours=ck.integer(m.get("hours"), p + ("hours",), 1, MAX_LEVEL_HOURS),
        points_earned_steps=ck.steps(m["points_earned"], p + ("points_earned",), scale,
                                     positive=True) if "points_earned" in m else None,
        points_held_steps=ck.steps(m["points_held"], p + ("points_held",), scale,
                                   positive=True) if "points_held" in m else None,
        activities=ck.integer(m.get("activities"), p + ("activities",), 1,
                              MAX_LEVEL_ACTIVITIES),
        after=after, selection=ck.boolean(m.get("selection"), p + ("selection",)))
    if not any(k in m for k in LEVEL_KEYS[2:]):
        ck.err(p, "级别须写至少一项条件：hours、points_earned、points_held、activities、after "
                  "或 selection (a level needs at least one criterion)")
    return lv


def _monotone(ck: Checker, levels: list[S.Level], path: Path) -> None:
    """A higher level never asks less of one criterion than a lower one asks."""
    for attr, key in (("hours", "hours"), ("points_earned_steps", "points_earned"),
                      ("points_held_steps", "points_held"), ("activities", "activities")):
        last = None
        for i, lv in enumerate(levels):
            v = getattr(lv, attr)
            if v is None:
                continue
            if last is not None and v < last[1]:
                ck.err(path + (i, key), f"{key} 低于前面的级别 {last[0]!r} (a higher level asks "
                                        f"at least what a lower one asks)")
            last = (lv.code, v)


def parse(ck: Checker, v, path: Path, scale: int) -> S.LevelScheme | None:
    m = ck.mapping(v, path, LEVELS_KEYS, ("list",))
    if not m:
        return None
    raw = m.get("list")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_LEVELS:
        ck.err(path + ("list",), f"应为 1–{MAX_LEVELS} 个级别的列表，由低到高 (a list of 1-"
                                 f"{MAX_LEVELS} levels, lowest first)")
        return None
    levels: list[S.Level] = []
    for i, r in enumerate(raw):
        if (lv := _level(ck, r, path + ("list", i), scale, levels)) is not None:
            levels.append(lv)
    _monotone(ck, levels, path + ("list",))
    subjects = ck.choices(m["subjects"], path + ("subjects",), LEVEL_SUBJECTS) \
        if "subjects" in m else ("person",)
    return S.LevelScheme(levels=tuple(levels), subjects=tuple(subjects),
                         downgrade=ck.choice(m.get("downgrade"), path + ("downgrade",),
                                             S.LEVEL_DOWNGRADES, "never"))


def head(ck: Checker, h: dict, path: Path, scale: int) -> dict:
    """The catalog head's level keys, for `validate._head` to merge."""
    if "levels" not in h:
        return {}
    return {"levels": parse(ck, h["levels"], path + ("levels",), scale)}
