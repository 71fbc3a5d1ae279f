"""The door-plate page and the village ranking: public, masked, this year's score, entries by
item, no personal data; an inspector sees the finding form there."""

from __future__ import annotations

from ledger.registry.models import Household
from ledger.rules import store
from tests.builders.pages import sign_in
from tests.builders.redemption import give_points, make_household, make_town


def _plate(db, household_id):
    with db.sessions() as s:
        return s.get(Household, household_id).plate_code


def test_household_page_shows_score_and_entries_without_personal_data(client, db):
    town = make_town(db, villages=2)
    v1, _v2 = town["villages"]
    hh = make_household(db, v1)
    give_points(db, "household", hh, v1, 25)
    give_points(db, "household", hh, v1, -5)
    page = client.get(f"/h/{_plate(db, hh)}")
    assert page.status_code == 200
    assert 'data-testid="house-score">20<' in page.text
    assert "塘边村0 · 陈*" in page.text and "陈家" not in page.text
    assert "测试奖励" in page.text and "+25" in page.text and "-5" in page.text
    assert "评议此户" not in page.text and 'action="/h/' not in page.text  # no form in public


def test_unknown_plate_is_a_chinese_404_page(client, db):
    r = client.get("/h/nosuchplate")
    assert r.status_code == 404 and "没有这个门牌" in r.text


def test_inspector_of_the_village_sees_the_household_items(client, db, settings):
    store.load_shipped(db)
    town = make_town(db, villages=2)
    v1, v2 = town["villages"]
    plate = _plate(db, make_household(db, v1))
    sign_in(client, settings, "inspector", village_id=v2)
    assert f'action="/h/{plate}/inspect"' not in client.get(f"/h/{plate}").text
    client.cookies.clear()
    sign_in(client, settings, "inspector", village_id=v1)
    page = client.get(f"/h/{plate}")
    assert f'action="/h/{plate}/inspect"' in page.text and "C01 庭院整洁" in page.text


def test_ranking_orders_villages_by_average_and_draws_a_chart(client, db):
    town = make_town(db, villages=2)
    v1, v2 = town["villages"]
    a, b = make_household(db, v1), make_household(db, v1)
    c = make_household(db, v2)
    give_points(db, "household", a, v1, 10)
    give_points(db, "household", b, v1, 20)
    give_points(db, "household", c, v2, 40)
    page = client.get("/rank")
    assert page.status_code == 200 and '<svg class="chart"' in page.text
    rows = page.text.split('data-testid="rank-table"')[1]
    assert rows.index("塘边村1") < rows.index("塘边村0")
    assert "<td>塘边村0</td><td>15</td><td>30</td><td>2</td>" in rows


def test_half_point_towns_show_points_not_ledger_steps(client, db):
    store.load_shipped(db)  # Baogai's catalog keeps 2 steps per point
    town = make_town(db, villages=1)
    hh = make_household(db, town["villages"][0])
    give_points(db, "household", hh, town["villages"][0], 7)
    page = client.get(f"/h/{_plate(db, hh)}")
    assert 'data-testid="house-score">3.5<' in page.text and "+3.5" in page.text
