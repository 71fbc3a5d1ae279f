"""Every PDF we print carries its Chinese font: the text extracted from each (door plates,
certificates, honor posters, and the sheets of ledger/sheets/paper.py) has the Chinese, and the
font that sets it is embedded in the file (a viewer without Asian fonts still shows it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledger.errors import Forbidden
from ledger.identity.service import SYSTEM
from ledger.activities import certificates
from ledger.recognition import poster
from ledger.registry import plates
from tests.pdf_support import assert_chinese_embedded, pdf_text, text_fonts
from tests.qr_support import pdf_qr_texts


def test_door_plates_embed_the_chinese_font():
    pdf = plates.plates_pdf(town="宝盖镇", village="塘边村",
                            plates=[plates.Plate("abcdefgh12345678", "塘边村中山路1号")],
                            public_base_url="https://jifen.example")
    assert_chinese_embedded(pdf, "宝盖镇 · 塘边村", "塘边村中山路1号", "扫码查看本户积分")
    assert "STSong-Light" not in text_fonts(pdf)


def test_certificate_embeds_the_chinese_font():
    from ledger.activities.schemas import CertificateView
    rec = {"issuer": "宝盖镇新时代文明实践所", "code": "C-1", "name": "林志愿",
           "id_masked": "3505**********0015", "period_start": "2026-01-01",
           "period_end": "2026-06-30", "activities_count": 1, "hours": "2.00",
           "minutes_total": 120, "issued_at": "2026-07-01T08:00:00+08:00",
           "content_sha256": "0" * 64, "verify_url": "https://jifen.example/cert/C-1",
           "lines": [{"date": "2026-03-05", "title": "清洁家园", "unit": "塘边村", "minutes": 120}]}
    assert_chinese_embedded(certificates.render_pdf(CertificateView(person_id=1, **rec)),
                            "志愿服务记录证明", "林志愿",
                            "宝盖镇新时代文明实践所", "清洁家园")


def test_honor_poster_embeds_the_chinese_font():
    content = {"title": "2026年度文明之星", "scope_name": "塘边村", "period": "year:2026",
               "metric": "points", "published_at": datetime(2026, 7, 1, tzinfo=UTC).isoformat(),
               "entries": [{"rank": 1, "name": "林**0", "village": "塘边村", "value": 30}]}
    assert_chinese_embedded(poster.render_pdf(content, "ab" * 32, "https://jifen.example/x"),
                            "光荣榜", "2026年度文明之星", "林**0")


def test_voucher_sheet_prints_each_open_voucher_with_a_scannable_qr(db):
    from ledger.redemption.service import redeem
    from ledger.sheets import paper
    from tests.builders.redemption import (
        give_points, make_person, make_reward, make_shop, make_town)
    t = make_town(db, villages=2)
    v = t["villages"][0]
    shop = make_shop(db, t["town"])
    reward = make_reward(db, shop, stock=10, name="洗衣液", kind="goods").id
    person = make_person(db, v)
    give_points(db, "person", person, v, 100)
    orders = [redeem(db, reward_id=reward, holder_type="person", holder_id=person, quantity=1,
                     actor_id=None, key=None) for _ in range(3)]
    pdf = paper.vouchers_pdf(db, SYSTEM, [o.order_id for o in orders],
                             public_base_url="https://jifen.example")
    assert_chinese_embedded(pdf, "积分兑换券", "洗衣液", "塘边村积分超市")
    codes = sorted(o.voucher.code for o in orders)
    assert sorted(pdf_qr_texts(pdf)) == [f"https://jifen.example/v/{c}" for c in codes]
    with pytest.raises(Forbidden):
        paper.vouchers_pdf(db, Admin(t["villages"][1]), [orders[0].order_id],
                           public_base_url="https://jifen.example")


class Admin:
    def __init__(self, village_id: int) -> None:
        self.user_id, self.person_id, self.roles = 5, None, (("village_admin", village_id),)


def test_score_sheet_lists_the_month_and_improvement_only_when_asked(db):
    from ledger.sheets import paper
    from tests.builders.recognition import award, deduct, make_world
    w = make_world(db, people=0, households=3, villages=1)
    v = w.villages[0]
    award(db, v, "household", w.households[0], 12)
    award(db, v, "household", w.households[1], 8)
    deduct(db, v, "household", w.households[2], 5)
    month = datetime.now(paper.LOCAL_TZ).strftime("%Y-%m")
    pdf = paper.score_sheet_pdf(db, SYSTEM, v, month, public_base_url="https://jifen.example")
    assert_chinese_embedded(pdf, "文明积分红榜", "第1名", "陈*明", "12", "第2名")
    assert "需要改进" not in pdf_text(pdf) and "-5" not in pdf_text(pdf)
    pdf = paper.score_sheet_pdf(db, SYSTEM, v, month, include_improve=True,
                                public_base_url="https://jifen.example")
    assert "需要改进的户" in pdf_text(pdf) and "-5" in pdf_text(pdf)
    assert "陈三明" not in pdf_text(pdf)  # masked: 陈*明
    assert pdf_qr_texts(pdf) == [f"https://jifen.example/villages/{v}/notices"]


def test_notice_sheet_shows_what_the_notice_board_shows(db, settings):
    from ledger.sheets import paper
    from tests.builders.rules import T0, family, load, make_world, staff
    from ledger.rules import service as svc
    w = make_world(db)
    load(db, "baogai", "household_1000")
    vid = w.villages["塘边村"]
    _, p = family(db, w, village="塘边村")
    who = staff(50, "village_admin", "inspector", village_id=vid)
    svc.record_award(db, settings, item_code="D08", holder=("person", p), recorder=who,
                     context={"occurred_at": T0.isoformat()}, key=None, now=T0)
    pdf = paper.notice_sheet_pdf(db, SYSTEM, vid, public_base_url="https://jifen.example",
                                 now=T0)
    assert_chinese_embedded(pdf, "积分公示", "异议截止", "陈*", "+3")
    assert pdf_qr_texts(pdf) == [f"https://jifen.example/villages/{vid}/notices"]


def test_api_serves_the_printed_sheets_to_the_village_admin(client, db, auth):
    from tests.builders.recognition import award, make_world
    w = make_world(db, people=0, households=1, villages=2)
    award(db, w.villages[0], "household", w.households[0], 12)
    month = datetime.now(UTC).strftime("%Y-%m")
    own = auth("village_admin", village_id=w.villages[0])
    r = client.get(f"/api/v1/villages/{w.villages[0]}/score-sheet.pdf?month={month}", headers=own)
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    r = client.get(f"/api/v1/villages/{w.villages[0]}/notice-sheet.pdf", headers=own)
    assert r.status_code == 200 and "积分公示" in pdf_text(r.content)
    r = client.get(f"/api/v1/villages/{w.villages[1]}/notice-sheet.pdf", headers=own)
    assert r.status_code == 403
