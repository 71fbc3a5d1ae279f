"""CSV import and export: a file with bad rows is refused whole with one clear error per row
(line number and reason) and changes nothing; a good file is applied whole; an export
imports into an empty database with the same households, people and plate codes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from ledger.registry import csvio
from ledger.registry.schemas import RegistryImported
from ledger.sheets import tabular
from ledger.registry.models import Household, Person
from ledger.errors import Forbidden, InvalidInput
from ledger.identity.service import SYSTEM
from ledger.journal.models import Account
from tests.builders.registry import fake_id, fake_phone, make_person, make_world

HEADER = "村（社区）,户号,地址,姓名,手机号,身份证号,志愿者,户主\n"


def _counts(db) -> tuple[int, int, int]:
    with db.sessions() as s:
        return (s.scalar(select(func.count()).select_from(Household)),
                s.scalar(select(func.count()).select_from(Person)),
                s.scalar(select(func.count()).select_from(Account)))


def _bad_file(w, taken_id: str) -> bytes:
    dup = fake_id()
    rows = [
        f"{w.own_name},A1,演示路1号,陈某甲,{fake_phone()},{fake_id()},是,是",  # 2 good
        f"{w.own_name},A1,,陈某乙,12345,{fake_id()},否,否",  # 3 bad phone
        f"{w.own_name},A2,演示路2号,林某丙,,{dup},否,是",  # 4 good
        f"{w.own_name},A2,,林某丁,,{dup},否,否",  # 5 duplicate ID in the file
        "不存在村,A3,,黄某戊,,,否,是",  # 6 unknown village
        f"{w.own_name},A4,,,,{fake_id()},否,是",  # 7 empty name
        f"{w.own_name},A5,,蔡某己,,{taken_id},否,是",  # 8 ID registered already
        f"{w.own_name},A6,,许某庚,,,也许,否",  # 9 bad yes/no
    ]
    data = (HEADER + "\n".join(rows) + "\n").encode("utf-8")
    return data + f"{w.own_name},A7,,施某辛,,,否,是\n".encode("gbk")  # 10 GBK bytes


def test_file_with_bad_rows_is_refused_whole_with_each_row_reason(db):
    w = make_world(db, fund=False)
    taken = fake_id()
    make_person(db, w.own, id_number=taken)
    before = _counts(db)
    with pytest.raises(InvalidInput) as e:
        csvio.import_csv(db, SYSTEM, _bad_file(w, taken))
    assert e.value.code == "import_invalid"
    got = [(x["line"], x["code"]) for x in e.value.extra["errors"]]
    assert got == [(3, "phone_invalid"), (5, "id_number_duplicate"), (6, "village_unknown"),
                   (7, "name_required"), (8, "id_number_taken"), (9, "is_volunteer_invalid"),
                   (10, "encoding_invalid")]
    msgs = {x["line"]: x["message"] for x in e.value.extra["errors"]}
    assert "第4行" in msgs[5] and "GBK" in msgs[10] and "不存在村" in msgs[6]
    assert _counts(db) == before  # nothing applied


def test_whole_gbk_file_is_detected_and_imported(db):
    w = make_world(db, fund=False)
    data = (HEADER + f"{w.own_name},A1,,陈某甲,,,否,是\n").encode("gbk")
    assert csvio.import_csv(db, SYSTEM, data, dry_run=True).encoding == "gb18030"
    assert csvio.import_csv(db, SYSTEM, data) == RegistryImported(households_created=1,
                                                                  people_created=1)
    with db.sessions() as s:
        assert s.scalar(select(Person.name)) == "陈某甲"


def test_good_file_creates_households_people_and_their_accounts(db):
    w = make_world(db, fund=False)
    data = (HEADER
            + f"{w.own_name},A1,演示路1号,陈某甲,{fake_phone()},{fake_id()},是,是\n"
            + f"{w.own_name},A1,,陈某乙,,,否,否\n"
            + f"{w.other_name},B1,演示路9号,林某丙,,,否,是\n"
            + f"{w.own_name},,,独居志愿者,{fake_phone()},,是,否\n").encode("utf-8-sig")
    checked = csvio.import_csv(db, SYSTEM, data, dry_run=True)
    assert {k: getattr(checked, k) for k in ("dry_run", "rows", "households", "encoding")} == {
        "dry_run": True, "rows": 4, "households": 2, "encoding": "utf-8"}
    assert checked.preview[0][:5] == [w.own_name, "", "A1", "演示路1号", "陈某甲"]
    assert _counts(db)[:2] == (0, 0)
    r = csvio.import_csv(db, SYSTEM, data)
    assert r == RegistryImported(households_created=2, people_created=4)
    with db.sessions() as s:
        heads = dict(s.execute(select(Household.village_id, Household.head_name)).all())
        assert heads == {w.own: "陈某甲", w.other: "林某丙"}
        people = s.scalars(select(Person).order_by(Person.id)).all()
        assert [p.household_id is None for p in people] == [False, False, False, True]
    assert _counts(db)[2] == 2 + 4 + 1  # each holder's points account, and the town funding


def test_village_admin_may_import_only_own_village_rows(db):
    w = make_world(db, fund=False)

    class VillageAdmin:
        user_id, person_id, roles = 5, None, (("village_admin", w.own),)

    data = (HEADER + f"{w.own_name},A1,,陈某甲,,,否,是\n"
            + f"{w.other_name},B1,,林某乙,,,否,是\n").encode()
    with pytest.raises(Forbidden) as e:
        csvio.import_csv(db, VillageAdmin(), data)
    assert [(x["line"], x["code"]) for x in e.value.extra["errors"]] == [
        (3, "village_forbidden")]
    assert _counts(db)[:2] == (0, 0)


def test_export_imports_into_an_empty_database_with_the_same_plates(db, tmp_path):
    from ledger.db import Database
    from tests.conftest import build_schema
    w = make_world(db, fund=False)
    data = (HEADER + f"{w.own_name},A1,演示路1号,陈某甲,{fake_phone()},{fake_id()},是,是\n"
            + f"{w.own_name},A1,,陈某乙,,,否,否\n").encode()
    csvio.import_csv(db, SYSTEM, data)
    exported = csvio.export_csv(db, SYSTEM)
    assert exported.startswith("\ufeff".encode())
    other = Database(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    build_schema(other)
    from ledger.registry import service as registry
    with other.transaction() as s:
        town = registry.add_town(s, "宝盖镇")
        registry.add_village(s, town.id, w.own_name)
    assert csvio.import_csv(other, SYSTEM, exported) == RegistryImported(households_created=1,
                                                                         people_created=2)
    assert csvio.export_csv(other, SYSTEM) == exported
    other.dispose()


def test_api_import_answers_422_problem_with_row_errors(client, db, auth):
    w = make_world(db, fund=False)
    data = (HEADER + f"{w.own_name},A1,,,,,否,是\n").encode()
    r = client.post("/api/v1/registry/import", content=data,
                    headers={**auth("village_admin", village_id=w.own),
                             "Content-Type": "text/csv"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "import_invalid"
    assert body["errors"] == [{"line": 2, "column": "name", "code": "name_required",
                               "message": "姓名不能为空 (name is empty)", "column_label": "姓名",
                               "text": "第2行“姓名”列：姓名不能为空 (name is empty)"}]
    ok = (HEADER + f"{w.own_name},A1,,陈某甲,,,否,是\n").encode()
    r = client.post("/api/v1/registry/import", content=ok,
                    headers={**auth("village_admin", village_id=w.own),
                             "Content-Type": "text/csv"})
    assert r.status_code == 201 and r.json() == {"households_created": 1, "people_created": 1}
    r = client.get(f"/api/v1/registry/export.csv?village_id={w.own}",
                   headers=auth("village_admin", village_id=w.own))
    assert r.status_code == 200 and "陈某甲" in r.content.decode("utf-8-sig")


def test_cli_import_lists_bad_rows_and_exits_1(db, tmp_path, monkeypatch):
    from api.cli import app
    w = make_world(db, fund=False)
    monkeypatch.setenv("JIFEN_DATABASE_URL", db.url)
    monkeypatch.setenv("JIFEN_DATA_DIR", str(tmp_path))
    bad = tmp_path / "bad.csv"
    bad.write_bytes((HEADER + f"{w.own_name},A1,,陈某甲,123,,否,是\n").encode())
    result = CliRunner().invoke(app, ["import", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:2: phone_invalid" in result.output
    good = tmp_path / "good.csv"
    good.write_bytes((HEADER + f"{w.own_name},A1,,陈某甲,,,否,是\n").encode())
    assert CliRunner().invoke(app, ["import", str(good)]).exit_code == 0
    out = tmp_path / "out.csv"
    assert CliRunner().invoke(app, ["export", "--out", str(out)]).exit_code == 0
    assert "陈某甲" in out.read_text(encoding="utf-8-sig")


def test_row_limit_and_trailing_empty_columns(db, monkeypatch):
    from ledger.errors import LimitExceeded
    w = make_world(db, fund=False)
    data = ("村（社区）,姓名,,\n" + "".join(f"{w.own_name},林某{i},,\n" for i in range(3))).encode()
    monkeypatch.setattr(tabular, "MAX_ROWS", 2)
    with pytest.raises(LimitExceeded) as e:
        csvio.import_csv(db, SYSTEM, data)
    assert e.value.code == "import_too_many_rows"
    monkeypatch.setattr(tabular, "MAX_ROWS", 3)
    assert csvio.import_csv(db, SYSTEM, data) == RegistryImported(households_created=0,
                                                                  people_created=3)
