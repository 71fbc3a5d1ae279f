"""The page shell: every message in both languages, the language switch, CSRF on form posts,
HTML error pages, and the scanner's same-site targets."""

from __future__ import annotations

import re

from api.i18n import MESSAGES, translator
from api.pages.public import scan_target


def _csrf(html: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', html).group(1)


def test_every_message_has_chinese_and_english():
    for key, pair in MESSAGES.items():
        assert len(pair) == 2 and all(p.strip() for p in pair), key
    assert translator("zh")("common.pts", n=5) == "5 分"
    assert translator("en")("common.pts", n=5) == "5 pts"
    assert translator("zh")("no.such.key", default="x") == "x"


def test_pages_are_chinese_by_default_and_english_on_request(client):
    r = client.get("/")
    assert r.status_code == 200 and '<html lang="zh-CN">' in r.text and "欢迎使用宝盖积分" in r.text
    r = client.get("/?lang=en")
    assert "Welcome to Baogai Points" in r.text and r.cookies.get("lang") == "en"
    assert "Welcome to Baogai Points" in client.get("/").text  # remembered


def test_form_post_without_csrf_token_is_refused_with_a_chinese_page(client):
    r = client.post("/signout", data={}, follow_redirects=False)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html") and "页面已过期" in r.text


def test_form_post_with_csrf_token_is_accepted(client, auth):
    headers = {"Authorization": auth("volunteer")["Authorization"]}
    token = _csrf(client.get("/", headers=headers).text)
    r = client.post("/signout", data={"_csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert 'jifen_token=""' in r.headers.get("set-cookie", "")


def test_json_api_is_exempt_from_csrf(client, auth):
    r = client.post("/api/v1/villages/1/allocations", json={"amount": 5},
                    headers=auth("town_admin"))
    assert r.status_code in (200, 201)


def test_scan_targets_stay_on_this_site():
    assert scan_target("https://other.example/c/tok123") == "/c/tok123"
    assert scan_target("http://x/h/PLATE1", accept="h") == "/h/PLATE1"
    assert scan_target("http://x/h/PLATE1", accept="v") is None
    assert scan_target("V-123", accept="v") == "/v/V-123"
    assert scan_target("//evil.example/") is None
    assert scan_target("javascript:alert(1)") is None
    assert scan_target("http://x/admin") is None


def test_static_files_and_vendored_decoder_are_served(client):
    assert client.get("/static/jifen.css").status_code == 200
    r = client.get("/static/vendor/jsQR.js")
    assert r.status_code == 200 and "jsQR" in r.text


def test_ledger_steps_show_as_points_with_the_towns_scale():
    from api.pages.filters import mask_name, pts
    assert pts(7, 2) == "3.5" and pts(6, 2) == "3" and pts(-5, 2) == "-2.5"
    assert pts(6, 2, True) == "+3" and pts(0, 2, True) == "0" and pts(12, 1) == "12"
    assert mask_name("陈建国") == "陈**" and mask_name("李四") == "李*" and mask_name("") == "**"


def test_pages_show_no_raw_message_keys_in_either_language(client, db, settings):
    from ledger.rules import store
    from tests.builders.pages import sign_in
    from tests.builders.redemption import make_household, make_town
    store.load_shipped(db)
    town = make_town(db, villages=1)
    hh = make_household(db, town["villages"][0])
    from ledger.registry.models import Household
    with db.sessions() as s:
        plate = s.get(Household, hh).plate_code
    sign_in(client, settings, "town_admin", "volunteer", person_id=None)
    key = re.compile(r">\s*(?:[a-z_]+\.){1,3}[a-z_]+\s*<")
    for lang in ("zh", "en"):
        for path in ("/", "/scan", "/rewards", "/rank", f"/h/{plate}", "/me", "/org",
                     "/org/new", "/admin", "/admin/rules", "/admin/rules/baogai",
                     "/admin/rewards", "/admin/budgets", "/admin/honors", "/admin/stars",
                     "/admin/registry", "/admin/audit", "/signin", "/clerk", "/inspect"):
            r = client.get(f"{path}{'&' if '?' in path else '?'}lang={lang}")
            assert r.status_code == 200, (lang, path, r.status_code)
            assert not key.search(r.text), (lang, path, key.search(r.text).group(0))
