"""The village admin's registry pages: edit a household, move a member to another household by
its plate, add a member, print plates; users and roles; the printable static check-in code."""

from __future__ import annotations

import re

from ledger.registry.models import Person
from tests.builders.workflow import world
from tests.builders.pages import form_fields, sign_in
from tests.builders.redemption import make_household


def test_admin_edits_a_household_moves_a_member_and_adds_one(client, db, settings):
    w = world(db, village_name="坑东村")
    other = make_household(db, w.village)
    with db.sessions() as s:
        from ledger.registry.models import Household
        other_plate = s.get(Household, other).plate_code
    sign_in(client, settings, "village_admin", village_id=w.village, user_id=91)
    assert 'href="/admin/households"' in client.get("/admin").text
    listing = client.get("/admin/households").text
    assert f'href="/admin/households/{w.household}"' in listing
    assert f"/api/v1/villages/{w.village}/plates.pdf" in listing
    page = client.get(f"/admin/households/{w.household}").text
    assert '<svg class="qr"' in page
    action = f"/admin/households/{w.household}"
    r = client.post(action, data={**form_fields(page, action), "head_name": "",
                                  "address": "x"})
    assert r.status_code == 422 and 'id="e-head_name">必填' in r.text
    client.post(action, data={**form_fields(page, action), "head_name": "陈大伯",
                              "address": "坑东村演示路 8 号"})
    page = client.get(f"/admin/households/{w.household}").text
    assert "坑东村 · 陈大伯" in page
    action = f"/admin/people/{w.resident}"
    r = client.post(action, data={**form_fields(page, action), "back": str(w.household),
                                  "name": "志愿者0", "plate": "nosuchplate"})
    assert r.status_code == 422 and "没有这个门牌" in r.text
    r = client.post(action, data={**form_fields(page, action), "back": str(w.household),
                                  "name": "志愿者0", "plate": other_plate,
                                  "is_volunteer": "1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/admin/households/{other}?saved=1"
    with db.sessions() as s:
        assert s.get(Person, w.resident).household_id == other
    action = f"/admin/households/{w.household}/members"
    page = client.get(f"/admin/households/{w.household}").text
    client.post(action, data={**form_fields(page, action), "name": "陈小妹",
                              "is_volunteer": "1"})
    assert "陈小妹" in client.get(f"/admin/households/{w.household}").text
    client.cookies.clear()
    sign_in(client, settings, "village_admin", village_id=w.village + 1000, user_id=92)
    assert client.get(f"/admin/households/{w.household}").status_code == 403


def test_admin_creates_a_user_and_grants_and_revokes_roles(client, db, settings):
    w = world(db, village_name="坑东村")
    sign_in(client, settings, "village_admin", village_id=w.village, user_id=91)
    page = client.get("/admin/users").text
    assert "town_admin" not in page.split('name="role"')[-1].split("</select>")[0]
    r = client.post("/admin/users", data={
        **form_fields(page, "/admin/users"), "village_id": str(w.village), "login": "kd.insp",
        "name": "坑东评议员", "password": "Baogai-2026!x", "role": "inspector"},
        follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(f"/admin/users?village_id={w.village}").text
    assert "坑东评议员" in page and "评议员" in page
    uid = int(re.search(r'action="/admin/users/(\d+)/roles/grant"', page).group(1))
    action = f"/admin/users/{uid}/roles/grant"
    client.post(action, data={**form_fields(page, action), "role": "organizer",
                              "village_id": str(w.village)})
    page = client.get(f"/admin/users?village_id={w.village}").text
    assert "活动组织者" in page
    action = f"/admin/users/{uid}/roles/revoke"
    client.post(action, data={**form_fields(page, action), "role": "organizer",
                              "village_id": str(w.village)})
    users = client.get(f"/admin/users?village_id={w.village}").text.split(
        'data-testid="users"')[1].split("</section>")[0]
    assert "活动组织者" not in users.split("<select")[0]


def test_the_organizer_prints_a_static_check_in_code(client, db, settings):
    from tests.test_pages_signups_certs import _activity
    w = world(db, village_name="坑东村")
    act, _ = _activity(db, w.village)
    sign_in(client, settings, "organizer", village_id=w.village, user_id=51)
    assert f'href="/org/activities/{act}/print"' in client.get(f"/org/activities/{act}").text
    page = client.get(f"/org/activities/{act}/print").text
    assert 'data-testid="static-qr"' in page and '<svg class="qr"' in page
    assert "请用手机扫码签到" in page


def test_a_person_marked_deceased_keeps_their_record_and_leaves_draws_and_sign_in(
        client, db, settings):
    from ledger.identity import otp
    from ledger.ratelimit import RateLimiter
    from ledger.redemption import draws
    w = world(db, village_name="坑东村")
    with db.transaction() as s:
        s.get(Person, w.resident).phone = "17000009999"
    sign_in(client, settings, "village_admin", village_id=w.village, user_id=91)
    page = client.get(f"/admin/households/{w.household}").text
    action = f"/admin/people/{w.resident}"
    with db.sessions() as s:
        pop = {"holder_type": "person", "volunteers_only": False, "village_ids": [w.village],
               "min_service_hours": None, "min_points": None, "year": 2026}
        assert ("person", w.resident) in draws.population(s, w.town, pop)
    r = client.post(action, data={**form_fields(page, action), "back": str(w.household),
                                  "name": "志愿者0", "plate": "", "left": "deceased",
                                  "is_volunteer": "1"}, follow_redirects=False)
    assert r.status_code == 303
    with db.sessions() as s:
        p = s.get(Person, w.resident)
        assert p.left == "deceased" and p.left_at is not None and not p.is_volunteer
        assert ("person", w.resident) not in draws.population(s, w.town, pop)

    class Sent:
        def __init__(self) -> None:
            self.codes: list[str] = []

        def send(self, phone, code, ttl_s):
            self.codes.append(code)
    sent = Sent()
    otp.request_code(db, RateLimiter(None), sent, phone="17000009999",
                     secret=settings.secret_key)
    assert sent.codes == []  # no code for someone no longer a volunteer


def test_the_print_plates_link_of_the_household_pages_answers_a_pdf(client, db, settings):
    w = world(db, village_name="坑东村")
    sign_in(client, settings, "village_admin", village_id=w.village, user_id=91)
    for page in (f"/admin/households?village_id={w.village}", f"/admin/households/{w.household}"):
        href = re.search(r'href="([^"]+)">打印本村门牌', client.get(page).text).group(1)
        got = client.get(href)
        assert got.status_code == 200, (page, href)
        assert got.headers["content-type"].startswith("application/pdf")
        assert got.content.startswith(b"%PDF")
