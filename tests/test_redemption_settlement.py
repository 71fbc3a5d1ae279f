"""Settlement: points redeemed per provider per period, the entries behind each figure, CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from ledger.errors import DomainError
from ledger.journal import service
from ledger.redemption.service import cancel, fulfil, redeem
from ledger.redemption.settlement import settlement_csv, settlement_report
from ledger.timeutil import LOCAL_TZ, utcnow
from tests.conftest import audit_clean
from tests.builders.redemption import (
    give_points,
    make_person,
    make_reward,
    make_shop,
    make_town,
)

SHOP_CLERK, CINEMA_CLERK = 801, 802


def _report(db, **kw):
    with db.sessions() as s:
        return settlement_report(s, **kw)


@pytest.fixture
def trade(db):
    """Two providers; three fulfilled vouchers, one cancelled, one open, one reversed."""
    t = make_town(db)
    v = t["villages"][0]
    shop = make_shop(db, t["town"], name="=塘边村积分超市", clerks=(SHOP_CLERK,))
    cinema = make_shop(db, t["town"], name="石狮影城", clerks=(CINEMA_CLERK,))
    me = make_person(db, v)
    give_points(db, "person", me, v, 1000)
    oil = make_reward(db, shop, name="花生油", kind="goods", cost_points=50)
    film = make_reward(db, cinema, name="电影票", cost_points=30)

    def order(reward, quantity=1):
        return redeem(db, reward_id=reward.id, holder_type="person", holder_id=me,
                      quantity=quantity, actor_id=me, key=None)

    used = [fulfil(db, code=order(oil, 2).voucher.code, clerk_user_id=SHOP_CLERK,
                   key=None),
            fulfil(db, code=order(oil).voucher.code, clerk_user_id=SHOP_CLERK, key=None),
            fulfil(db, code=order(film).voucher.code, clerk_user_id=CINEMA_CLERK,
                   key=None)]
    cancel(db, order_id=order(film).order_id, actor_id=me, key=None, holders=[("person", me)])
    order(oil)  # still open: not settled
    returned = service.reverse(db, entry_id=used[1].voucher.entry_id,
                               reason="退货", actor_id=1, key=None)
    return {"shop": shop, "cinema": cinema, "used": used, "returned": returned}


def test_report_sums_points_per_provider_with_the_entries_behind_them(db, trade):
    today = utcnow().astimezone(LOCAL_TZ).date()
    report = _report(db, start=today, end=today)
    by = {p["provider_id"]: p for p in report["providers"]}
    shop, cinema = by[trade["shop"]], by[trade["cinema"]]
    assert (shop["points"], shop["entries"], shop["amount_fen"]) == (100, 3, 10_000)
    assert (cinema["points"], cinema["entries"]) == (30, 1)
    assert report["total_points"] == 130
    lines = {line["entry_id"]: line for line in shop["lines"]}
    first = trade["used"][0]
    assert lines[first.voucher.entry_id]["order_id"] == first.order_id
    assert lines[first.voucher.entry_id]["quantity"] == 2
    back = lines[trade["returned"].entry_id]
    assert (back["kind"], back["points"], back["order_id"]) \
        == ("reverse", -50, trade["used"][1].order_id)
    audit_clean(db)


def test_csv_has_a_row_per_entry_and_a_total_per_provider(db, trade):
    today = utcnow().astimezone(LOCAL_TZ).date()
    text = settlement_csv(_report(db, start=today, end=today, provider_id=trade["shop"]))
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["类别"] for r in rows] == ["兑换", "兑换", "冲正", "合计"]
    assert rows[-1]["积分"] == "100" and rows[-1]["金额（分）"] == "10000"
    assert rows[0]["兑换点"] == "'=塘边村积分超市"  # never a spreadsheet formula
    assert rows[0]["礼品"] == "花生油"
    audit_clean(db)


def test_a_period_before_the_trade_settles_nothing(db, trade):
    day = utcnow().astimezone(LOCAL_TZ).date() - timedelta(days=3)
    report = _report(db, start=day, end=day)
    assert report["total_points"] == 0 and all(p["entries"] == 0 for p in report["providers"])


@pytest.mark.parametrize(("days", "code"), [(-1, "invalid_period"), (366, "period_too_long")])
def test_bad_periods_are_refused(db, days, code):
    today = utcnow().date()
    with pytest.raises(DomainError) as e:
        _report(db, start=today, end=today + timedelta(days=days))
    assert e.value.code == code
