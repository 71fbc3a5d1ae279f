"""Honor lists: tie-break rules, minimum, periods and scopes, the review and exclusion
lifecycle, and the freeze (the ledger moving on does not change a published list; a new draft
does)."""

from __future__ import annotations

import io

import pytest

from ledger.db import sha256_hex
from ledger.errors import Conflict, InvalidInput, NotFound
from ledger.journal import service as journal
from ledger.journal.posting import canonical_json
from ledger.recognition import honor
from ledger.recognition.models import HonorList
from ledger.timeutil import utcnow
from tests.builders.recognition import add_team, award, make_world, months_ago, serve

YEAR = str(utcnow().year)


def _define(db, w, **kw):
    fields = {"name": "年度积分光荣榜", "scope": "town", "scope_id": w.town, "period": "year",
              "metric": "points", "size": 3, "minimum": 1, **kw}
    with db.transaction() as s:
        return honor.create_definition(s, fields, actor_id=1).id


def _draft(db, def_id, period=YEAR, until=None):
    with db.transaction() as s:
        list_id = honor.request_draft(s, def_id, period, until, actor_id=1).id
    with db.sessions() as s:  # embedded default: computed right after the commit
        hl = s.get(HonorList, list_id)
        assert hl.status == "draft"
        return hl


def _entries(db, list_id):
    with db.sessions() as s:
        return honor.list_view(s, honor.get_list(s, list_id), admin=True)["entries"]


def _points(db, w, values):
    for i, v in enumerate(values):
        if v:
            award(db, w.village_of_person(i), "person", w.people[i], v)


@pytest.mark.parametrize(("tie_break", "expected"), [
    # values 10, 9, 9, 8, 9 for people 0..4; size 3
    ("shared", [(1, 0, 10), (2, 1, 9), (2, 2, 9), (2, 4, 9)]),
    ("registration", [(1, 0, 10), (2, 1, 9), (3, 2, 9)]),
])
def test_tie_break_rules(db, tie_break, expected):
    w = make_world(db, people=5)
    _points(db, w, [10, 9, 9, 8, 9])
    hl = _draft(db, _define(db, w, tie_break=tie_break))
    got = [(e["rank"], w.people.index(e["holder_id"]), e["value"]) for e in _entries(db, hl.id)]
    assert got == expected


def test_shared_rank_never_cuts_a_tie_and_leaves_off_one_too_large():
    cands = [{"holder_id": i, "value": 5 if i else 9, "name": "", "village": ""}
             for i in range(honor.MAX_EXCLUSIONS + honor.TIE_SPILL + 4)]
    entries, note = honor.rank_entries(cands, 2, "shared", set())
    assert [e["holder_id"] for e in entries] == [0] and "left off" in note
    entries, note = honor.rank_entries(cands[:5], 2, "shared", set())
    assert [e["rank"] for e in entries] == [1, 2, 2, 2, 2] and note is None


def test_minimum_and_scope(db):
    w = make_world(db, people=6)
    _points(db, w, [5, 4, 3, 2, 1, 0])
    hl = _draft(db, _define(db, w, size=10, minimum=3))
    assert [e["value"] for e in _entries(db, hl.id)] == [5, 4, 3]
    village = _draft(db, _define(db, w, scope="village", scope_id=w.villages[1], size=10))
    assert {e["holder_id"] for e in _entries(db, village.id)} == {w.people[1], w.people[3]}
    team = add_team(db, w, members=[w.people[2], w.people[4]])
    t = _draft(db, _define(db, w, scope="team", scope_id=team, size=10))
    assert [e["holder_id"] for e in _entries(db, t.id)] == [w.people[2], w.people[4]]


def test_month_quarter_and_custom_periods_sum_their_months(db):
    w = make_world(db, people=2)
    a, b = months_ago(1), months_ago(2)
    award(db, w.villages[0], "person", w.people[0], 4, at=a)
    award(db, w.villages[0], "person", w.people[0], 6, at=b)
    award(db, w.villages[1], "person", w.people[1], 7, at=a)
    month = _draft(db, _define(db, w, period="month"), f"{a.year}-{a.month:02d}")
    assert [e["value"] for e in _entries(db, month.id)] == [7, 4]
    custom = _draft(db, _define(db, w, period="custom"), f"{b.year}-{b.month:02d}",
                    f"{a.year}-{a.month:02d}")
    assert [(e["holder_id"], e["value"]) for e in _entries(db, custom.id)] == \
        [(w.people[0], 10), (w.people[1], 7)]
    q = (a.month - 1) // 3 + 1
    quarter = _draft(db, _define(db, w, period="quarter"), f"{a.year}-Q{q}")
    assert quarter.period_start.month == 3 * q - 2
    with db.transaction() as s, pytest.raises(InvalidInput) as e:
        honor.request_draft(s, month.definition_id, "2026-13", None, actor_id=1)
    assert e.value.code == "honor_period_invalid"


def test_hours_metric_ranks_certified_minutes(db):
    w = make_world(db, people=3)
    serve(db, w, w.people[0], 90)
    serve(db, w, w.people[2], 150)
    hl = _draft(db, _define(db, w, metric="hours", minimum=2))
    assert [(e["holder_id"], e["value"]) for e in _entries(db, hl.id)] == [(w.people[2], 150)]


def test_review_exclude_publish_and_freeze(db):
    w = make_world(db, people=5)
    _points(db, w, [10, 8, 6, 4, 2])
    d = _define(db, w, size=3)
    hl = _draft(db, d)
    with db.transaction() as s:
        honor.start_review(s, hl.id, actor_id=2)
    with db.transaction() as s, pytest.raises(InvalidInput) as e:
        honor.exclude(s, hl.id, w.people[1], "  ", actor_id=2)
    assert e.value.code == "exclusion_reason_required"
    with db.transaction() as s, pytest.raises(NotFound):
        honor.exclude(s, hl.id, 99999, "不在候选中", actor_id=2)
    with db.transaction() as s:
        honor.exclude(s, hl.id, w.people[1], "本年度有违规记录，经村委会讨论不予上榜", actor_id=2)
    assert [e["holder_id"] for e in _entries(db, hl.id)] == w.people[0:1] + w.people[2:4]
    journal.checkpoint(db)
    with db.transaction() as s:
        pub = honor.publish(s, hl.id, actor_id=2)
        content, digest = pub.content, pub.content_sha256
    assert digest == sha256_hex(canonical_json(content))
    assert [e["holder_id"] for e in content["entries"]] == w.people[0:1] + w.people[2:4]
    from ledger.journal.models import Checkpoint
    with db.sessions() as s:
        latest = s.query(Checkpoint).order_by(Checkpoint.id.desc()).first()
    assert content["checkpoint"]["root"] == latest.root  # printed on the list
    # The ledger moves on: person 4 overtakes everyone. The published list does not move.
    award(db, w.villages[0], "person", w.people[4], 50)
    with db.sessions() as s:
        again = honor.get_list(s, hl.id)
        assert (again.content, again.content_sha256) == (content, digest)
        assert honor.verify(again)
    with db.transaction() as s, pytest.raises(Conflict):
        honor.exclude(s, hl.id, w.people[0], "发布后不可修改", actor_id=2)
    new = _draft(db, d)  # … but a new draft does
    assert new.version == 2
    assert _entries(db, new.id)[0]["holder_id"] == w.people[4]


def test_a_tampered_published_list_fails_verification(db):
    w = make_world(db, people=2)
    _points(db, w, [3, 2])
    hl = _draft(db, _define(db, w))
    with db.transaction() as s:
        honor.start_review(s, hl.id, actor_id=1)
        honor.publish(s, hl.id, actor_id=1)
    with db.transaction() as s:
        row = honor.get_list(s, hl.id)
        row.content = {**row.content, "entries": row.content["entries"][::-1]}
    with db.sessions() as s:
        assert honor.verify(honor.get_list(s, hl.id)) is False


def test_posters_render_png_and_pdf_with_hash_and_root(db):
    from PIL import Image

    from ledger.recognition import poster
    w = make_world(db, people=3)
    _points(db, w, [9, 7, 5])
    hl = _draft(db, _define(db, w, mask_names=True))
    journal.checkpoint(db)
    with db.transaction() as s:
        honor.start_review(s, hl.id, actor_id=1)
        pub = honor.publish(s, hl.id, actor_id=1)
        content, digest = pub.content, pub.content_sha256
    assert content["entries"][0]["name"] == "林**0"  # 林志甲0, masked
    png = poster.poster_bytes(content, digest, "https://jifen.example", "png")
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size[0] == poster.PNG_WIDTH
    pdf = poster.poster_bytes(content, digest, "https://jifen.example", "pdf")
    import pypdfium2 as pdfium
    doc = pdfium.PdfDocument(pdf)
    text = doc[0].get_textpage().get_text_range()
    assert "光荣榜" in text and digest in text.replace("\r", "").replace("\n", "")
    assert content["checkpoint"]["root"] in text.replace("\r", "").replace("\n", "")
