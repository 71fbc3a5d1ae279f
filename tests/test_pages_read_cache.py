"""The public door plate and ranking come from the read cache (ledger/readcache.py) under a
version of what they show (ledger/recognition/freshness.py): a visitor never sees a score from
before a committed award, an unchanged page answers 304 to its ETag, and a signed-in viewer's
page is never the visitor's copy. Runs on SQLite (memory store) and on PostgreSQL with Redis
when JIFEN_REDIS_URL is set (Redis store)."""

from __future__ import annotations

import re

from sqlalchemy import text as text_

from ledger import readcache
from ledger.recognition import freshness, rollups
from ledger.registry.models import Household
from ledger.rules import store
from tests.builders.pages import sign_in
from tests.builders.redemption import give_points, make_household, make_town


def _plate(db, household_id):
    with db.sessions() as s:
        return s.get(Household, household_id).plate_code


def _score(page) -> str:
    return re.search(r'data-testid="house-score">([^<]*)<', page.text).group(1)


def test_visitor_sees_the_new_score_right_after_an_award_commits(client, db, settings):
    kind = readcache.RedisStore if settings.redis_url else readcache.MemoryStore
    town = make_town(db, villages=1)
    hh = make_household(db, town["villages"][0])
    give_points(db, "household", hh, town["villages"][0], 25)
    path = f"/h/{_plate(db, hh)}"
    first = client.get(path)
    assert first.status_code == 200 and _score(first) == "25"
    assert _score(client.get(path)) == "25"  # kept: the same page again
    assert isinstance(readcache._store(db), kind)  # Redis with PostgreSQL and Redis
    give_points(db, "household", hh, town["villages"][0], 7)
    after = client.get(path)
    assert _score(after) == "32"
    assert after.headers["etag"] != first.headers["etag"]


def test_an_unchanged_plate_answers_304_to_its_etag_and_200_once_it_changes(client, db):
    town = make_town(db, villages=1)
    hh = make_household(db, town["villages"][0])
    give_points(db, "household", hh, town["villages"][0], 5)
    path = f"/h/{_plate(db, hh)}"
    page = client.get(path)
    etag = page.headers["etag"]
    assert page.headers["cache-control"] == "no-cache" and etag.startswith('W/"')
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    give_points(db, "household", hh, town["villages"][0], -2)
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and _score(changed) == "3"


def test_the_ranking_moves_after_an_award_commits(client, db):
    town = make_town(db, villages=2)
    a, b = town["villages"]
    ha, hb = make_household(db, a), make_household(db, b)
    give_points(db, "household", ha, a, 10)
    give_points(db, "household", hb, b, 4)
    table = client.get("/rank").text.split('data-testid="rank-table"')[1]
    assert "<td>10</td>" in table and "<td>4</td>" in table
    give_points(db, "household", hb, b, 20)
    page = client.get("/rank")
    table = page.text.split('data-testid="rank-table"')[1]
    assert "<td>24</td>" in table and "<td>4</td>" not in table
    assert client.get("/rank", headers={"If-None-Match": page.headers["etag"]}).status_code == 304


def test_a_signed_in_viewer_never_gets_the_visitors_copy(client, db, settings):
    store.load_shipped(db)
    town = make_town(db, villages=1)
    v = town["villages"][0]
    hh = make_household(db, v)
    path = f"/h/{_plate(db, hh)}"
    public = client.get(path)
    assert "etag" in public.headers and 'action="/h/' not in public.text
    sign_in(client, settings, "inspector", village_id=v, user_id=77)
    mine = client.get(path, headers={"If-None-Match": public.headers["etag"]})
    assert mine.status_code == 200 and "etag" not in mine.headers
    assert f'action="/h/{_plate(db, hh)}/inspect"' in mine.text  # the inspector's form


def test_the_version_moves_with_postings_and_with_the_rollups(db):
    town = make_town(db, villages=1)
    hh = make_household(db, town["villages"][0])
    plate = _plate(db, hh)
    before = freshness.plate_version(db, plate)
    give_points(db, "household", hh, town["villages"][0], 3)
    posted = freshness.plate_version(db, plate)  # embedded: caught up on the way
    assert posted.version != before.version
    rollups.catch_up(db, mode="full")
    assert freshness.plate_version(db, plate).version == posted.version  # nothing new
    assert freshness.plate_version(db, "nosuchplate") is None


def test_a_kept_value_is_served_only_at_its_own_version(db):
    readcache.put(db, "k", "v1", b"one")
    assert readcache.get(db, "k", "v1") == b"one"
    assert readcache.get(db, "k", "v2") is None
    readcache.put(db, "big", "v1", b"x" * (readcache.MAX_VALUE_BYTES + 1))
    assert readcache.get(db, "big", "v1") is None  # too large to keep: built every time
    readcache.clear(db)
    assert readcache.get(db, "k", "v1") is None


def test_a_plate_is_built_with_the_catalogs_its_version_was_read_at(client, db):
    """A first visit builds the plate with the catalogs' version rows this process holds at
    the stamp the page's version read (rules/store.prime), without reading them again; a
    version published since moves the stamp, and the next plate reads them afresh."""
    from sqlalchemy import event

    from ledger.rules import catalog_io
    store.load_shipped(db)
    town = make_town(db, villages=1)
    first, second, third = (make_household(db, town["villages"][0]) for _ in range(3))
    sent: list[str] = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: sent.append(statement))
    reads_rows = lambda: [q for q in sent if "JOIN rule_catalog_version" in q]  # noqa: E731
    assert client.get(f"/h/{_plate(db, first)}").status_code == 200  # this process learns them
    sent.clear()
    assert client.get(f"/h/{_plate(db, second)}").status_code == 200  # built, not kept
    assert reads_rows() == []
    text = catalog_io.shipped_path(catalog_io.DEFAULT_CATALOG).read_text(encoding="utf-8")
    store.import_catalog(db, text.replace("name: 宝盖镇乡风文明积分（演示）",
                                          "name: 宝盖镇乡风文明积分（演示二版）"), actor_id=None)
    sent.clear()
    assert client.get(f"/h/{_plate(db, third)}").status_code == 200
    assert len(reads_rows()) == 1  # the new stamp: read once, in the page's transaction
    with db.sessions() as s:
        newest = s.scalar(text_("SELECT max(id) FROM rule_catalog_version"))
        assert store.known_versions(s, newest) is not None
