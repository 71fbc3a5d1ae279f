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


def _listen(db) -> list[str]:
    from sqlalchemy import event
    sent: list[str] = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: sent.append(statement))
    return sent


def test_a_first_visit_reads_the_household_only_in_its_version(client, db):
    """The plate's version statement hands the build the household, its village and town:
    a first visit names the plate in one statement, and the page shows what it read."""
    town = make_town(db, villages=1)
    first, second = (make_household(db, town["villages"][0]) for _ in range(2))
    give_points(db, "household", second, town["villages"][0], 4)
    path = f"/h/{_plate(db, second)}"
    sent = _listen(db)
    assert client.get(f"/h/{_plate(db, first)}").status_code == 200  # the process warms up
    sent.clear()
    page = client.get(path)
    assert page.status_code == 200 and _score(page) == "4"
    assert "陈*" in page.text and "塘边村0" in page.text
    assert len([q for q in sent if "plate_code" in q]) == 1  # the version's statement only


def test_a_first_visit_reads_no_notices_when_its_version_saw_none(client, db):
    """The version counts the household's awards on notice; at zero, a visitor's page lists
    none without asking (an award going on notice moves the version: tests/test_pages_workflow
    shows it on the plate)."""
    town = make_town(db, villages=1)
    first, second = (make_household(db, town["villages"][0]) for _ in range(2))
    sent = _listen(db)
    assert client.get(f"/h/{_plate(db, first)}").status_code == 200
    sent.clear()
    page = client.get(f"/h/{_plate(db, second)}")
    assert page.status_code == 200 and 'data-testid="pending-notices"' not in page.text
    assert [q for q in sent if "ORDER BY rule_award.notice_until" in q] == []  # desk._notices


def test_a_plate_reads_its_star_configuration_once_and_a_new_one_moves_it(client, db):
    """A star configuration row never changes: pages read it once by the id their version
    names; a new configuration is a new row, which moves the version and is read once."""
    from ledger.recognition import stars
    from ledger.timeutil import utcnow
    from tests.builders.recognition import award, make_world
    w = make_world(db, households=3, villages=1)
    with db.transaction() as s:
        stars.set_config(s, w.town, "household", {"thresholds": [10, 20, 30, 40, 50],
                                                  "period": "year", "veto": {}}, 1)
    last_year = utcnow().replace(year=utcnow().year - 1, month=6, day=15)
    award(db, w.villages[0], "household", w.households[1], 35, at=last_year)
    award(db, w.villages[0], "household", w.households[2], 35, at=last_year)
    sent = _listen(db)
    configs = lambda: [q for q in sent if "star_config" in q  # noqa: E731
                       and "plate_code" not in q]
    assert client.get(f"/h/{_plate(db, w.households[0])}").status_code == 200
    assert len(configs()) == 1  # this process reads the row once
    sent.clear()
    path = f"/h/{_plate(db, w.households[1])}"
    page = client.get(path)
    assert 'aria-label="3/5"' in page.text and configs() == []  # from memory
    with db.transaction() as s:
        stars.set_config(s, w.town, "household", {"thresholds": [40, 50, 60, 70, 80],
                                                  "period": "year", "veto": {}}, 1)
    sent.clear()
    again = client.get(path, headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 200 and 'aria-label="0/5"' in again.text
    assert len(configs()) == 1
    sent.clear()
    assert 'aria-label="0/5"' in client.get(f"/h/{_plate(db, w.households[2])}").text
    assert configs() == []


def test_a_configuration_by_id_is_the_towns_configuration(db):
    from sqlalchemy import select

    from ledger.recognition import stars
    from ledger.recognition.models import StarConfig
    town = make_town(db, villages=1)["town"]
    with db.sessions() as s:
        assert stars.config_by_id(s, None, "household") == stars.get_config(s, town,
                                                                             "household")
    with db.transaction() as s:
        stars.set_config(s, town, "household", {"thresholds": [1, 2, 3, 4, 5],
                                                "period": "year", "veto": {"C06": 2}}, 1)
    with db.sessions() as s:
        row = s.scalar(select(StarConfig.id).where(StarConfig.town_id == town))
        assert stars.config_by_id(s, row, "household") == stars.get_config(s, town,
                                                                            "household")
