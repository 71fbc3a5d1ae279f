"""`jifen sheets …` and the long commands: progress through their steps and a summary line; an
import with bad rows lists them and exits 1; templates, exports and printed sheets are written."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import load_workbook
from typer.testing import CliRunner

from ledger.registry import service as registry

FIXTURES = Path(__file__).parent / "fixtures" / "sheets"


def _env(db, tmp_path, monkeypatch):
    monkeypatch.setenv("JIFEN_DATABASE_URL", db.url)
    monkeypatch.setenv("JIFEN_DATA_DIR", str(tmp_path))
    with db.transaction() as s:
        town = registry.add_town(s, "宝盖镇")
        registry.add_village(s, town.id, "塘边村")
        registry.add_village(s, town.id, "坑东村")


def test_sheets_import_export_template_and_print(db, tmp_path, monkeypatch):
    from api.cli import app
    _env(db, tmp_path, monkeypatch)
    run = CliRunner().invoke
    r = run(app, ["sheets", "import", "registry", str(FIXTURES / "registry-excel-gbk.csv")])
    assert r.exit_code == 0, r.output
    assert "导入 registry-excel-gbk.csv" in r.output and "households_created 3" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes("村（社区）,对象,姓名/户主,日期,积分,事由,来源\n塘边村,个人,无此人,2023-05-05,5,环境整治,台账\n"
                    .encode("gbk"))
    r = run(app, ["sheets", "import", "history", str(bad)])
    assert r.exit_code == 1 and f"{bad}:2: person_unknown" in r.output
    out = tmp_path / "registry.xlsx"
    r = run(app, ["sheets", "export", "registry", "--out", str(out)])
    assert r.exit_code == 0, r.output
    names = [row[4] for row in load_workbook(io.BytesIO(out.read_bytes())).worksheets[0]
             .iter_rows(values_only=True)]
    assert "陈美玲" in names
    tpl = tmp_path / "history.xlsx"
    assert run(app, ["sheets", "template", "history", "--out", str(tpl)]).exit_code == 0
    lists = tmp_path / "lists.xlsx"
    r = run(app, ["sheets", "export", "lists", "--village", "塘边村", "--year", "2026",
                  "--out", str(lists)])
    assert r.exit_code == 0 and "2026年户积分" in load_workbook(lists).sheetnames
    pdf = tmp_path / "scores.pdf"
    r = run(app, ["sheets", "print", "scores", "--village", "塘边村", "--month", "2026-12",
                  "--out", str(pdf)])
    assert r.exit_code == 0 and pdf.read_bytes().startswith(b"%PDF")


def test_backup_and_recompute_show_progress_and_a_summary(db, tmp_path, monkeypatch):
    from api.cli import app
    _env(db, tmp_path, monkeypatch)
    run = CliRunner().invoke
    if db.is_sqlite:
        r = run(app, ["backup", str(tmp_path / "b.sqlite3")])
        assert r.exit_code == 0 and "备份" in r.output and "backup written" in r.output
    r = run(app, ["recompute"])
    assert r.exit_code == 0, r.output
    assert "重新计算" in r.output and "recomputed" in r.output


def test_history_import_takes_several_files_in_one_command(db, tmp_path, monkeypatch):
    from api.cli import app
    from ledger.journal import service as journal
    from ledger.registry.models import Village
    from sqlalchemy import select
    _env(db, tmp_path, monkeypatch)
    run = CliRunner().invoke
    assert run(app, ["sheets", "import", "registry",
                     str(FIXTURES / "registry-excel-gbk.csv")]).exit_code == 0
    with db.sessions() as s:
        vid = s.scalar(select(Village.id).where(Village.name == "塘边村"))
    journal.allocate(db, shards=2, town_id=1, village_id=vid, amount=10_000, actor_id=None,
                     key=None)
    files = []
    for year in (2021, 2022):
        f = tmp_path / f"{year}.csv"
        f.write_text("村（社区）,对象,姓名/户主,日期,积分,事由,来源\n"
                     f"塘边村,个人,陈美玲,{year}-05-05,5,环境整治,{year}年台账\n", "utf-8")
        files.append(str(f))
    r = run(app, ["sheets", "import", "history", *files])
    assert r.exit_code == 0, r.output
    assert r.output.count("rows_booked 1") == 2
    r = run(app, ["sheets", "import", "history", *files])  # again: the first answers
    assert r.exit_code == 0 and r.output.count("rows_booked 1") == 2
    report = journal.audit(db)  # the allocation and one award per file, chains intact
    assert report["ok"] and report["entries"] == 3
