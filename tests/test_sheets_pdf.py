"""Every PDF we print carries its Chinese font: the text extracted from each (door plates,
certificates, honor posters, and the sheets of ledger/sheets/paper.py) has the Chinese, and the
font that sets it is embedded in the file (a viewer without Asian fonts still shows it)."""

from __future__ import annotations

from datetime import UTC, datetime

from ledger.activities import certificates
from ledger.recognition import poster
from ledger.registry import plates
from tests.pdf_support import assert_chinese_embedded, text_fonts


def test_door_plates_embed_the_chinese_font():
    pdf = plates.plates_pdf(town="宝盖镇", village="塘边村",
                            plates=[plates.Plate("abcdefgh12345678", "塘边村中山路1号")],
                            public_base_url="https://jifen.example")
    assert_chinese_embedded(pdf, "宝盖镇 · 塘边村", "塘边村中山路1号", "扫码查看本户积分")
    assert "STSong-Light" not in text_fonts(pdf)


def test_certificate_embeds_the_chinese_font():
    rec = {"issuer": "宝盖镇新时代文明实践所", "code": "C-1", "name": "林志愿",
           "id_masked": "3505**********0015", "period_start": "2026-01-01",
           "period_end": "2026-06-30", "activities_count": 1, "hours": "2.00",
           "minutes_total": 120, "issued_at": "2026-07-01T08:00:00+08:00",
           "content_sha256": "0" * 64, "verify_url": "https://jifen.example/cert/C-1",
           "lines": [{"date": "2026-03-05", "title": "清洁家园", "unit": "塘边村", "minutes": 120}]}
    assert_chinese_embedded(certificates.render_pdf(rec), "志愿服务记录证明", "林志愿",
                            "宝盖镇新时代文明实践所", "清洁家园")


def test_honor_poster_embeds_the_chinese_font():
    content = {"title": "2026年度文明之星", "scope_name": "塘边村", "period": "year:2026",
               "metric": "points", "published_at": datetime(2026, 7, 1, tzinfo=UTC).isoformat(),
               "entries": [{"rank": 1, "name": "林**0", "village": "塘边村", "value": 30}]}
    assert_chinese_embedded(poster.render_pdf(content, "ab" * 32, "https://jifen.example/x"),
                            "光荣榜", "2026年度文明之星", "林**0")
