"""The admin console's shop, budget and audit pages: saving through the domain, errors next to
the field in Chinese, and who may open them."""

from __future__ import annotations

from tests.builders.pages import form_fields, sign_in
from tests.builders.redemption import make_reward, make_shop, make_town, reward_row


def test_admin_creates_reward_and_restocks(client, db, settings):
    town = make_town(db, villages=1)
    shop = make_shop(db, town["town"])
    sign_in(client, settings, "town_admin")
    page = client.get("/admin/rewards")
    fields = form_fields(page.text, "/admin/rewards")
    r = client.post("/admin/rewards", data={**fields, "provider_id": shop, "name": "洗衣液",
                                            "kind": "goods", "cost_points": "20", "stock": "3"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/admin/rewards?saved=1")
    assert "已保存" in page.text and "洗衣液" in page.text and "可兑 3" in page.text
    rid = int(page.text.split('id="reward-')[1].split('"')[0])
    fields = form_fields(page.text, f"/admin/rewards/{rid}/stock")
    client.post(f"/admin/rewards/{rid}/stock", data={**fields, "add": "2"})
    assert reward_row(db, rid)["stock"] == 5


def test_reward_form_errors_are_next_to_their_fields(client, db, settings):
    town = make_town(db, villages=1)
    shop = make_shop(db, town["town"])
    sign_in(client, settings, "town_admin")
    fields = form_fields(client.get("/admin/rewards").text, "/admin/rewards")
    r = client.post("/admin/rewards", data={**fields, "provider_id": shop, "name": "",
                                            "kind": "goods", "cost_points": "abc"})
    assert r.status_code == 422
    assert 'id="e-name">必填' in r.text and 'id="e-cost_points">请填整数' in r.text
    assert 'value="goods" selected' in r.text  # what was typed stays


def test_stock_below_committed_is_refused_next_to_the_field(client, db, settings):
    town = make_town(db, villages=1)
    reward = make_reward(db, make_shop(db, town["town"]), stock=2)
    sign_in(client, settings, "town_admin")
    fields = form_fields(client.get("/admin/rewards").text, f"/admin/rewards/{reward.id}/stock")
    r = client.post(f"/admin/rewards/{reward.id}/stock", data={**fields, "add": "-5"})
    assert r.status_code == 422 and "库存" in r.text and 'id="e-add"' in r.text


def test_town_admin_allocates_a_village_budget(client, db, settings):
    town = make_town(db, villages=1)
    village = town["villages"][0]
    sign_in(client, settings, "town_admin")
    page = client.get("/admin/budgets")
    assert "塘边村0" in page.text and "1000000" in page.text
    fields = form_fields(page.text, "/admin/budgets")
    r = client.post("/admin/budgets", data={**fields, "village_id": village, "amount": "500"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "1000500" in client.get("/admin/budgets").text


def test_audit_page_runs_the_audit(client, db, settings):
    make_town(db, villages=1)
    sign_in(client, settings, "town_admin")
    fields = form_fields(client.get("/admin/audit").text, "/admin/audit")
    r = client.post("/admin/audit", data=fields)
    assert r.status_code == 200 and "账目核查通过" in r.text


def test_admin_pages_refuse_a_volunteer_in_chinese(client, settings):
    sign_in(client, settings, "volunteer", person_id=1)
    for path in ("/admin", "/admin/rewards", "/admin/budgets", "/admin/audit"):
        r = client.get(path)
        assert r.status_code == 403 and "您没有权限做这件事" in r.text, path
