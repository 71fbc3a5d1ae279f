"""The import pages show the first rows as read and the errors before anything is applied,
take .xlsx and GBK CSV, and offer the template and the .xlsx export."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import load_workbook

from ledger.registry import service as registry
from tests.builders.pages import form_fields, sign_in

FIXTURES = Path(__file__).parent / "fixtures" / "sheets"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _villages(db):
    with db.transaction() as s:
        town = registry.add_town(s, "宝盖镇")
        registry.add_village(s, town.id, "塘边村")
        registry.add_village(s, town.id, "坑东村")


def _post(client, name: str, data: bytes, dry_run: bool):
    fields = form_fields(client.get("/admin/registry").text, "/admin/registry/import")
    if dry_run:
        fields["dry_run"] = "1"
    return client.post("/admin/registry/import", data=fields, files={"file": (name, data, XLSX)})


def test_xlsx_check_shows_the_first_rows_then_imports_once(client, db, settings):
    _villages(db)
    sign_in(client, settings, "town_admin")
    data = (FIXTURES / "registry-libreoffice.xlsx").read_bytes()
    r = _post(client, "people.xlsx", data, dry_run=True)
    assert r.status_code == 200 and "文件没有错误：5 人，3 户" in r.text
    preview = r.text.split('data-testid="preview"')[1].split("</table>")[0]
    assert "陈美玲" in preview and "塘边村中山路1号" in preview
    r = _post(client, "people.xlsx", data, dry_run=False)
    assert r.status_code == 200 and "已导入 5 人，新建 3 户" in r.text
    r = _post(client, "people.xlsx", data, dry_run=False)  # the same file again
    assert r.status_code == 200 and "已导入 5 人，新建 3 户" in r.text
    r = _post(client, "people.xlsx", data, dry_run=True)
    assert "这个文件已经导入过" in r.text
    wb = load_workbook(io.BytesIO(client.get("/admin/registry/export.xlsx").content))
    names = [row[4] for row in wb.worksheets[0].iter_rows(values_only=True)]
    assert names.count("陈美玲") == 1 and len(names) == 6


def test_gbk_csv_with_errors_lists_them_by_chinese_column(client, db, settings):
    _villages(db)
    sign_in(client, settings, "town_admin")
    data = "村（社区）,姓名,手机号\n塘边村,陈某甲,123\n".encode("gbk")
    r = _post(client, "people.csv", data, dry_run=True)
    assert r.status_code == 422
    table = r.text.split('data-testid="row-errors"')[1]
    assert "<td>2</td><td>手机号</td>" in table


def test_template_downloads_with_the_chinese_header(client, db, settings):
    sign_in(client, settings, "village_admin", village_id=1)
    r = client.get("/admin/registry/template.xlsx")
    assert r.status_code == 200
    header = next(load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True))
    assert header[:2] == ("村（社区）", "门牌码")


def _history_world(db):
    from tests.builders.registry import make_person, make_world
    w = make_world(db)
    make_person(db, w.own, name="陈美玲")
    return w


def _post_kind(client, kind: str, data: bytes, dry_run: bool):
    fields = form_fields(client.get(f"/admin/sheets/{kind}").text, f"/admin/sheets/{kind}/import")
    if dry_run:
        fields["dry_run"] = "1"
    return client.post(f"/admin/sheets/{kind}/import", data=fields,
                       files={"file": ("history.csv", data, "text/csv")})


def test_history_page_previews_then_books_and_lists_export(client, db, settings):
    w = _history_world(db)
    sign_in(client, settings, "village_admin", village_id=w.own)
    home = client.get("/admin/sheets")
    assert home.status_code == 200 and "历史积分与服务时长" in home.text
    data = ("村（社区）,对象,姓名/户主,日期,积分,事由,来源\n"
            f"{w.own_name},个人,陈美玲,2023-05-05,5,环境整治,塘边村2023年台账\n").encode("gbk")
    r = _post_kind(client, "history", data, dry_run=True)
    assert r.status_code == 200 and "将导入 1 行" in r.text
    assert "陈美玲" in r.text.split('data-testid="preview"')[1]
    r = _post_kind(client, "history", data, dry_run=False)
    assert r.status_code == 200 and "导入完成" in r.text
    bad = ("村（社区）,对象,姓名/户主,日期,积分,事由,来源\n"
           f"{w.own_name},个人,陈美玲,2023-05-05,5,,塘边村2023年台账\n").encode()
    r = _post_kind(client, "history", bad, dry_run=True)
    assert r.status_code == 422 and "<td>2</td><td>事由</td>" in r.text
    r = client.get(f"/admin/lists/all/sheet.xlsx?village_id={w.own}&year=2023")
    sheets = load_workbook(io.BytesIO(r.content)).sheetnames
    assert r.status_code == 200 and "2023年户积分" in sheets and "2023年加分扣分" in sheets
    r = client.get("/admin/sheets/history/template.xlsx")
    header = next(load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True))
    assert "服务时长（小时）" in header


def test_stock_page_is_for_town_admins(client, db, settings):
    sign_in(client, settings, "village_admin", village_id=1)
    r = client.get("/admin/sheets/stock", follow_redirects=False)
    assert r.status_code in (302, 303, 403)


def test_sheets_page_prints_the_notice_and_score_sheets(client, db, settings):
    from datetime import datetime

    from tests.builders.recognition import make_world
    w = make_world(db, people=0, households=1, villages=1)
    sign_in(client, settings, "village_admin", village_id=w.villages[0])
    home = client.get("/admin/sheets")
    assert 'data-testid="score-sheet"' in home.text
    month = datetime.now().strftime("%Y-%m")
    r = client.get(f"/admin/paper/score-sheet.pdf?village_id={w.villages[0]}&month={month}")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    r = client.get(f"/admin/paper/notice-sheet.pdf?village_id={w.villages[0]}")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
