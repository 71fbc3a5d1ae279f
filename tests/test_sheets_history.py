"""Historical points and hours: booked through the ledger's flows with their original dates and
source, each row once (the same file or the same row again changes nothing), every rule kept
(village scope, no self-award, the village budget), a file with any error refused whole, and
an export that imports into another database as the same entries."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ledger.errors import Forbidden, InvalidInput
from ledger.identity.service import SYSTEM
from ledger.journal.audit import run_audit
from ledger.journal.posting import canonical_json
from ledger.journal.models import JournalEntry, Posting
from ledger.recognition import rollups
from ledger.recognition.models import HolderRollup
from ledger.sheets import history
from ledger.sheets.schemas import HistoryImported
from tests.builders.registry import fake_id, make_household, make_person, make_world

HEADER = ("村（社区）,对象,姓名/户主,身份证号,手机号,门牌码,日期,积分,服务时长（小时）,"
          "事由,来源,原始编号\n")


class Admin:
    def __init__(self, village_id: int, person_id: int | None = None) -> None:
        self.user_id, self.person_id = 41, person_id
        self.roles = (("village_admin", village_id),)


def _setup(db):
    w = make_world(db)
    idn = fake_id()
    pid = make_person(db, w.own, name="陈美玲", id_number=idn, is_volunteer=True)
    home = make_household(db, w.own, members=1)
    return w, idn, pid, home


def _file(w, idn, home) -> bytes:
    return (HEADER
            + f"{w.own_name},个人,,{idn},,,2023-05-05,5,2.5,环境整治,塘边村2023年台账,15\n"
            + f"{w.own_name},个人,陈美玲,,,,2023/6/1,-2,,乱扔垃圾,塘边村2023年台账,16\n"
            + f"{w.own_name},家庭,,,,{home['plate_code']},2022年12月31日,10,,"
              f"文明家庭,塘边村2022年台账,\n").encode("utf-8")


def _entries(db) -> list[tuple]:
    with db.sessions() as s:
        return s.execute(select(JournalEntry.kind, JournalEntry.unit, JournalEntry.created_at,
                                JournalEntry.source)
                         .where(JournalEntry.source == history.SOURCE)
                         .order_by(JournalEntry.id)).all()


def test_rows_are_booked_with_their_original_dates_and_source(db):
    w, idn, pid, home = _setup(db)
    checked = history.import_history(db, SYSTEM, _file(w, idn, home), dry_run=True)
    assert checked.rows == 3 and checked.preview[0][6] == "2023-05-05"
    assert _entries(db) == []
    r = history.import_history(db, SYSTEM, _file(w, idn, home))
    assert r == HistoryImported(rows_booked=3, points_entries=3, minutes_entries=1, skipped=0)
    got = [(k, u, at.astimezone(history.LOCAL_TZ).date()) for k, u, at, _ in _entries(db)]
    assert got == [("award", "points", date(2023, 5, 5)), ("service", "minutes", date(2023, 5, 5)),
                   ("deduct", "points", date(2023, 6, 1)),
                   ("award", "points", date(2022, 12, 31))]
    with db.sessions() as s:
        e = s.scalars(select(JournalEntry).where(JournalEntry.source == history.SOURCE)
                      .order_by(JournalEntry.id)).first()
        assert e.details["import"] == {"source": "塘边村2023年台账", "date": "2023-05-05",
                                       "reason": "环境整治", "ref": "15", "line": 2}
        assert e.memo == "历史记录导入：环境整治"
        assert run_audit(s).ok  # balances, hash chains and trial balance hold
    rollups.catch_up(db, mode="new")
    with db.sessions() as s:  # the points count in their own month and year
        nets = dict(s.execute(select(HolderRollup.period_key, HolderRollup.net).where(
            HolderRollup.holder_type == "person", HolderRollup.holder_id == pid,
            HolderRollup.unit == "points")).all())
    assert nets["month:2023-05"] == 5 and nets["month:2023-06"] == -2 and nets["year:2023"] == 3


def test_the_same_file_or_the_same_row_again_changes_nothing(db):
    w, idn, pid, home = _setup(db)
    data = _file(w, idn, home)
    first = history.import_history(db, SYSTEM, data)
    assert history.import_history(db, SYSTEM, data) == first
    assert len(_entries(db)) == 4
    # A later file repeating one row and adding one: only the new row is booked.
    later = (HEADER + data.decode().splitlines()[1] + "\n"
             + f"{w.own_name},个人,陈美玲,,,,2023-07-01,3,,护河巡查,塘边村2023年台账,17\n").encode()
    assert history.import_history(db, SYSTEM, later, dry_run=True).skipped == 1
    r = history.import_history(db, SYSTEM, later)
    assert r.rows_booked == 1 and r.skipped == 1
    assert len(_entries(db)) == 5


def test_file_with_errors_books_nothing_and_names_each_row(db):
    w, idn, pid, home = _setup(db)
    data = (HEADER
            + f"{w.own_name},个人,陈美玲,,,,2023-05-05,5,,环境整治,台账,1\n"  # 2 good
            + f"{w.own_name},个人,无此人,,,,2023-05-05,5,,环境整治,台账,2\n"  # 3 unknown
            + f"{w.own_name},个人,陈美玲,,,,2023-13-05,5,,环境整治,台账,3\n"  # 4 bad date
            + f"{w.own_name},个人,陈美玲,,,,2099-01-01,5,,环境整治,台账,4\n"  # 5 future
            + f"{w.own_name},个人,陈美玲,,,,2023-05-05,5,,,台账,5\n"  # 6 no reason
            + f"{w.own_name},个人,陈美玲,,,,2023-05-05,5,,环境整治,台账,1\n"  # 7 duplicate of 2
            + f"{w.own_name},家庭,,,,{home['plate_code']},2023-05-05,,3,环境整治,台账,7\n"  # 8
            + f"{w.own_name},个人,陈美玲,,,,2023-05-05,0.3,,环境整治,台账,8\n"  # 9
            ).encode()
    with pytest.raises(InvalidInput) as e:
        history.import_history(db, SYSTEM, data)
    got = [(x["line"], x["code"], x["column_label"]) for x in e.value.extra["errors"]]
    assert got == [(3, "person_unknown", "姓名/户主"), (4, "date_invalid", "日期"),
                   (5, "date_out_of_range", "日期"), (6, "reason_required", "事由"),
                   (7, "row_duplicate", "原始编号"), (8, "hours_household", "服务时长（小时）"),
                   (9, "points_invalid", "积分")]
    assert _entries(db) == []


def test_village_scope_self_award_and_budget_hold(db):
    w, idn, pid, home = _setup(db)
    row = f"{w.other_name},个人,林某乙,,,,2023-05-05,5,,环境整治,台账,1\n"
    with pytest.raises(Forbidden) as e:
        history.import_history(db, Admin(w.own), (HEADER + row).encode())
    assert e.value.code == "forbidden_village"
    mine = (HEADER + f"{w.own_name},个人,陈美玲,,,,2023-05-05,5,,环境整治,台账,1\n").encode()
    with pytest.raises(InvalidInput) as e:
        history.import_history(db, Admin(w.own, person_id=pid), mine)
    assert [x["code"] for x in e.value.extra["errors"]] == ["self_award"]
    with db.sessions() as s:
        left = history.book.village_budget_available(s, w.own)
    rows = "".join(f"{w.own_name},个人,陈美玲,,,,2023-05-05,{history.MAX_POINTS_PER_ROW},,"
                   f"环境整治,台账,{i}\n"
                   for i in range(left // history.MAX_POINTS_PER_ROW + 1))
    with pytest.raises(InvalidInput) as e:
        history.import_history(db, SYSTEM, (HEADER + rows).encode())
    assert [x["code"] for x in e.value.extra["errors"]] == ["budget_exhausted"]
    assert _entries(db) == []


def test_export_imports_into_another_database_as_the_same_entries(db, tmp_path):
    from ledger.db import Database
    from ledger.journal import service as journal
    from ledger.registry import csvio
    from tests.conftest import build_schema
    w, idn, pid, home = _setup(db)
    history.import_history(db, SYSTEM, _file(w, idn, home))
    exported = history.export_xlsx(db, SYSTEM)
    other = Database(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    build_schema(other)
    from ledger.registry import service as registry
    with other.transaction() as s:
        town = registry.add_town(s, "宝盖镇")
        v = registry.add_village(s, town.id, w.own_name)
        registry.add_village(s, town.id, w.other_name)
    journal.allocate(other, shards=4, town_id=town.id, village_id=v.id, amount=1_000_000,
                     actor_id=None, key=None)
    csvio.import_csv(other, SYSTEM, csvio.export_xlsx(db, SYSTEM))
    r = history.import_history(other, SYSTEM, exported)
    assert r.rows_booked == 3
    with db.sessions() as s, other.sessions() as o:
        assert list(history.export_rows(o, SYSTEM)) == list(history.export_rows(s, SYSTEM))
        q = (select(JournalEntry.kind, JournalEntry.unit, JournalEntry.created_at,
                    JournalEntry.memo, func.sum(func.abs(Posting.amount)))
             .join(Posting, Posting.entry_id == JournalEntry.id)
             .where(JournalEntry.source == history.SOURCE)
             .group_by(JournalEntry.id).order_by(JournalEntry.id))
        assert o.execute(q).all() == s.execute(q).all()
    other.dispose()


def test_api_imports_history_and_serves_template_and_lists(client, db, auth):
    w, idn, pid, home = _setup(db)
    def headers() -> dict:  # a fresh Idempotency-Key each time
        return auth("village_admin", village_id=w.own)

    r = client.post("/api/v1/imports/history?dry_run=true", content=_file(w, idn, home),
                    headers={**headers(), "Content-Type": "text/csv"})
    assert r.status_code == 201 and r.json()["rows"] == 3
    r = client.post("/api/v1/imports/history", content=_file(w, idn, home),
                    headers={**headers(), "Content-Type": "text/csv"})
    assert r.status_code == 201 and r.json()["rows_booked"] == 3
    bad = (HEADER + f"{w.own_name},个人,无此人,,,,2023-05-05,5,,环境整治,台账,1\n").encode()
    r = client.post("/api/v1/imports/history", content=bad,
                    headers={**headers(), "Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["errors"][0]["column_label"] == "姓名/户主"
    r = client.get("/api/v1/imports/history/template.xlsx", headers=headers())
    assert r.status_code == 200 and r.content.startswith(b"PK")
    r = client.get(f"/api/v1/villages/{w.own}/lists/entries/sheet.xlsx?year=2023",
                   headers=headers())
    assert r.status_code == 200 and r.content.startswith(b"PK")
    r = client.get(f"/api/v1/villages/{w.other}/lists/entries/sheet.xlsx?year=2023",
                   headers=headers())
    assert r.status_code == 403


def test_an_entry_posted_with_a_local_time_verifies_in_the_audit(db):
    """A flow given a time in local time (as an import computes one) hashes it in UTC, as the
    database stores it: the audit verifies the entry (before, it reported a digest mismatch)."""
    from datetime import datetime

    from tests.builders.recognition import award, make_world as recognition_world
    w = recognition_world(db, people=1, households=0, villages=1)
    award(db, w.villages[0], "person", w.people[0], 5,
          at=datetime(2023, 5, 5, 12, 0, tzinfo=history.LOCAL_TZ))
    with db.sessions() as s:
        assert run_audit(s).ok


def test_row_key_and_details_of_a_known_row_are_the_ones_booked_before():
    """Rows booked by earlier versions are recognised by their key, and entries' details are
    what the digest covered: both pinned as the first version wrote them."""
    assert history.row_key(7, "person", 123, date(2023, 5, 5), 500, 150, "环境整治",
                           "塘边村2023年台账", "15") == "h:91c31ba2802c5e4ae55a74056b767cfe0258862f"
    assert history.row_key(12, "household", 4, date(2022, 12, 31), -200, 0, 'a"b\\c', "x",
                           "") == "h:651c11fbd47245e183c0f15b609b1e718e39dd3c"
    assert history.import_details("塘边村2023年台账", "2023-05-05", "环境整治", "15", 2) == (
        '{"import":{"date":"2023-05-05","line":2,"reason":"环境整治","ref":"15",'
        '"source":"塘边村2023年台账"}}')


def test_booked_entries_carry_the_row_key_and_details_as_before(db):
    w, idn, pid, home = _setup(db)
    history.import_history(db, SYSTEM, _file(w, idn, home))
    with db.sessions() as s:
        scale = history.points_scale(s)
        got = s.execute(select(JournalEntry.source_ref, JournalEntry.details)
                        .where(JournalEntry.source == history.SOURCE)
                        .order_by(JournalEntry.id)).all()
    first = history.row_key(w.own, "person", pid, date(2023, 5, 5), 5 * scale, 150, "环境整治",
                            "塘边村2023年台账", "15")
    assert [ref for ref, _ in got] == [
        first, first,
        history.row_key(w.own, "person", pid, date(2023, 6, 1), -2 * scale, 0, "乱扔垃圾",
                        "塘边村2023年台账", "16"),
        history.row_key(w.own, "household", home["id"], date(2022, 12, 31), 10 * scale, 0,
                        "文明家庭", "塘边村2022年台账", "")]
    assert got[3][1] == {"import": {"date": "2022-12-31", "line": 4, "reason": "文明家庭",
                                    "ref": "", "source": "塘边村2022年台账"}}


def test_a_repeated_bad_cell_is_reported_on_every_row(db):
    """A file's dates and amounts are checked once per distinct text: the second row with the
    same bad text still gets its error, and hours fit for a person stay refused for a household."""
    w, idn, pid, home = _setup(db)
    row = f"{w.own_name},个人,陈美玲,,,,{{date}},{{points}},{{hours}},环境整治,台账,{{ref}}\n"
    home_row = f"{w.own_name},家庭,,,,{home['plate_code']},2023-05-05,,2,环境整治,台账,9\n"
    data = (HEADER + row.format(date="2023-05-05", points="5", hours="2", ref=1)
            + row.format(date="2023-02-30", points="5", hours="", ref=2)
            + row.format(date="2023-02-30", points="5", hours="", ref=3)
            + row.format(date="2023-05-05", points="0.001", hours="", ref=4)
            + row.format(date="2023-05-05", points="0.001", hours="", ref=5)
            + row.format(date="2023-05-05", points="5", hours="2", ref=6)
            + home_row + home_row.replace(",9\n", ",10\n")).encode()
    with pytest.raises(InvalidInput) as e:
        history.import_history(db, SYSTEM, data)
    got = [(x["line"], x["code"]) for x in e.value.extra["errors"]]
    assert got == [(3, "date_invalid"), (4, "date_invalid"), (5, "points_invalid"),
                   (6, "points_invalid"), (8, "hours_household"), (9, "hours_household")]


def test_the_collector_is_paused_while_a_file_imports_and_resumed_after(db, monkeypatch):
    import gc

    from ledger.journal.bulk import paused_gc
    w, idn, pid, home = _setup(db)
    during = []
    real = history.post_many
    monkeypatch.setattr(history, "post_many",
                        lambda s, entries: during.append(gc.isenabled()) or real(s, entries))
    history.import_history(db, SYSTEM, _file(w, idn, home))
    assert during == [False] and gc.isenabled()
    bad = (HEADER + f"{w.own_name},个人,无此人,,,,2023-05-05,5,,环境整治,台账,1\n").encode()
    with pytest.raises(InvalidInput):
        history.import_history(db, SYSTEM, bad)
    assert gc.isenabled()
    with paused_gc():
        with paused_gc():  # an import's posting inside the import: the outer one resumes it
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


_cell = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=300, deadline=None)
@given(source=_cell, on=_cell, reason=_cell, ref=_cell, line=st.integers(0, 10**6))
def test_import_details_are_written_as_the_digest_reads_them(source, on, reason, ref, line):
    """The details the import writes directly are the canonical JSON the entry's digest (and
    the audit's check of it) covers."""
    assert history.import_details(source, on, reason, ref, line) == canonical_json(
        {"import": {"source": source, "date": on, "reason": reason, "ref": ref, "line": line}})


def test_the_booked_rows_are_looked_up_by_index_whatever_the_statistics(pg_db, monkeypatch):
    """A new town's journal has statistics taken while it was nearly empty; the lookup of the
    rows booked before is still planned as index probes (its generic plan would otherwise scan
    every entry and compare each with every key)."""
    from sqlalchemy import text

    from ledger.journal.rawdb import Raw
    from ledger.sheets import history
    with pg_db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE"))
    monkeypatch.setattr(history, "_BOOKED_PG", "EXPLAIN " + history._BOOKED_PG)
    with pg_db.sessions() as s, s.begin():
        s.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        plan = "\n".join(history.booked_refs(Raw(s), [f"{i:064x}" for i in range(50)]))
    assert "journal_entry" in plan and "Index" in plan, plan
    assert "Seq Scan" not in plan, plan
