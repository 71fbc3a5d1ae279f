"""The standing block on the holder's pages: the state, its reason and end on /me; the state
and end (no reason) on the public door plate; what may be redeemed and when."""

from __future__ import annotations

from ledger.registry.models import Household
from ledger.rules import store
from tests.builders.pages import sign_in
from tests.builders.redemption import give_points, make_household, make_person, make_town

CATALOG = """
catalog:
  code: famstanding
  name: 家庭积分银行
  effective_from: 2024-01-01
  approval: {approved_by: 村民代表会议, decision: 测试, approved_on: 2024-01-01}
  thresholds: {floor: 100}
  redemption: {days_of_month: [1]}
  standing:
    - {code: suspended, name: 暂停福利, below: 70, effects: [redeem, draws]}
categories:
  - code: A
    name: 甲
    items:
      - {code: A1, name: 好事, points: 1}
"""


def test_me_shows_the_state_its_reason_and_the_next_redemption_day(client, db, settings):
    town = make_town(db)
    store.import_catalog(db, CATALOG, actor_id=1)
    me = make_person(db, town["villages"][0])
    give_points(db, "person", me, town["villages"][0], 50)
    sign_in(client, settings, "volunteer", person_id=me)
    page = client.get("/me")
    assert page.status_code == 200 and 'data-testid="standing"' in page.text
    assert "暂停福利" in page.text and "可用积分 50 分，低于 70 分" in page.text
    assert "暂停：兑换、抽奖" in page.text and "恢复后自动解除" in page.text
    assert "现在不能兑换" in page.text and "下一个兑换日" in page.text
    assert "须保留底数 100 分" in page.text


def test_door_plate_shows_the_state_without_the_reason(client, db):
    town = make_town(db)
    store.import_catalog(db, CATALOG, actor_id=1)
    hh = make_household(db, town["villages"][0])
    give_points(db, "household", hh, town["villages"][0], 10)
    with db.sessions() as s:
        plate = s.get(Household, hh).plate_code
    page = client.get(f"/h/{plate}")
    assert page.status_code == 200 and "暂停福利" in page.text
    assert "低于 70 分" not in page.text and "现在不能兑换" not in page.text
