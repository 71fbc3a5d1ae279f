"""Shop set-up and settlement on the pages: the town admin opens a shop, adds a clerk by login
(who is given the clerk role), closes and reopens it; the settlement page shows what each
shop redeemed in a period, in points and yuan."""

from __future__ import annotations

import re

from ledger.identity import service as identity
from ledger.identity.models import AppUser
from ledger.redemption import service as redemption
from tests.builders.workflow import world
from tests.builders.pages import form_fields, sign_in
from tests.builders.redemption import give_points, make_reward, make_shop


def test_town_admin_opens_a_shop_and_adds_a_clerk(client, db, settings):
    w = world(db, village_name="坑东村")
    with db.transaction() as s:
        identity.add_user(s, login="xiaowang", name="小王", password="Baogai-2026!")
    sign_in(client, settings, "village_admin", village_id=w.village, user_id=80)
    assert client.get("/admin/shops").status_code == 403  # the town's job
    client.cookies.clear()
    sign_in(client, settings, "town_admin", user_id=81)
    assert 'href="/admin/shops"' in client.get("/admin").text
    page = client.get("/admin/shops").text
    r = client.post("/admin/shops", data={**form_fields(page, "/admin/shops"), "name": "",
                                          "kind": "shop", "fen_per_point": "100"})
    assert r.status_code == 422 and 'id="e-name">必填' in r.text
    r = client.post("/admin/shops", data={
        **form_fields(page, "/admin/shops"), "name": "坑东村积分超市", "kind": "shop",
        "village_id": str(w.village), "fen_per_point": "100"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/admin/shops").text
    assert "坑东村积分超市" in page and "每分结算 100 分钱" in page
    shop = int(re.search(r'data-testid="shop-(\d+)"', page).group(1))
    action = f"/admin/shops/{shop}/clerk"
    r = client.post(action, data={**form_fields(page, action), "login": "nobody"})
    assert r.status_code == 404 and "没有这个账号" in r.text
    client.post(action, data={**form_fields(page, action), "login": "xiaowang"})
    page = client.get("/admin/shops").text
    assert "小王（xiaowang）" in page
    with db.sessions() as s:
        uid = s.query(AppUser).filter_by(login="xiaowang").one().id
        assert ("clerk", w.village) in identity.roles_of(s, uid)
    action = f"/admin/shops/{shop}/active"
    client.post(action, data={**form_fields(page, action), "active": "0"})
    page = client.get("/admin/shops").text
    assert "已下架" in page and "恢复兑换" in page
    action = f"/admin/shops/{shop}/unclerk"
    client.post(action, data={**form_fields(page, action), "user_id": str(uid)})
    assert "小王（xiaowang）" not in client.get("/admin/shops").text


def test_settlement_page_shows_points_and_yuan(client, db, settings):
    w = world(db, village_name="坑东村")
    shop = make_shop(db, w.town, name="坑东村积分超市", clerks=(90,))
    reward = make_reward(db, shop, cost_points=20)  # in ledger steps: 10 points at scale 2
    give_points(db, "person", w.resident, w.village, 40)
    order = redemption.redeem(db, reward_id=reward.id, holder_type="person",
                              holder_id=w.resident, quantity=1, actor_id=1, key=None)
    redemption.fulfil(db, code=order.voucher.code, clerk_user_id=90, key=None)
    sign_in(client, settings, "town_admin", user_id=81)
    page = client.get("/admin/settlement")
    assert page.status_code == 200
    row = page.text.split('data-testid="settlement"')[1].split("</table>")[0]
    assert "坑东村积分超市" in row and "<td>10</td>" in row
    assert "settlement.csv?start=" in page.text
    bad = client.get("/admin/settlement?start=2026-03-01&end=2026-01-01")
    assert bad.status_code == 422 and 'id="e-end">结束日期早于开始日期' in bad.text


def test_a_lucky_draw_is_made_run_checked_and_the_winner_told_on_me(client, db, settings):
    w = world(db, village_name="坑东村")
    shop = make_shop(db, w.town, name="镇影院", clerks=())
    reward = make_reward(db, shop, cost_points=20, stock=10)
    sign_in(client, settings, "town_admin", user_id=81)
    assert 'href="/admin/draws"' in client.get("/admin").text
    page = client.get("/admin/draws").text
    r = client.post("/admin/draws", data={**form_fields(page, "/admin/draws"), "name": "",
                                          "reward_id": str(reward.id),
                                          "winners_count": "5"})
    assert r.status_code == 422 and 'id="e-name">必填' in r.text
    r = client.post("/admin/draws", data={
        **form_fields(page, "/admin/draws"), "name": "志愿者观影抽奖",
        "reward_id": str(reward.id), "winners_count": "5", "village_id": str(w.village),
        "volunteers_only": "1"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/admin/draws").text
    draw_id = int(re.search(r'href="/admin/draws/(\d+)"', page).group(1))
    action = f"/admin/draws/{draw_id}/run"
    r = client.post(action, data={**form_fields(page, action), "seed": "2026-12-06 福彩 123"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/admin/draws/{draw_id}"
    view = client.get(r.headers["location"]).text
    assert 'data-testid="draw-population">1<' in view
    assert "符合条件的只有 1 人，不足设定的 5 人，全部中签" in view
    assert "志愿者0" in view.split('data-testid="draw-winners"')[1]
    checked = client.get(f"/admin/draws/{draw_id}?verify=true").text
    assert "复核一致" in checked
    fresh = form_fields(client.get("/admin/draws").text, "/admin/draws")  # a new form key
    r = client.post(action, data={**fresh, "seed": "again"})
    assert r.status_code == 409 and "这次抽奖已经开过奖" in r.text
    client.cookies.clear()
    sign_in(client, settings, "volunteer", village_id=w.village, user_id=82,
            person_id=w.resident)
    me = client.get("/me").text
    wins = me.split('data-testid="my-wins"')[1].split("</section>")[0]
    assert "恭喜！您在「志愿者观影抽奖」中签" in wins and 'href="/me/vouchers/' in wins


def test_the_town_home_lists_what_needs_attention(client, db, settings):
    from datetime import timedelta

    from ledger.rules import service as rules
    from ledger.rules.models import AwardRecord
    from ledger.identity.actor import Actor
    from ledger.timeutil import utcnow
    w = world(db)  # 塘边村: on notice for 3 days
    done = rules.record_award(db, settings, item_code="C06", holder=("household", w.household),
                              recorder=Actor(11, roles=(("inspector", w.village),)), context={})
    with db.transaction() as s:  # ends in two hours
        s.get(AwardRecord, done.award_id).notice_until = utcnow() + timedelta(hours=2)
    sign_in(client, settings, "village_admin", village_id=w.village, user_id=80)
    assert 'href="/town"' not in client.get("/admin").text
    assert client.get("/town").status_code == 403
    client.cookies.clear()
    sign_in(client, settings, "town_admin", user_id=81)
    assert 'href="/town"' in client.get("/admin").text
    page = client.get("/town").text
    ending = page.split('data-testid="town-ending"')[1].split("</section>")[0]
    assert "房前屋后乱堆乱放" in ending and "-2" in ending
    assert 'data-testid="town-appeals">0<' in page
    budgets = page.split('data-testid="town-budgets"')[1].split("</section>")[0]
    assert "暂无" in budgets  # the test village has a large budget
    quiet = page.split('data-testid="town-quiet"')[1].split("</section>")[0]
    assert "塘边村" not in quiet  # something was recorded this month
    assert 'data-testid="town-overdue"' not in page
    with db.transaction() as s:  # its notice ended an hour ago; the periodic job has not run
        s.get(AwardRecord, done.award_id).notice_until = utcnow() - timedelta(hours=1)
    page = client.get("/town").text
    ending = page.split('data-testid="town-ending"')[1].split("</section>")[0]
    assert "房前屋后乱堆乱放" not in ending  # not "ending within a day": it is over
    assert "另有 1 条公示已期满、等待系统入账" in ending


def test_a_clerk_sees_and_downloads_their_own_shops_settlement_only(client, db, settings):
    import csv
    import io
    w = world(db, village_name="坑东村")
    mine = make_shop(db, w.town, name="坑东村积分超市", clerks=(90,))
    other = make_shop(db, w.town, name="镇影院", clerks=(91,))
    give_points(db, "person", w.resident, w.village, 100)
    for shop, clerk in ((mine, 90), (other, 91)):
        reward = make_reward(db, shop, cost_points=20)
        order = redemption.redeem(db, reward_id=reward.id, holder_type="person",
                                  holder_id=w.resident, quantity=1, actor_id=1, key=None)
        redemption.fulfil(db, code=order.voucher.code, clerk_user_id=clerk, key=None)
    sign_in(client, settings, "clerk", village_id=w.village, user_id=90)
    assert 'href="/admin/settlement"' in client.get("/clerk").text
    page = client.get("/admin/settlement")
    assert page.status_code == 200
    table = page.text.split('data-testid="settlement"')[1].split("</table>")[0]
    assert "坑东村积分超市" in table and "镇影院" not in table
    link = re.search(r'href="(/admin/settlement\.csv[^"]*)"', page.text).group(1)
    rows = list(csv.DictReader(io.StringIO(
        client.get(link.replace("&amp;", "&")).content.decode("utf-8-sig"))))
    assert {r["兑换点"] for r in rows} == {"坑东村积分超市"}
    client.cookies.clear()
    sign_in(client, settings, "clerk", village_id=w.village, user_id=92)  # serves no shop
    assert client.get("/admin/settlement").status_code == 403
