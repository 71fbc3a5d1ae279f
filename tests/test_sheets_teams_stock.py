"""Teams with their members, and reward stock, from spreadsheets: applied whole or not at all,
the same file (or the same rows) again changes nothing, and each export imports back into an
empty database as the same data."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ledger.errors import Forbidden, InvalidInput
from ledger.identity.service import SYSTEM
from ledger.registry import csvio
from ledger.registry.models import Team, TeamMember
from ledger.sheets import stock, teams
from ledger.sheets.schemas import StockImported, TeamsImported
from tests.builders.redemption import make_reward, make_shop, reward_row
from tests.builders.registry import fake_id, make_person, make_world

HEADER = ("队伍名称,队伍类型,所属村（社区）,常设队伍,成员姓名,成员身份证号,成员手机号,"
          "成员所在村（社区）,队长\n")


class VillageAdmin:
    def __init__(self, village_id: int) -> None:
        self.user_id, self.person_id, self.roles = 5, None, (("village_admin", village_id),)


def _counts(db) -> tuple[int, int]:
    with db.sessions() as s:
        return (s.scalar(select(func.count()).select_from(Team)),
                s.scalar(select(func.count()).select_from(TeamMember)))


def _people(db, w):
    idn = fake_id()
    make_person(db, w.own, name="陈美玲", id_number=idn)
    make_person(db, w.own, name="林秀英")
    make_person(db, w.other, name="蔡宝珠")
    return idn


def test_teams_and_members_import_once(db):
    w = make_world(db, fund=False)
    idn = _people(db, w)
    data = (HEADER + f"卫生队,卫生环保,{w.own_name},是,,{idn},,,是\n"
            f"卫生队,卫生环保,{w.own_name},是,林秀英,,,,否\n"
            f"全镇应急队,应急救援,,否,蔡宝珠,,,{w.other_name},否\n"
            f"空队,文化宣传,{w.own_name},否,,,,,\n").encode()
    assert teams.import_teams(db, SYSTEM, data, dry_run=True).rows == 3
    assert teams.import_teams(db, SYSTEM, data) == TeamsImported(teams_created=3,
                                                                 members_added=3, skipped=0)
    assert teams.import_teams(db, SYSTEM, data).teams_created == 3  # the first result
    assert _counts(db) == (3, 3)
    more = (HEADER + f"卫生队,卫生环保,{w.own_name},是,林秀英,,,,否\n"
            f"卫生队,卫生环保,{w.own_name},是,蔡宝珠,,,{w.other_name},否\n").encode()
    assert teams.import_teams(db, SYSTEM, more) == TeamsImported(teams_created=0,
                                                                 members_added=1, skipped=1)
    assert _counts(db) == (3, 4)


def test_teams_file_with_errors_changes_nothing(db):
    w = make_world(db, fund=False)
    _people(db, w)
    data = (HEADER + f"卫生队,卫生环保,{w.own_name},是,林秀英,,,,是\n"
            f"卫生队,卫生环保,{w.own_name},是,陈美玲,,,,是\n"  # a second leader
            f"卫生队,文化宣传,{w.own_name},是,,,,,\n"  # the same team, another kind
            f"全镇队,应急救援,,否,无此人,,,{w.own_name},否\n").encode()
    with pytest.raises(InvalidInput) as e:
        teams.import_teams(db, SYSTEM, data)
    assert [(x["line"], x["code"]) for x in e.value.extra["errors"]] == [
        (3, "leader_duplicate"), (4, "team_mismatch"), (5, "person_unknown")]
    with pytest.raises(Forbidden):
        teams.import_teams(db, VillageAdmin(w.own),
                           (HEADER + "全镇队,应急救援,,否,,,,,\n").encode())
    assert _counts(db) == (0, 0)


def test_teams_export_imports_into_an_empty_database(db, tmp_path):
    from ledger.db import Database
    from ledger.registry import service as registry
    from tests.conftest import build_schema
    w = make_world(db, fund=False)
    idn = _people(db, w)
    teams.import_teams(db, SYSTEM, (HEADER + f"卫生队,卫生环保,{w.own_name},是,,{idn},,,是\n"
                                    f"卫生队,卫生环保,{w.own_name},是,林秀英,,,,否\n"
                                    f"全镇队,应急救援,,否,蔡宝珠,,,{w.other_name},否\n"
                                    f"空队,文化宣传,{w.own_name},否,,,,,\n").encode())
    other = Database(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    build_schema(other)
    with other.transaction() as s:
        town = registry.add_town(s, "宝盖镇")
        registry.add_village(s, town.id, w.own_name)
        registry.add_village(s, town.id, w.other_name)
    csvio.import_csv(other, SYSTEM, csvio.export_xlsx(db, SYSTEM))
    assert teams.import_teams(other, SYSTEM, teams.export_xlsx(db, SYSTEM)).teams_created == 3
    with db.sessions() as s, other.sessions() as o:
        assert list(teams.export_rows(o, SYSTEM)) == list(teams.export_rows(s, SYSTEM))
    other.dispose()


def test_stock_totals_import_and_round_trip(db):
    w = make_world(db, fund=False)
    shop = make_shop(db, w.town_id)
    film = make_reward(db, shop, stock=5).id
    soap = make_reward(db, shop, stock=None, name="洗衣液", kind="goods").id
    data = ("兑换点,礼品名称,库存总数（件）\n"
            "塘边村积分超市,电影票,40\n塘边村积分超市,洗衣液,12\n").encode("gbk")
    assert stock.import_stock(db, SYSTEM, data) == StockImported(rewards_changed=2, skipped=0)
    assert reward_row(db, film)["stock"] == 40 and reward_row(db, soap)["stock"] == 12
    exported = stock.export_xlsx(db)
    assert stock.import_stock(db, SYSTEM, exported) == StockImported(rewards_changed=0,
                                                                     skipped=2)
    bad = ("兑换点,礼品名称,库存总数（件）\n塘边村积分超市,电影票,-1\n"
           "塘边村积分超市,无此礼品,3\n塘边村积分超市,洗衣液,不限\n").encode()
    with pytest.raises(InvalidInput) as e:
        stock.import_stock(db, SYSTEM, bad)
    assert [(x["line"], x["code"]) for x in e.value.extra["errors"]] == [
        (2, "stock_invalid"), (3, "reward_unknown")]
    assert reward_row(db, soap)["stock"] == 12
    with pytest.raises(Forbidden):
        stock.import_stock(db, VillageAdmin(w.own), data)
