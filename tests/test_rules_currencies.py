"""Hours as a currency and several earning coins (issue #19.10, #19.11): a time bank moves
banked minutes from the receiver to the helper in one balanced entry without touching certified
minutes; coins are earned per category, capped per coin per year, and converted into points at
the catalog's rate by a pair of conversion entries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.errors import DomainError
from ledger.rules import coins, store, timebank
from ledger.rules import service as svc
from ledger.rules.catalog_io import from_plain, load_text
from ledger.rules.plain import to_dict
from ledger.identity.actor import Actor
from tests.conftest import audit_clean
from tests.builders.rules import T0, add_person, balance, make_world, staff

CATALOG = """
catalog:
  code: mc
  name: 多币种
  effective_from: 2024-01-01
  approval: {approved_by: 村民代表会议, decision: 测试, approved_on: 2024-01-01}
  subjects: [person]
  time_bank: {opening_hours: 2, max_exchange_hours: 4, year_cap_hours: 3}
  coins:
    - {code: know, name: 知识币, categories: [K], rate: {coins: 10, points: 1}}
    - {code: svc, name: 服务币, categories: [S], rate: {coins: 1, points: 1},
       caps: {minutes: {year: 600}}}
categories:
  - code: K
    name: 学习
    items:
      - {code: K1, name: 参加讲座, points: 5}
  - code: S
    name: 服务
    items:
      - {code: S1, name: 志愿服务, per: hour, points: 1}
  - code: P
    name: 其他
    items:
      - {code: P1, name: 好事, points: 3}
"""


@pytest.fixture
def town(db):
    w = make_world(db)
    store.import_catalog(db, CATALOG, actor_id=1)
    return w


def rec(db, settings, w, item, p, at=T0, **ctx):
    return svc.record_award(db, settings, item_code=item, holder=("person", p),
                            recorder=staff(50, "village_admin", village_id=w.villages["塘后村"]),
                            context={"occurred_at": at.isoformat(), "channel": "admin",
                                     "note": "记录", **ctx}, now=at)


def me(p: int) -> Actor:
    return Actor(user_id=900 + p, roles=(("volunteer", None),), person_id=p)


def test_coins_are_earned_per_category_and_converted_at_the_rate(db, settings, town):
    p = add_person(db, town, "王芳")
    for _ in range(3):
        rec(db, settings, town, "K1", p)  # 15 knowledge coins
    rec(db, settings, town, "S1", p, minutes=120)  # 2 service coins, 120 certified minutes
    rec(db, settings, town, "P1", p)  # 3 points
    assert (balance(db, "person", p, unit="coin.know"), balance(db, "person", p, unit="coin.svc"),
            balance(db, "person", p), balance(db, "person", p, unit="minutes")) == (15, 2, 3, 120)
    with pytest.raises(DomainError) as e:
        coins.convert(db, settings, holder_type="person", holder_id=p, coin_code="know",
                      amount=15, recorder=me(p))
    assert e.value.code == "conversion_amount_invalid"
    got = coins.convert(db, settings, holder_type="person", holder_id=p, coin_code="know",
                        amount=10, recorder=me(p), key="conv-1")
    assert (got.coins, got.points) == (10, 1)
    again = coins.convert(db, settings, holder_type="person", holder_id=p, coin_code="know",
                          amount=10, recorder=me(p), key="conv-1")
    assert again == got  # the key replays: converted once
    assert (balance(db, "person", p, unit="coin.know"), balance(db, "person", p)) == (5, 4)
    with pytest.raises(DomainError) as e:
        coins.convert(db, settings, holder_type="person", holder_id=p, coin_code="know",
                      amount=10, recorder=me(p))
    assert e.value.code == "coins_insufficient"
    other = add_person(db, town, "李强")
    with pytest.raises(DomainError) as e:  # not the holder, not staff
        coins.convert(db, settings, holder_type="person", holder_id=p, coin_code="svc",
                      amount=1, recorder=me(other))
    assert e.value.code == "conversion_not_permitted"
    audit_clean(db)


def test_a_coin_has_an_annual_cap_across_its_categories(db, settings, town):
    p = add_person(db, town, "赵敏")
    rec(db, settings, town, "S1", p, minutes=480)
    got = rec(db, settings, town, "S1", p, at=T0 + timedelta(days=1), minutes=240)
    assert got.minutes == 120  # 600 minutes a year: what is left of the cap
    with pytest.raises(DomainError) as e:
        rec(db, settings, town, "S1", p, at=T0 + timedelta(days=2), minutes=60)
    assert e.value.code == "cap_reached"
    rec(db, settings, town, "S1", p, at=T0 + timedelta(days=365), minutes=60)  # a new year
    assert balance(db, "person", p, unit="coin.svc") == 11


def test_the_time_bank_moves_banked_hours_and_never_certified_ones(db, settings, town):
    a, b = add_person(db, town, "孙伟"), add_person(db, town, "周杰")
    rec(db, settings, town, "S1", b, minutes=60)  # b has 60 certified minutes
    x = timebank.Exchange(receiver_id=a, helper_id=b, minutes=90, note="帮忙修水管")
    got = timebank.record(db, settings, x, recorder=me(a), key="tb-1", now=T0)
    assert (got.receiver_minutes, got.helper_minutes) == (30, 210)  # 2 h opening each
    assert timebank.record(db, settings, x, recorder=me(a), key="tb-1", now=T0) == got
    assert balance(db, "person", b, unit="minutes") == 60  # certified minutes untouched
    assert balance(db, "person", a, unit="minutes") == 0
    refusals = [
        (timebank.Exchange(a, a, 10, ""), me(a), "time_bank_self"),
        (timebank.Exchange(a, b, 10, ""), me(b), "self_award_forbidden"),  # the helper
        (timebank.Exchange(a, b, 10, ""), me(add_person(db, town, "吴磊")),
         "time_bank_not_permitted"),  # a third resident
        (timebank.Exchange(a, b, 60, ""), me(a), "time_bank_insufficient"),
        (timebank.Exchange(b, a, 300, ""), me(b), "time_bank_minutes_out_of_range"),
    ]
    for ex, who, code in refusals:
        with pytest.raises(DomainError) as e:
            timebank.record(db, settings, ex, recorder=who, now=T0)
        assert e.value.code == code, (ex, code)
    organizer = Actor(user_id=60, roles=(("organizer", town.villages["塘后村"]),))
    timebank.record(db, settings, timebank.Exchange(b, a, 120, ""), recorder=organizer, now=T0)
    with pytest.raises(DomainError) as e:  # a has earned 2 h of its 3 h a year
        timebank.record(db, settings, timebank.Exchange(b, a, 90, ""), recorder=organizer,
                        now=T0)
    assert e.value.code == "time_bank_year_cap" and e.value.extra["room_minutes"] == 60
    audit_clean(db)


def test_currency_keys_are_checked_and_round_trip():
    c = load_text(CATALOG)
    assert from_plain(to_dict(c)) == c
    bad = CATALOG.replace("categories: [K]", "categories: [K, S]").replace(
        "opening_hours: 2", "opening_hours: 0").replace("code: know", "code: knowledge_coin")
    with pytest.raises(DomainError) as e:
        load_text(bad)
    msgs = [f"{p['path']}: {p['message']}" for p in e.value.extra["errors"]]
    assert any("opening_hours" in m and "hours in (0, 100]" in m for m in msgs), msgs
    assert any("a coin code has at most 10" in m for m in msgs), msgs
    assert any("a category earns one coin" in m for m in msgs), msgs


def test_me_and_the_api_show_coins_and_banked_hours(client, db, settings, town):
    from tests.builders.pages import sign_in
    a, b = add_person(db, town, "郑好"), add_person(db, town, "钱多")
    rec(db, settings, town, "K1", a)
    sign_in(client, settings, "volunteer", person_id=a)
    r = client.post("/api/v1/rules/time-bank/exchanges", headers={"Idempotency-Key": "x1"},
                    json={"receiver_id": a, "helper_id": b, "minutes": 30, "note": "陪护"})
    assert r.status_code == 201 and r.json()["receiver_minutes"] == 90, r.text
    r = client.post("/api/v1/rules/time-bank/exchanges", headers={"Idempotency-Key": "x3"},
                    json={"receiver_id": a, "helper_id": b, "minutes": 30,
                          "occurred_at": "2026-03-01T10:00:00"})
    assert r.status_code == 422 and r.json()["code"] == "occurred_at_invalid", r.text
    r = client.post(f"/api/v1/rules/holders/person/{b}/coins/conversions",
                    headers={"Idempotency-Key": "x2"}, json={"coin": "know", "coins": 10})
    assert r.status_code == 403 and r.json()["code"] == "conversion_not_permitted"
    view = client.get(f"/api/v1/rules/holders/person/{a}/currencies").json()
    assert [(k["coin"], k["coins"]) for k in view["coins"]] == [("know", 5), ("svc", 0)]
    assert view["time_bank"] == {"minutes": 90}
    html = client.get("/me").text
    assert 'data-testid="currencies"' in html and "知识币" in html and "10 个兑换 1 积分" in html


def test_a_coin_item_draws_on_no_points_budget(db, settings):
    w = make_world(db, budget=2)
    store.import_catalog(db, CATALOG, actor_id=1)
    p = add_person(db, w, "冯雪")
    rec(db, settings, w, "K1", p)  # 5 coins while the village has 2 points to award
    assert balance(db, "person", p, unit="coin.know") == 5
    with pytest.raises(DomainError) as e:
        rec(db, settings, w, "P1", p)  # 3 points: the budget is short
    assert e.value.code == "budget_exhausted"
