"""Periods on pages read as people say them (2026年, 2026年3月), not as keys (year:2026)."""

from __future__ import annotations

from api.pages.filters import period_text
from ledger.journal import service as journal
from ledger.recognition import honor
from ledger.timeutil import utcnow
from tests.builders.pages import sign_in
from tests.builders.recognition import award, make_world


def test_period_keys_read_in_chinese():
    assert [period_text(k) for k in ("year:2026", "month:2026-03", "quarter:2026-Q2",
                                     "half_year:2026-H1", "custom:2026-01..2026-03")] \
        == ["2026年", "2026年3月", "2026年第2季度", "2026年上半年", "2026-01 至 2026-03"]
    assert period_text("year:2026", "en") == "year:2026"


def test_honor_list_pages_show_the_period_in_chinese(client, db, settings):
    w = make_world(db, people=1)
    award(db, w.villages[0], "person", w.people[0], 10)
    year = str(utcnow().year)
    with db.transaction() as s:
        d = honor.create_definition(s, {"name": "年度积分光荣榜", "scope": "town",
                                        "scope_id": w.town, "period": "year",
                                        "metric": "points", "size": 3, "minimum": 1},
                                    actor_id=1)
        list_id = honor.request_draft(s, d.id, year, None, actor_id=1).id
    journal.checkpoint(db)
    with db.transaction() as s:
        honor.start_review(s, list_id, actor_id=1)
        honor.publish(s, list_id, actor_id=1)
    sign_in(client, settings, "town_admin", user_id=81)
    for path in ("/honors", f"/admin/honors/lists/{list_id}", "/admin/honors"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert f"year:{year}" not in page.text and f"{year}年" in page.text, path
