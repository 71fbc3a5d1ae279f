"""Service-record certificates: the PDF's QR code, read by a real decoder, opens a public page
that shows the masked name, the hours and the issuer; the CSV export has the documented layout."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pypdfium2 as pdfium
import pytest

from ledger.activities import certificates, export, review
from ledger.errors import Forbidden, InvalidInput, NotFound
from tests.builders.activities import T0, make_activity, make_world, scan
from tests.qr_support import pdf_qr_texts

DAY = date(2026, 3, 5)


def _serve(db, settings, w):
    """Two certified activities and one still pending for volunteer 0."""
    a = make_activity(db, w, title="家园清洁志愿活动")
    b = make_activity(db, w, title="敬老助老上门服务", start=T0 + timedelta(hours=5))
    c = make_activity(db, w, title="需确认的活动", needs_confirmation=True,
                      start=T0 + timedelta(hours=8))
    scan(db, settings, w, a, 0, T0)
    scan(db, settings, w, a, 0, T0 + timedelta(minutes=95))
    scan(db, settings, w, b, 0, T0 + timedelta(hours=5))
    scan(db, settings, w, b, 0, T0 + timedelta(hours=5, minutes=50))
    scan(db, settings, w, c, 0, T0 + timedelta(hours=8))
    scan(db, settings, w, c, 0, T0 + timedelta(hours=9))
    return a, b, c


def _page_text(pdf: bytes) -> str:
    doc = pdfium.PdfDocument(pdf)
    return "".join(p.get_textpage().get_text_range() for p in doc)


def test_certificate_qr_opens_a_verification_page_with_masked_name_hours_and_issuer(
        db, settings, client):
    w = make_world(db)
    _serve(db, settings, w)
    rec = certificates.issue(db, settings, w.volunteer(0), person_id=w.people[0], start=DAY,
                             end=DAY, now=T0 + timedelta(days=1))
    assert rec.minutes_total == 145 and rec.activities_count == 2  # pending one left out
    assert rec.hours == "2.41"
    pdf = certificates.render_pdf(rec)
    text = _page_text(pdf)
    assert "志愿服务记录证明" in text and "林志愿0" in text and "2.41" in text
    urls = pdf_qr_texts(pdf)
    assert urls == [f"http://testserver.local/cert/{rec.code}"]
    page = client.get(urls[0].replace("http://testserver.local", ""))
    assert page.status_code == 200
    assert "林**0" in page.text and "2.41 小时" in page.text and "宝盖镇" in page.text
    assert "林志愿0" not in page.text and "350581199001" not in page.text  # no ID number
    api = client.get(f"/api/v1/activities/certificates/{rec.code}/verification").json()
    assert api["valid"] and api["masked_name"] == "林**0" and api["minutes_total"] == 145
    assert api["issuer"].endswith("塘边村") and api["check_code"] == rec.content_sha256[:16]
    missing = client.get("/cert/not-a-real-code")
    assert missing.status_code == 404 and "没有找到" in missing.text


def test_only_the_volunteer_or_their_village_admin_issues(db, settings):
    w = make_world(db)
    with pytest.raises(Forbidden):
        certificates.issue(db, settings, w.volunteer(1), person_id=w.people[0], start=DAY,
                           end=DAY)
    r = certificates.issue(db, settings, w.admin, person_id=w.people[0], start=DAY, end=DAY)
    assert r.minutes_total == 0
    with pytest.raises(InvalidInput):
        certificates.issue(db, settings, w.admin, person_id=w.people[0], start=DAY,
                           end=DAY - timedelta(days=1))
    with pytest.raises(NotFound):
        certificates.verify(db, "x" * 16)


def test_certified_hours_agree_with_the_minutes_book_after_a_rejection(db, settings):
    w = make_world(db)
    a, b, _ = _serve(db, settings, w)
    rows = review.list_attendances(db, w.organizer, b.id).items
    review.reject(db, settings, w.organizer, rows[0].attendance_id, "未到场",
                  now=T0 + timedelta(hours=7))
    rec = certificates.issue(db, settings, w.volunteer(0), person_id=w.people[0], start=DAY,
                             end=DAY, now=T0 + timedelta(days=1))
    assert rec.minutes_total == 95 and [x["title"] for x in rec.lines] == ["家园清洁志愿活动"]


@pytest.mark.parametrize("minutes, text", [(0, "0.00"), (1, "0.01"), (20, "0.33"), (59, "0.98"),
                                           (60, "1.00"), (145, "2.41"), (61, "1.01")])
def test_hours_are_shown_truncated_to_two_decimals(minutes, text):
    assert certificates.hours_text(minutes) == text


def test_masking_names():
    assert [certificates.mask_name(n) for n in ("张", "张三", "张三丰", "欧阳小明")] == \
        ["*", "张*", "张*丰", "欧**明"]


def test_csv_export_has_the_documented_layout(db, settings):
    w = make_world(db)
    _serve(db, settings, w)
    with pytest.raises(Forbidden):
        export.export_csv(db, w.organizer, village_id=w.village_id, start=DAY, end=DAY)
    body = export.export_csv(db, w.admin, village_id=w.village_id, start=DAY, end=DAY)
    assert body.startswith("\ufeff") and "\r\n" in body
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert tuple(rows[0]) == export.COLUMNS
    assert len(rows) == 3  # the pending attendance is not exported
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["志愿者姓名"] == "林志愿0" and first["证件类型"] == "居民身份证"
    assert first["服务开始时间"] == "2026-03-05 09:00:00"
    assert first["服务时长（小时）"] == "1.58" and first["服务时长（分钟）"] == "95"
    assert first["记录方式"] == "扫码签到" and first["组织单位"] == "塘边村"


def test_csv_cells_that_look_like_formulas_are_defused():
    assert export._cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and export._cell("宣讲") == "宣讲"
