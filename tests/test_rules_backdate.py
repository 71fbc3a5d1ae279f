"""How far back a deed may be recorded is set per catalog or item (a village committee records
a whole year's findings in December), bounded, and shown in the explanation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.errors import InvalidInput
from ledger.rules import catalog_io
from ledger.rules import engine as E
from tests.test_rules_engine import NOW, cat, ev

YEAR_END = cat("""  backdate_days: 30
categories:
  - code: A
    name: 甲
    items:
      - {code: MONTHLY, name: 平时, points: 2}
      - {code: ANNUAL, name: 年终评议, points: 5, backdate_days: 366}
""")


def test_backdating_window_per_catalog_and_item_and_in_the_explanation():
    old = NOW - timedelta(days=200)
    d = ev(YEAR_END, "MONTHLY", occurred_at=old)
    assert d.reason == "occurred_too_long_ago" and d.detail == {"max_days": 30}
    assert ev(YEAR_END, "MONTHLY", occurred_at=NOW - timedelta(days=29)).ok
    d = ev(YEAR_END, "ANNUAL", occurred_at=old)
    assert d.ok and d.explain(2)["backdate_days"] == 366
    assert ev(YEAR_END, "ANNUAL", occurred_at=NOW - timedelta(days=367)).reason == \
        "occurred_too_long_ago"


def test_backdating_window_is_bounded():
    with pytest.raises(InvalidInput):
        catalog_io.load_text("""
catalog: {code: b, name: 界, effective_from: 2024-01-01, backdate_days: 1000}
categories: [{code: A, name: 甲, items: [{code: X, name: 一, points: 1}]}]
""")
    assert E.MAX_BACKDATE_DAYS == 90  # the default when nothing is said


ACCUMULATE = cat("""categories:
  - code: A
    name: 甲
    items:
      - {code: H, name: 按小时, per: hour, points: 1}
      - {code: ACC, name: 按小时累计, per: hour, points: 1, accumulate: month}
""", head="""
catalog:
  code: acc
  name: 累计
  effective_from: 2024-01-01
""")


def test_per_hour_points_over_minutes_accumulated_in_the_period():
    """Two 30-minute activities give the point one hour gives; the remainder carries within
    the month and starts again in the next."""
    assert ev(ACCUMULATE, "H", minutes=30).credits[0].steps == 0
    first = ev(ACCUMULATE, "ACC", minutes=30)
    assert first.ok and first.credits[0].steps == 0 and first.credits[0].minutes == 30
    key = next(k for k in first.credits[0].keys if k.period.startswith("month:"))
    second = ev(ACCUMULATE, "ACC", minutes=30, usage={key: E.Usage(minutes=30, times=1)})
    assert second.credits[0].steps == 1
    third = ev(ACCUMULATE, "ACC", minutes=50, usage={key: E.Usage(minutes=60, times=2)})
    assert third.credits[0].steps == 0  # 110 minutes: still one hour in all
    next_month = ev(ACCUMULATE, "ACC", minutes=30, usage={key: E.Usage(minutes=50, times=1)},
                    occurred_at=NOW + timedelta(days=25), now=NOW + timedelta(days=25))
    assert next_month.credits[0].steps == 0  # a fresh month: the 50 minutes do not carry


def test_accumulate_is_only_for_per_hour_items_of_one_person():
    with pytest.raises(InvalidInput):
        catalog_io.load_text("""
catalog: {code: b, name: 界, effective_from: 2024-01-01}
categories: [{code: A, name: 甲, items: [{code: X, name: 一, points: 1, accumulate: month}]}]
""")
