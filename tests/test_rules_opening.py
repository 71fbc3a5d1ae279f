"""Opening balances: once when a holder joins a scheme, beside the per-period grants; and what
"every year starts at N" does with a negative balance (carry the debt, or reset to N)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger.rules import service as svc
from ledger.rules import store
from ledger.rules.expiry import post_opening_grants
from tests.conftest import audit_clean
from tests.builders.rules import add_household, add_person, balance, make_world, staff

CATALOG = """
catalog:
  code: open{n}
  name: 期初
  effective_from: 2024-01-01
  approval: {{approved_by: 村民代表会议, decision: 测试, approved_on: 2024-01-01}}
  subjects: [household, person]
  opening_balance: {{points: 50, subjects: [person]}}
  opening_grant: {{points: 100, every: year, subjects: [household], negative: {negative}}}
categories:
  - code: A
    name: 甲
    items:
      - {{code: X, name: 重大违规, points: -150, subjects: [household]}}
"""
JAN1_2026 = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
JAN1_2027 = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
_n = iter(range(100))


def scheme(db, settings, negative: str):
    w = make_world(db)
    store.import_catalog(db, CATALOG.format(n=next(_n), negative=negative), actor_id=1)
    h = add_household(db, w, "王家")
    p = add_person(db, w, "王一", household="王家")
    post_opening_grants(db, settings, JAN1_2026 + timedelta(hours=1))
    svc.record_award(db, settings, item_code="X", holder=("household", h),
                     recorder=staff(50, "village_admin", village_id=w.villages["塘后村"]),
                     context={"occurred_at": (JAN1_2026 + timedelta(days=30)).isoformat(),
                              "channel": "admin"},
                     now=JAN1_2026 + timedelta(days=30))
    return w, h, p


def test_opening_balance_is_given_once_when_a_holder_joins(db, settings):
    w, h, p = scheme(db, settings, "carry")
    assert balance(db, "person", p) == 50
    post_opening_grants(db, settings, JAN1_2026 + timedelta(days=40))
    post_opening_grants(db, settings, JAN1_2027 + timedelta(hours=1))
    assert balance(db, "person", p) == 50  # once, not every period
    later = add_person(db, w, "王二", household="王家")
    post_opening_grants(db, settings, JAN1_2027 + timedelta(days=3))
    assert balance(db, "person", later) == 50
    audit_clean(db)


def test_every_year_starts_at_n_plus_the_debt_when_the_catalog_carries_it(db, settings):
    _, h, _ = scheme(db, settings, "carry")
    assert balance(db, "household", h) == -50
    post_opening_grants(db, settings, JAN1_2027 + timedelta(hours=1))
    assert balance(db, "household", h) == 50


def test_every_year_starts_at_n_when_the_catalog_resets_a_debt(db, settings):
    _, h, _ = scheme(db, settings, "reset")
    post_opening_grants(db, settings, JAN1_2027 + timedelta(hours=1))
    assert balance(db, "household", h) == 100
    post_opening_grants(db, settings, JAN1_2027 + timedelta(hours=2))
    assert balance(db, "household", h) == 100  # once per period
    audit_clean(db)
