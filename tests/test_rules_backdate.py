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
