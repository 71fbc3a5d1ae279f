"""Period end: FIFO lots, expiry after N years, year-end zeroing (清零), opening grants, and
the expiries announced ahead on a holder's standing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger.journal import book, holds
from ledger.journal.accounts import open_account
from ledger.rules import service as svc
from ledger.rules.expiry import Event, expire_due, fifo, post_opening_grants
from ledger.rules.thresholds import standing
from tests.conftest import audit_clean
from tests.builders.rules import balance, family, load, make_world, staff

D = lambda y, m, d: datetime(y, m, d, 2, 0, tzinfo=UTC)
EXP = lambda y, m, d: datetime(y, m, d, tzinfo=UTC) - timedelta(hours=8)


def test_fifo_spending_uses_the_oldest_lot_and_no_valid_point_expires():
    events = [Event(D(2024, 1, 1), 10, expires_at=EXP(2026, 1, 1)),
              Event(D(2024, 6, 1), -5),
              Event(D(2025, 1, 1), 10, expires_at=EXP(2027, 1, 1)),
              Event(D(2025, 2, 1), -3)]
    r = fifo(events, D(2026, 1, 2))
    assert r.due == {EXP(2026, 1, 1): 2}  # 10 − 5 − 3 of the oldest lot
    assert r.upcoming == [(EXP(2027, 1, 1), 10)]  # the newer lot is untouched


def test_fifo_debt_is_paid_by_the_next_credit_first():
    events = [Event(D(2024, 1, 1), -7), Event(D(2024, 2, 1), 10, expires_at=EXP(2025, 1, 1))]
    r = fifo(events, D(2025, 1, 2))
    assert r.due == {EXP(2025, 1, 1): 3} and r.debt == 0


def test_fifo_counts_posted_expiries_once():
    t = EXP(2025, 1, 1)
    events = [Event(D(2024, 1, 1), 10, expires_at=t), Event(D(2025, 1, 2), -10, realizes=t)]
    assert fifo(events, D(2025, 2, 1)).due == {}


def test_fifo_debits_after_an_expiry_instant_use_the_newer_lot():
    t = EXP(2025, 1, 1)
    events = [Event(D(2024, 1, 1), 10, expires_at=t),
              Event(D(2025, 1, 1), 10, expires_at=EXP(2026, 1, 1)),
              Event(D(2025, 1, 3), -4)]  # after the first lot's instant, before any sweep
    r = fifo(events, D(2025, 1, 5))
    assert r.due == {t: 10} and r.upcoming == [(EXP(2026, 1, 1), 6)]


def _spend(db, account, amount, at):
    shop = book.write(db, lambda s: open_account(s, holder_type="provider", holder_id=1,
                                                 purpose="redeemed")).result
    hold = book.write(db, lambda s: {"id": holds.reserve(
        s, unit="points", debit_account_id=account, credit_account_id=shop, amount=amount,
        ttl_s=600, now=at)}).result["id"]
    book.write(db, lambda s: holds.post_hold(s, hold, now=at).as_dict())


def test_points_expire_after_two_years_oldest_first_into_the_towns_account(db, settings):
    w = make_world(db)
    load(db, "baogai")
    _, p = family(db, w)
    admin = staff(50, "village_admin", village_id=w.villages["塘后村"])

    def award(at, item="D08"):
        return svc.record_award(db, settings, item_code=item, holder=("person", p),
                                recorder=admin, context={"occurred_at": at.isoformat()},
                                key=None, now=at)

    award(D(2024, 3, 10))  # 6 steps, expire at 2026-03-10 00:00 Beijing
    award(D(2025, 3, 10))  # 6 steps, expire 2027-03-10
    acct = book.write(db, lambda s: open_account(s, holder_type="person", holder_id=p,
                                                 purpose="points")).result
    _spend(db, acct, 4, D(2025, 4, 1))  # uses the 2024 lot first
    with db.sessions() as s:
        st = standing(s, "person", p, now=D(2026, 2, 20))
    assert st["expiring"] == [{"at": EXP(2026, 3, 10).isoformat(), "last_valid_day":
                               "2026-03-09", "points": 1}]
    assert expire_due(db, D(2026, 3, 9)) == 0
    assert expire_due(db, D(2026, 3, 10)) == 1
    assert expire_due(db, D(2026, 3, 11)) == 0  # rerun: nothing more
    assert balance(db, "person", p) == 6  # the 2025 lot, whole
    assert balance(db, "town", w.town) == 0
    with db.sessions() as s:
        from sqlalchemy import select

        from ledger.journal.models import Account
        expired = s.scalar(select(Account.balance).where(Account.purpose == "expired",
                                                         Account.holder_id == w.town))
    assert expired == 2
    audit_clean(db)


def test_expiry_leaves_points_held_for_a_redemption_in_flight(db, settings):
    w = make_world(db)
    load(db, "baogai")
    _, p = family(db, w)
    admin = staff(50, "village_admin", village_id=w.villages["塘后村"])
    svc.record_award(db, settings, item_code="D08", holder=("person", p), recorder=admin,
                     context={"occurred_at": D(2024, 3, 10).isoformat()}, key=None,
                     now=D(2024, 3, 10))
    acct = book.write(db, lambda s: open_account(s, holder_type="person", holder_id=p,
                                                 purpose="points")).result
    shop = book.write(db, lambda s: open_account(s, holder_type="provider", holder_id=1,
                                                 purpose="redeemed")).result
    book.write(db, lambda s: holds.reserve(s, unit="points", debit_account_id=acct,
                                           credit_account_id=shop, amount=4, ttl_s=3600,
                                           now=D(2026, 3, 9)) and {})
    assert expire_due(db, D(2026, 3, 10)) == 1
    assert balance(db, "person", p) == 4  # the reserved 4 stay for the redemption
    audit_clean(db)


def test_household_scheme_grants_1000_each_year_and_zeroes_at_year_end(db, settings):
    w = make_world(db)
    load(db, "household_1000")
    h, _ = family(db, w, village="坑东村")
    other, _ = family(db, w, village="塘后村", tag="林")  # not in the scheme's village
    assert post_opening_grants(db, settings, D(2026, 1, 2)) == 1
    assert post_opening_grants(db, settings, D(2026, 2, 2)) == 0  # once a year
    assert balance(db, "household", h) == 1000 and balance(db, "household", other) == 0
    inspector = staff(51, "inspector", village_id=w.villages["坑东村"])
    for day in (3, 4):
        r = svc.record_award(db, settings, item_code="H204", holder=("household", h),
                             recorder=inspector, key=None, now=D(2026, 12, day),
                             context={"photos": ["p"], "occurred_at": D(2026, 12,
                                                                        day).isoformat()})
    from ledger.rules.workflow import post_due_notices
    assert post_due_notices(db, D(2026, 12, 10)) == 2
    assert balance(db, "household", h) == 960
    with db.sessions() as s:
        st = standing(s, "household", h, now=D(2026, 12, 20))
    assert st["expiring"][0]["points"] == 960 and st["expiring"][0]["last_valid_day"] == \
        "2026-12-31" and st["benefits_flagged"] is False and st["may_redeem"]
    assert expire_due(db, D(2026, 12, 31)) == 0
    assert expire_due(db, D(2027, 1, 1) - timedelta(hours=8)) == 1  # midnight, Beijing
    assert balance(db, "household", h) == 0
    assert post_opening_grants(db, settings, D(2027, 1, 1)) == 1
    assert balance(db, "household", h) == 1000
    assert r.status == "on_notice"
    audit_clean(db)


MONTHLY = """
catalog:
  code: monthly
  name: 每月百分制
  effective_from: 2024-01-01
  villages: [塘后村]
  subjects: [household]
  point_value_fen: 50
  approval: {approved_by: 村民代表会议, decision: 记录-9}
  opening_grant: {points: 100, every: month}
categories:
  - code: M
    name: 扣分
    items:
      - {code: M1, name: 卫生不合格, points: -10, once_per: month}
"""


def test_monthly_opening_grant_posts_once_per_month_per_household(db, settings):
    from ledger.rules import store
    from ledger.rules.thresholds import settlement_value_fen
    w = make_world(db, villages=("塘后村",))
    store.import_catalog(db, MONTHLY, actor_id=1)
    h, _ = family(db, w)
    assert post_opening_grants(db, settings, D(2026, 3, 1)) == 1
    assert post_opening_grants(db, settings, D(2026, 3, 31)) == 0
    assert post_opening_grants(db, settings, D(2026, 4, 1)) == 1
    assert balance(db, "household", h) == 200
    with db.sessions() as s:
        assert settlement_value_fen(200, store.catalog(s, "monthly")) == 100_00
    audit_clean(db)
