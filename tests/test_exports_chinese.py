"""Every table a person downloads from a page (CSV or .xlsx) reads in Chinese: each header
names its column in Chinese, no cell is a raw code (`redeem`, `person`, `draw`), and amounts
are points as people read them (a half-point catalog's 10-point voucher is 10, not 20)."""

from __future__ import annotations

import csv
import io
import re

from openpyxl import load_workbook

from ledger.redemption import service as redemption
from ledger.timeutil import LOCAL_TZ, utcnow
from ledger.units import steps_of
from tests.builders.workflow import world
from tests.builders.pages import sign_in
from tests.builders.redemption import give_points, make_reward, make_shop

CJK = re.compile(r"[\u4e00-\u9fff]")
CODE = re.compile(r"^[a-z][a-z_]*$")  # a code such as redeem, household, funded_by
CLERK = 90


def _csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def _xlsx(content: bytes) -> dict[str, list[list]]:
    wb = load_workbook(io.BytesIO(content))
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def _reads_in_chinese(name: str, rows: list[list]) -> None:
    assert rows, f"{name}: empty"
    header, *body = rows
    assert all(CJK.search(str(h)) for h in header), f"{name}: header {header}"
    codes = [c for r in body for c in r if isinstance(c, str) and CODE.match(c)]
    assert not codes, f"{name}: codes shown as they are: {codes}"


def _link(html: str, file_name: str) -> str:
    """The page's link to a download (by the file it names)."""
    m = re.search(r'href="([^"]*' + re.escape(file_name) + r'[^"]*)"', html)
    assert m, f"the page has no link to {file_name}"
    return m.group(1).replace("&amp;", "&")


def test_every_download_from_the_pages_has_chinese_headers_labels_and_points(
        client, db, settings):
    w = world(db, village_name="坑东村")  # Baogai's catalog: two steps a point
    shop = make_shop(db, w.town, name="坑东村积分超市", clerks=(CLERK,))
    ticket = make_reward(db, shop, cost_points=steps_of(10, 2))
    give_points(db, "person", w.resident, w.village, steps_of(30, 2))
    order = redemption.redeem(db, reward_id=ticket.id, holder_type="person",
                              holder_id=w.resident, quantity=1, actor_id=1, key=None)
    redemption.fulfil(db, code=order.voucher.code, clerk_user_id=CLERK, key=None)
    today = utcnow().astimezone(LOCAL_TZ).date().isoformat()

    sign_in(client, settings, "town_admin", user_id=81)
    page = client.get(f"/admin/settlement?start={today}&end={today}").text
    got = client.get(_link(page, "settlement.csv"))
    assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
    rows = _csv(got.content)
    _reads_in_chinese("settlement.csv", rows)
    head = rows[0]
    assert [(r[head.index("类别")], r[head.index("对象类型")], r[head.index("资金来源")],
             r[head.index("积分")]) for r in rows[1:]] \
        == [("兑换", "个人", "本人积分", "10"), ("合计", "", "", "10")]
    got = client.get(_link(page, "settlement.xlsx"))
    assert got.status_code == 200
    for title, sheet in _xlsx(got.content).items():
        _reads_in_chinese(title, sheet)

    client.cookies.clear()
    sign_in(client, settings, "village_admin", village_id=w.village, user_id=80)
    assert 'action="/admin/lists/all/sheet.xlsx"' in client.get("/admin/sheets").text
    year = today[:4]
    got = client.get(f"/admin/lists/all/sheet.xlsx?village_id={w.village}&year={year}")
    sheets = _xlsx(got.content)
    for title, sheet in sheets.items():
        _reads_in_chinese(title, sheet)
    orders = sheets[f"{year}年兑换"]
    assert [r[orders[0].index("积分")] for r in orders[1:]] == [10]  # points, not 20 steps
    for href in ("/admin/registry/export.csv", "/admin/registry/export.xlsx"):
        got = client.get(href)
        assert got.status_code == 200
        if href.endswith(".csv"):
            _reads_in_chinese(href, _csv(got.content))
        else:
            for title, sheet in _xlsx(got.content).items():
                _reads_in_chinese(title, sheet)
