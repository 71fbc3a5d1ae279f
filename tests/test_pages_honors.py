"""Honor lists and star thresholds in the admin console: define, draft, review, exclude,
publish (frozen, with a poster), and thresholds with their errors next to the field."""

from __future__ import annotations

import re

from ledger.timeutil import LOCAL_TZ, utcnow
from tests.builders.pages import form_fields, sign_in
from tests.builders.redemption import give_points, make_people, make_town


def test_admin_defines_drafts_reviews_and_publishes_an_honor_list(client, db, settings):
    town = make_town(db, villages=1)
    village = town["villages"][0]
    a, b, c = make_people(db, village, 3)
    for person, pts in ((a, 30), (b, 20), (c, 10)):
        give_points(db, "person", person, village, pts)
    sign_in(client, settings, "town_admin")
    page = client.get("/admin/honors")
    r = client.post("/admin/honors", data={
        **form_fields(page.text, "/admin/honors"), "name": "十月积分红榜",
        "scope_id": f"village:{village}", "metric": "points", "period": "year", "size": "2",
        "minimum": "1"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/admin/honors")
    def_id = int(re.search(r'id="def-(\d+)"', page.text).group(1))
    action = f"/admin/honors/{def_id}/drafts"
    year = str(utcnow().astimezone(LOCAL_TZ).year)
    r = client.post(action, data={**form_fields(page.text, action), "period": year},
                    follow_redirects=False)
    assert r.status_code == 303
    list_path = r.headers["location"]
    page = client.get(list_path)
    assert "草稿" in page.text and "志愿者0" in page.text and "志愿者1" in page.text
    assert "志愿者2" not in page.text.split('data-testid="honor-entries"')[1]  # size 2
    act = f"{list_path}/review"
    client.post(act, data=form_fields(page.text, act))
    page = client.get(list_path)
    assert 'data-testid="honor-status">审核中' in page.text
    act = f"{list_path}/exclude"
    r = client.post(act, data={**form_fields(page.text, act), "holder_id": str(b),
                               "reason": "本年度有扣分记录"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(list_path)
    entries = page.text.split('data-testid="honor-entries"')[1].split("</table>")[0]
    assert "志愿者1" not in entries and "志愿者2" in entries and "本年度有扣分记录" in page.text
    act = f"{list_path}/publish"
    client.post(act, data=form_fields(page.text, act))
    page = client.get(list_path)
    assert 'data-testid="honor-status">已发布' in page.text and "核对一致" in page.text
    poster = client.get(re.search(r'href="([^"]+poster\.pdf)"', page.text).group(1))
    assert poster.status_code == 200 and poster.content.startswith(b"%PDF")


def test_bad_draft_period_is_shown_next_to_the_field(client, db, settings):
    town = make_town(db, villages=1)
    sign_in(client, settings, "town_admin")
    page = client.get("/admin/honors")
    client.post("/admin/honors", data={
        **form_fields(page.text, "/admin/honors"), "name": "月榜",
        "scope_id": f"village:{town['villages'][0]}", "metric": "points", "period": "month",
        "size": "10", "minimum": "1"})
    page = client.get("/admin/honors")
    action = re.search(r'action="(/admin/honors/\d+/drafts)"', page.text).group(1)
    r = client.post(action, data={**form_fields(page.text, action), "period": "2026"})
    list_id = action.split("/")[3]  # each list's draft form has its own ids
    assert r.status_code == 422 and f'id="e-period-{list_id}">周期格式不对' in r.text
    assert f'aria-describedby="e-period-{list_id}"' in r.text


def test_star_thresholds_are_saved_and_bad_ones_refused_next_to_the_field(client, db, settings):
    make_town(db, villages=1)
    sign_in(client, settings, "town_admin")
    page = client.get("/admin/stars")
    assert "100，300，600，1000，1500" in page.text
    action = "/admin/stars/volunteer"
    r = client.post(action, data={**form_fields(page.text, action), "volunteer": "50,100,200"})
    assert r.status_code == 422 and 'id="e-volunteer">请填五个递增的正整数' in r.text
    r = client.post(action, data={**form_fields(page.text, action),
                                  "volunteer": "50，100，200，400，800"}, follow_redirects=False)
    assert r.status_code == 303
    assert "50，100，200，400，800" in client.get("/admin/stars").text
