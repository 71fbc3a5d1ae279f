"""The stations and 四单 pages render for each role and carry an order from 点单 to 评单 with
form posts (the browser test does it in Chromium): the station's public page with its plan,
the resident's order form, the staff's dispatch, the leader's accept, the resident's code and
rating; refusals shown on the page in Chinese; the town dashboard with charts."""

from __future__ import annotations

import re
from datetime import timedelta

from ledger.stations.service import ProfileDraft, publish_plan, set_profile, local_today
from ledger.timeutil import LOCAL_TZ, utcnow
from tests.builders.pages import form_fields, sign_in
from tests.builders.activities import T0
from tests.builders.matching import make_town, place, scan


def _post(client, page: str, action: str, **fields):
    html = client.get(page).text
    return client.post(action, data={**form_fields(html, action), **fields},
                       follow_redirects=False)


def test_station_page_shows_place_plan_and_menu(client, db, settings):
    t = make_town(db)
    v = t.w.village_id
    with db.transaction() as s:
        set_profile(s, v, ProfileDraft("塘边村委会一楼", "周一至周五", rooms=("图书室",)),
                    actor_id=None)
        publish_plan(s, v, local_today(), "持续深入移风易俗",
                     [{"day": 5, "title": "移风易俗宣讲"}], actor_id=None)
    html = client.get(f"/stations/{v}").text
    assert "塘边村委会一楼" in html and "持续深入移风易俗" in html and "家电维修" in html
    assert "我要点单" in html
    assert "塘边村" in client.get("/stations").text


def test_order_through_the_pages_from_placing_to_rating(client, db, settings):
    t = make_town(db)
    v = t.w.village_id
    sign_in(client, settings, user_id=6000, person_id=t.w.people[0])
    r = _post(client, f"/orders/new?station={v}", "/orders/new", station_id=str(v),
              service_code="repair", need="冰箱不制冷", preferred_at="2099-01-01T10:00")
    assert r.status_code == 422 and "期望时间须在" in r.text  # too far ahead, said in Chinese
    at = (utcnow() + timedelta(hours=3)).astimezone(LOCAL_TZ).replace(second=0, microsecond=0)
    r = _post(client, f"/orders/new?station={v}", "/orders/new", station_id=str(v),
              service_code="repair", need="冰箱不制冷", preferred_at=at.strftime("%Y-%m-%dT%H:%M"))
    assert r.status_code == 303, r.text
    oid = int(re.search(r"/orders/(\d+)", r.headers["location"]).group(1))
    assert "待派单" in client.get(f"/orders/{oid}").text

    sign_in(client, settings, "village_admin", village_id=v, user_id=810)
    assert f"/orders/{oid}" in client.get(f"/station/{v}/orders").text
    r = _post(client, f"/orders/{oid}", f"/orders/{oid}/dispatch", team_id=str(t.team_id))
    assert r.status_code == 303
    sign_in(client, settings, "volunteer", village_id=v, user_id=6001, person_id=t.w.people[1])
    page = client.get(f"/orders/{oid}").text
    assert "待接单" in page and "塘边村 1 号" in page  # the assigned team sees the address
    r = _post(client, f"/orders/{oid}", f"/orders/{oid}/decline", reason="")
    assert r.status_code == 422 and "请说明原因" in r.text, re.sub(r"<[^>]+>", " ", r.text)[-3000:]
    assert _post(client, f"/orders/{oid}", f"/orders/{oid}/accept").status_code == 303
    assert "我的接单任务" in client.get("/orders").text

    sign_in(client, settings, user_id=6000, person_id=t.w.people[0])
    page = client.get(f"/orders/{oid}").text
    assert 'svg class="qr"' in page or "<svg" in page
    url = re.search(r'data-testid="service-code-url">([^<]+)<', page).group(1)
    assert "/c/" in url
    scan(db, settings, t, oid, 2, at)  # the member at the door at the agreed time
    scan(db, settings, t, oid, 2, at + timedelta(minutes=1), action="out")
    r = _post(client, f"/orders/{oid}", f"/orders/{oid}/rate", rating="5", comment="很满意")
    assert r.status_code == 303
    page = client.get(f"/orders/{oid}").text
    assert "已评价" in page and "很满意" in page
    assert [a for a in ("点单", "派单", "接单", "上门签到", "服务完成", "评价") if a in page]


def test_dashboard_shows_charts_and_sign_only_stations(client, db, settings):
    t = make_town(db)
    place(db, t)
    sign_in(client, settings, "town_admin", user_id=1)
    html = client.get(f"/town/dashboard?period={T0:%Y}Q1").text
    assert "全镇文明实践看板" in html and html.count('<svg class="chart"') == 6
    assert 'id="chart-title-1"' in html and 'id="chart-title-6"' in html
    assert "仅挂牌" in html and "坑东村" in html  # nothing held there
    sign_in(client, settings, "volunteer", village_id=t.w.village_id, user_id=5)
    assert client.get("/town/dashboard").status_code == 403
    # a village admin would read the other villages' figures off the town's: not theirs
    sign_in(client, settings, "village_admin", village_id=t.w.village_id, user_id=6)
    assert client.get("/town/dashboard").status_code == 403


def test_order_form_for_a_station_that_does_not_exist_is_a_404_page(client, db, settings):
    t = make_town(db)
    sign_in(client, settings, user_id=6000, person_id=t.w.people[0])
    for raw in ("abc", "999999", "99999999999999999999999"):
        r = client.get(f"/orders/new?station={raw}")
        assert r.status_code == 404 and "<html" in r.text
