"""The village lists as .xlsx: Chinese headers with the unit, values in points and hours (a
half-point catalog shows 2.5, not 5 steps), formula-like names neutralised, scope enforced."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from openpyxl import load_workbook

from ledger.errors import Forbidden
from ledger.identity.service import SYSTEM
from ledger.registry.models import Household, Person
from ledger.sheets import exports
from tests.builders.recognition import award, deduct, make_world, serve


class VillageAdmin:
    def __init__(self, village_id: int) -> None:
        self.user_id, self.person_id, self.roles = 5, None, (("village_admin", village_id),)


def _sheets(data: bytes) -> dict[str, list[tuple]]:
    wb = load_workbook(io.BytesIO(data))
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}


def test_every_list_of_a_village_with_units_in_the_header(db, monkeypatch):
    w = make_world(db, people=2, households=1, villages=1)
    with db.transaction() as s:
        s.get(Household, w.households[0]).head_name = "=1+1"
    year = datetime.now(exports.LOCAL_TZ).year
    award(db, w.villages[0], "household", w.households[0], 10)
    deduct(db, w.villages[0], "household", w.households[0], 3)
    award(db, w.villages[0], "person", w.people[0], 4)
    serve(db, w, w.people[0], 150)
    monkeypatch.setattr(exports, "points_scale", lambda s, on=None: 2)  # a half-point catalog
    data = exports.village_workbook(db, SYSTEM, "all", w.villages[0], year)
    sheets = _sheets(data)
    homes = sheets[f"{year}年户积分"]
    assert homes[0] == ("户主", "地址", "门牌码", f"{year}年得分（积分）", "当前余额（积分）")
    assert homes[1][0] == "'=1+1" and homes[1][3:] == (3.5, 3.5)  # 7 steps at 2 a point
    entries = sheets[f"{year}年加分扣分"]
    assert entries[0][4] == "积分"
    assert sorted((r[1], r[4]) for r in entries[1:]) == [("加分", 2), ("加分", 5), ("扣分", -1.5)]
    hours = sheets[f"{year}年服务时长"]
    assert hours[0][2] == f"{year}年服务时长（小时）"
    assert (hours[1][0], hours[1][2], hours[1][3]) == (
        _name(db, w.people[0]), 2.5, 2.5)
    assert sheets[f"{year}年兑换"][0][7] == "积分"


def _name(db, pid):
    with db.sessions() as s:
        return s.get(Person, pid).name


def test_a_village_admin_exports_only_their_village(db):
    w = make_world(db, people=2, households=2, villages=2)
    year = datetime.now(exports.LOCAL_TZ).year
    with pytest.raises(Forbidden):
        exports.village_workbook(db, VillageAdmin(w.villages[1]), "households", w.villages[0],
                                 year)
    data = exports.village_workbook(db, VillageAdmin(w.villages[0]), "households",
                                    w.villages[0], year)
    assert len(_sheets(data)[f"{year}年户积分"]) == 2  # header and the village's one household
