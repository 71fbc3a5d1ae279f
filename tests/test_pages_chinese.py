"""Chinese pages say everything in Chinese: no English detail, no bare error code, no raw JSON
for a mistyped address, level names in Chinese; staff land on their own home after sign-in;
and a scan of the rendered text of every page finds no Latin word outside an allow-list of
codes and names."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from api.auth import Principal
from api.i18n import translator
from api.pages.common import error_text, home_of
from ledger.identity import service as identity
from ledger.rules import store
from tests.builders.pages import form_fields, sign_in
from tests.builders.redemption import give_points, make_household, make_person, make_town

# Latin words a Chinese page may show: the language switch, file formats, units and names.
ALLOWED_LATIN = {"English", "QR", "PDF", "PNG", "CSV", "YAML", "yaml", "xlsx", "sha", "SHA",
                 "Excel", "ID", "GPS", "App", "H5", "MB", "GBK", "UTF",  # encodings a file is saved in
                 "baogai"}  # the code of Baogai's rule catalog
LATIN_WORD = re.compile(r"(?<![A-Za-z0-9_.:/-])[A-Za-z]{2,}(?![A-Za-z0-9_])")


class _Text(HTMLParser):
    """The text a person reads: no scripts, styles or SVG paths; titles and labels count."""

    def __init__(self) -> None:
        super().__init__()
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "code"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "placeholder", "title", "alt") and value:
                self.out.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style", "code") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.out.append(data)


def latin_words(html: str) -> set[str]:
    p = _Text()
    p.feed(html)
    return {w for w in LATIN_WORD.findall(" ".join(p.out)) if w not in ALLOWED_LATIN}


def test_errors_are_chinese_without_codes_or_english():
    t = translator("zh")
    assert error_text(t, "not_permitted", "您无权以此方式记录该条目 (not_permitted)", 403) \
        == "您无权以此方式记录该条目"
    assert error_text(t, "no_such_code", "最小单位应为 (1, 2) 之一 (scale must be one of)") \
        == "最小单位应为 (1, 2) 之一"
    assert error_text(t, "honor_list_not_found", "honor list 999 does not exist", 404) \
        == "没有这份光荣榜"
    assert error_text(t, "whatever_missing", "thing 5 does not exist", 404) == "找不到您要的内容"


def test_unknown_page_addresses_answer_a_chinese_page_and_the_api_json(client):
    r = client.get("/no/such/page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "找不到" in r.text and latin_words(r.text) == set()
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.headers["content-type"].startswith(
        "application/problem+json")
    r = client.get("/admin/honors/lists/999999")
    assert "honor list" not in r.text


def test_staff_land_on_their_own_home():
    def home(*roles):
        return home_of(Principal(user_id=1, name="x", roles=tuple((r, 1) for r in roles)))
    assert (home("organizer"), home("inspector"), home("clerk"), home("village_admin"),
            home("town_admin"), home("volunteer")) == ("/org", "/inspect", "/clerk", "/admin",
                                                       "/admin", "/me")


def test_an_inspector_signing_in_lands_on_the_inspect_page(client, db):
    village = make_town(db, villages=1)["villages"][0]
    with db.transaction() as s:
        identity.add_user(s, login="jiancha", name="检查员", password="Baogai-2026!",
                          roles=(("inspector", village),))
    page = client.get("/signin")
    r = client.post("/signin", data={**form_fields(page.text, "/signin"), "login": "jiancha",
                                     "password": "Baogai-2026!"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/inspect"


def test_a_staff_account_on_my_points_is_sent_to_its_work(client, settings):
    sign_in(client, settings, "organizer", village_id=1)
    page = client.get("/me").text
    assert "这是工作账号" in page and 'href="/org"' in page


def test_graded_items_name_their_levels_in_chinese(client, db, settings):
    store.load_shipped(db)
    sign_in(client, settings, "town_admin")
    page = client.get("/admin/rules/baogai").text
    assert "国家级 50" in page or "国家级 100" in page
    assert "national" not in page and "provincial" not in page


def _every_page(client, db, settings) -> dict[str, str]:
    store.load_shipped(db)
    village = make_town(db, villages=1)["villages"][0]
    hh = make_household(db, village)
    give_points(db, "household", hh, village, 10)
    person = make_person(db, village)
    from ledger.registry.models import Household
    with db.sessions() as s:
        plate = s.get(Household, hh).plate_code
    sign_in(client, settings, "volunteer", "organizer", "inspector", "clerk", "village_admin",
            "town_admin", village_id=None, person_id=person)
    from api.pages import page_handlers
    paths = sorted({p for h in page_handlers() for p in h.paths
                    if "GET" in (h.http_methods or ()) and "{" not in p
                    and not p.endswith((".csv", ".yaml", ".json", ".png", ".pdf", ".xlsx"))})
    paths += [f"/h/{plate}", "/admin/rules/baogai", "/no/such/page"]
    # the door plate's code is random data (token_urlsafe: "pI-x…"), shown on the households
    # list; it is not a word a person reads
    return {p: client.get(p).text.replace(plate, "") for p in paths}


def test_no_latin_words_on_any_chinese_page(client, db, settings):
    found = {p: words for p, html in _every_page(client, db, settings).items()
             if (words := latin_words(html))}
    assert found == {}
