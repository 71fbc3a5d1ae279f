"""Households and people in the admin console: a CSV import with every bad row listed next to
the file (nothing applied), a dry run, a good import, and the export."""

from __future__ import annotations

import re

from tests.builders.pages import form_fields, sign_in
from tests.builders.redemption import make_town

HEADER = "村（社区）,户号,地址,姓名,手机号,身份证号,志愿者,户主\n"


def _post(client, csv_text: str, dry_run: bool = False):
    page = client.get("/admin/registry")
    data = form_fields(page.text, "/admin/registry/import")
    if dry_run:
        data["dry_run"] = "1"
    return client.post("/admin/registry/import", data=data,
                       files={"file": ("people.csv", csv_text.encode("utf-8"), "text/csv")})


def _village(db):
    town = make_town(db, villages=1)
    from ledger.registry.models import Village
    with db.sessions() as s:
        return s.get(Village, town["villages"][0]).name


def test_bad_rows_are_listed_with_line_and_nothing_is_imported(client, db, settings):
    name = _village(db)
    sign_in(client, settings, "town_admin")
    r = _post(client, HEADER + f"{name},1,一号,陈一,13812345678,,是,是\n"
                               f"{name},1,一号,,,,否,否\n"
                               f"无此村,2,二号,李二,123,,否,是\n")
    assert r.status_code == 422 and "文件有错误，未导入任何数据" in r.text
    table = r.text.split('data-testid="row-errors"')[1]
    assert re.search(r"<td>3</td>", table) and re.search(r"<td>4</td>", table)
    assert "陈一" not in client.get("/admin/registry/export.csv").content.decode("utf-8")


def test_dry_run_then_import_then_export(client, db, settings):
    name = _village(db)
    sign_in(client, settings, "town_admin")
    csv_text = HEADER + f"{name},1,一号,陈一,13812345678,,是,是\n{name},1,一号,陈二,,,否,否\n"
    r = _post(client, csv_text, dry_run=True)
    assert r.status_code == 200 and "文件没有错误：2 人，1 户" in r.text
    r = _post(client, csv_text)
    assert r.status_code == 200 and "已导入 2 人，新建 1 户" in r.text
    export = client.get("/admin/registry/export.csv")
    assert export.status_code == 200 and "陈二" in export.content.decode("utf-8-sig")
