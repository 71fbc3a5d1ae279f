"""The spreadsheet import page in a real phone-sized browser: a village admin checks a GBK CSV
of historical points (the first rows shown, nothing booked), then imports it."""

from __future__ import annotations

from api.auth import Principal
from tests.e2e.conftest import axe_violations, shot, sign_in_as
from tests.builders.redemption import make_people, make_town


def test_village_admin_checks_then_imports_historical_points(page, live_app, tmp_path):
    db = live_app.db
    town = make_town(db, villages=1)
    village = town["villages"][0]
    make_people(db, village, 1)  # 志愿者0
    from ledger.registry.models import Village
    with db.sessions() as s:
        vname = s.get(Village, village).name
    csv = tmp_path / "历史积分.csv"
    csv.write_bytes(("村（社区）,对象,姓名/户主,日期,积分,事由,来源\n"
                     f"{vname},个人,志愿者0,2023-05-05,5,环境整治,村2023年台账\n").encode("gbk"))
    sign_in_as(page, live_app, Principal(user_id=93_101, name="村管理员",
                                         roles=(("village_admin", village),)))
    page.goto("/admin/sheets")
    page.get_by_role("link", name="历史积分与服务时长").click()
    page.get_by_label("Excel（.xlsx）或 CSV 文件").set_input_files(str(csv))
    page.get_by_role("button", name="检查并导入").click()
    assert "将导入 1 行" in page.get_by_test_id("sheets-result").inner_text()
    assert "志愿者0" in page.get_by_test_id("preview").inner_text()
    assert axe_violations(page) == []
    shot(page, "admin-sheets-check")
    page.get_by_label("Excel（.xlsx）或 CSV 文件").set_input_files(str(csv))
    page.get_by_label("只检查，不导入").uncheck()
    page.get_by_role("button", name="检查并导入").click()
    assert "导入完成" in page.get_by_test_id("sheets-result").inner_text()
