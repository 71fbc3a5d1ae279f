"""The catalog checker says exactly what is wrong with a value, not a generic "out of range"."""

from __future__ import annotations

import pytest

from tests.test_rules_catalog import _problems

HEAD = """catalog:
  code: msg
  name: 消息
  effective_from: 2024-01-01
{extra}categories:
  - code: A
    name: 甲
    items:
      - {item}
"""


def message(item: str, extra: str = "") -> str:
    problems = _problems(HEAD.format(item=item, extra=extra))
    assert len(problems) == 1, problems
    return problems[0]["message"]


@pytest.mark.parametrize("item,says", [
    ("{code: Z, name: 零分, points: 0}", "zero"),
    ("{code: B, name: 太大, points: 200000}", "more than the maximum of 100000"),
    ("{code: R, name: 区间, points: {min: 5, max: 5}}", "min must be below max"),
    ("{code: R, name: 区间, points: {min: -2, max: 3}}", "both of one sign"),
    ("{code: T, name: 文字, points: 五}", "not a number: '五'"),
    ("{code: H, name: 半分, points: 0.5}", "not a whole number of steps at scale 1"),
])
def test_item_points_problems_say_what_is_wrong(item, says):
    assert says in message(item)


@pytest.mark.parametrize("extra,says", [
    ("  caps: {points: {year: -5}}\n", "must be positive, got -5"),
    ("  caps: {points: {year: 0}}\n", "zero"),
    ("  thresholds: {floor: -1}\n", "must not be negative, got -1"),
])
def test_catalog_limit_problems_say_what_is_wrong(extra, says):
    assert says in message("{code: A1, name: 好事, points: 1}", extra)
