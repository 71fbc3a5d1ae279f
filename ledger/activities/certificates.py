"""志愿服务记录证明: a volunteer's certified service for a period, by activity, issued as a PDF
whose QR code opens a public verification page (masked name, hours, issuer).

The figures are taken from certified attendances and checked against the ledger's minutes book
before anything is issued; the issued figures are frozen with a content hash, so the paper, the
stored record and the verification page can be compared.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from datetime import date, datetime, time

import qrcode
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.activities.minutes import SOURCE
from ledger.activities.models import (
    CERTIFIED_REVIEWS,
    Activity,
    Attendance,
    Certificate,
)
from ledger.activities.schemas import CertificateCheck, CertificateListed, CertificateView
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import Forbidden, InvalidInput, NotFound
from ledger.identity.actor import Actor, may
from ledger.journal import book
from ledger.journal.models import Account, HolderType, JournalEntry, Posting, Purpose, Unit
from ledger.journal.posting import canonical_json
from ledger.registry.models import Person, Town, Village
from ledger.registry.privacy import mask_id_number, mask_name
from ledger.sheets.fonts import PDF_FONT, pdf_font
from ledger.timeutil import LOCAL_TZ, utcnow
from ledger.view import typed

FONT = PDF_FONT  # embedded (ledger/sheets/fonts.py)
MAX_PERIOD_DAYS = 3 * 366 + 1
MAX_LINES = 500  # activities on one certificate; beyond this, issue per year
CODE_BYTES = 12
VERIFY_PATH = "/cert/"



def hours_text(minutes: int) -> str:
    """Minutes as hours with two decimals, truncated (never rounded up): 20 → 0.33."""
    return f"{minutes // 60}.{(minutes % 60) * 100 // 60:02d}"


def local_day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (datetime.combine(start, time.min, LOCAL_TZ),
            datetime.combine(end, time.max, LOCAL_TZ))


def certified_lines(s: Session, person_id: int, start: date, end: date) -> list[dict]:
    lo, hi = local_day_bounds(start, end)
    rows = s.execute(select(Attendance, Activity, Village.name).join(
        Activity, Activity.id == Attendance.activity_id).join(
        Village, Village.id == Activity.village_id).where(
        Attendance.person_id == person_id, Attendance.review.in_(list(CERTIFIED_REVIEWS)),
        Attendance.counted_minutes > 0, Activity.starts_at >= lo, Activity.starts_at <= hi)
        .order_by(Activity.starts_at, Attendance.id).limit(MAX_LINES + 1)).all()
    if len(rows) > MAX_LINES:
        raise InvalidInput(f"more than {MAX_LINES} activities: issue one certificate per year",
                           code="certificate_too_many_lines")
    return [{"attendance_id": a.id, "date": act.starts_at.astimezone(LOCAL_TZ).date().isoformat(),
             "title": act.title, "place": act.place, "unit": vname,
             "minutes": a.counted_minutes} for a, act, vname in rows]


def ledger_minutes(s: Session, person_id: int, attendance_ids: list[int]) -> int:
    """What the minutes book says those attendances left on the person's certified account."""
    if not attendance_ids:
        return 0
    acct = s.scalar(select(Account.id).where(
        Account.unit == Unit.MINUTES, Account.holder_type == HolderType.PERSON,
        Account.holder_id == person_id, Account.purpose == Purpose.POINTS))
    if acct is None:
        return 0
    return int(s.scalar(select(func.coalesce(func.sum(Posting.amount), 0)).join(
        JournalEntry, JournalEntry.id == Posting.entry_id).where(
        Posting.account_id == acct, JournalEntry.source == SOURCE,
        JournalEntry.source_ref.in_([str(i) for i in attendance_ids]))))


def issue(db: Database, settings: Settings, actor: Actor, *, person_id: int, start: date,
          end: date, key: str | None = None, now: datetime | None = None) -> CertificateView:
    """Freeze the figures and return the certificate's record (render it with `render_pdf`).
    With a key, a retried request answers with the certificate it issued."""
    now = now or utcnow()
    if end < start or (end - start).days > MAX_PERIOD_DAYS:
        raise InvalidInput("the period must run forwards and cover at most three years",
                           code="period_invalid", field="end")

    def work(s: Session) -> dict:
        person = s.get(Person, person_id)
        if person is None:
            raise NotFound(f"person {person_id} does not exist", code="person_not_found")
        if actor.person_id != person_id and not may(actor, "village.admin", person.village_id):
            raise Forbidden("只能为本人或本村志愿者出具证明", code="forbidden_certificate")
        village = s.get(Village, person.village_id)
        town = s.get(Town, village.town_id)
        lines = certified_lines(s, person_id, start, end)
        total = sum(x["minutes"] for x in lines)
        booked = ledger_minutes(s, person_id, [x["attendance_id"] for x in lines])
        # Invariant: certified attendances and the minutes book agree to the minute.
        assert booked == total, f"ledger {booked} != attendances {total} for person {person_id}"
        code = secrets.token_urlsafe(CODE_BYTES)
        issuer = f"{town.name}{village.name}"
        body = {"code": code, "person_id": person_id, "name": person.name,
                "period": [start.isoformat(), end.isoformat()], "lines": lines,
                "minutes_total": total, "issuer": issuer, "issued_at": now.isoformat()}
        cert = Certificate(
            code=code, person_id=person_id, period_start=start, period_end=end,
            minutes_total=total, activities_count=len(lines), issuer=issuer,
            issuer_village_id=village.id, issued_by=actor.user_id, issued_at=now, lines=lines,
            content_sha256=hashlib.sha256(canonical_json(body).encode()).hexdigest())
        s.add(cert)
        s.flush()
        return record_view(cert, person, settings)

    return typed(book.write(db, work, key=key, request={
        "op": "certificate", "person": person_id, "start": start.isoformat(),
        "end": end.isoformat()}).result, CertificateView)


def record_view(cert: Certificate, person: Person, settings: Settings) -> dict:
    return {"code": cert.code, "person_id": cert.person_id, "name": person.name,
            "id_masked": mask_id_number(person.id_number) or "—",
            "period_start": cert.period_start.isoformat(),
            "period_end": cert.period_end.isoformat(), "minutes_total": cert.minutes_total,
            "hours": hours_text(cert.minutes_total), "activities_count": cert.activities_count,
            "issuer": cert.issuer, "issued_at": cert.issued_at.isoformat(),
            "lines": cert.lines, "content_sha256": cert.content_sha256,
            "verify_url": verify_url(settings, cert.code)}


def verify_url(settings: Settings, code: str) -> str:
    return f"{settings.public_base_url}{VERIFY_PATH}{code}"


def verify(db: Database, code: str) -> CertificateCheck:
    """What anyone holding the paper may check: no full name, no id number."""
    if not code or len(code) > 32:
        raise NotFound("no certificate has this code", code="certificate_not_found")
    with db.sessions() as s:
        cert = s.scalar(select(Certificate).where(Certificate.code == code))
        if cert is None:
            raise NotFound("no certificate has this code", code="certificate_not_found")
        person = s.get(Person, cert.person_id)
        return typed({"code": cert.code, "valid": cert.revoked_at is None,
                "masked_name": mask_name(person.name),
                "period_start": cert.period_start.isoformat(),
                "period_end": cert.period_end.isoformat(),
                "minutes_total": cert.minutes_total, "hours": hours_text(cert.minutes_total),
                "activities_count": cert.activities_count, "issuer": cert.issuer,
                "issued_at": cert.issued_at.isoformat(),
                "check_code": cert.content_sha256[:16],
                "revoked_reason": cert.revoked_reason or None}, CertificateCheck)


def load(db: Database, settings: Settings, actor: Actor, code: str) -> CertificateView:
    """An issued certificate, for its volunteer or an admin of their village."""
    with db.sessions() as s:
        cert = s.scalar(select(Certificate).where(Certificate.code == code))
        if cert is None:
            raise NotFound("no certificate has this code", code="certificate_not_found")
        person = s.get(Person, cert.person_id)
        if actor.person_id != cert.person_id and not may(actor, "village.admin", person.village_id):
            raise Forbidden("not your certificate", code="forbidden_certificate")
        return typed(record_view(cert, person, settings), CertificateView)


def _qr_image(url: str):
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    return qr.make_image(fill_color="black", back_color="white").get_image()


def _font() -> None:
    pdf_font()


def render_pdf(rec: CertificateView) -> bytes:
    """One A4 page (more when the table runs long), the QR code at the foot of the last."""
    _font()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle("志愿服务记录证明")
    c.setAuthor(rec.issuer)
    w, h = A4
    left, right = 22 * mm, w - 22 * mm
    c.setFont(FONT, 22)
    c.drawCentredString(w / 2, h - 30 * mm, "志愿服务记录证明")
    c.setFont(FONT, 10)
    c.drawRightString(right, h - 38 * mm, f"证明编号：{rec.code}")
    text = (f"兹证明 {rec.name}（证件号码：{rec.id_masked}）于 {rec.period_start} 至 "
            f"{rec.period_end} 期间参加志愿服务活动 {rec.activities_count} 次，经记录"
            f"确认的志愿服务时长共计 {rec.hours} 小时（{rec.minutes_total} 分钟）。")
    y = _wrap(c, text, left, h - 50 * mm, right - left, 12, 18)
    y -= 6 * mm
    cols = [left, left + 12 * mm, left + 38 * mm, left + 118 * mm, right - 22 * mm]
    heads = ["序号", "日期", "活动名称", "组织单位", "时长（小时）"]
    y = _row(c, cols, heads, y)
    for i, line in enumerate(rec.lines, 1):
        if y < 70 * mm:
            c.showPage()
            y = _row(c, cols, heads, h - 25 * mm)
        y = _row(c, cols, [str(i), line["date"], line["title"][:26], line["unit"][:12],
                           hours_text(line["minutes"])], y)
    c.setFont(FONT, 11)
    c.drawString(left, 52 * mm, f"出具单位：{rec.issuer}")
    c.drawString(left, 45 * mm, f"出具日期：{rec.issued_at[:10]}")
    c.setFont(FONT, 9)
    c.drawString(left, 36 * mm, f"校验码：{rec.content_sha256[:16]}")
    c.drawString(left, 30 * mm, "本证明依据《志愿服务记录与证明出具办法（试行）》出具，"
                                "扫描右侧二维码可在线核验。")
    size = 38 * mm
    c.drawImage(ImageReader(_qr_image(rec.verify_url)), right - size, 22 * mm, size, size)
    c.drawCentredString(right - size / 2, 19 * mm, "扫码核验")
    c.showPage()
    c.save()
    return buf.getvalue()


def _row(c: canvas.Canvas, cols: list[float], cells: list[str], y: float) -> float:
    c.setFont(FONT, 10)
    for x, cell in zip(cols, cells, strict=True):
        c.drawString(x, y, cell)
    c.setLineWidth(0.3)
    c.line(cols[0], y - 2.5 * mm, cols[-1] + 22 * mm, y - 2.5 * mm)
    return y - 8 * mm


def _wrap(c: canvas.Canvas, text: str, x: float, y: float, width: float, size: int,
          leading: int) -> float:
    """Chinese wraps at any character; measure and break."""
    c.setFont(FONT, size)
    line = ""
    for ch in text:
        if pdfmetrics.stringWidth(line + ch, FONT, size) > width:
            c.drawString(x, y, line)
            y -= leading
            line = ""
        line += ch
    if line:
        c.drawString(x, y, line)
        y -= leading
    return y


def of_person(db: Database, actor: Actor, *, limit: int) -> list[CertificateListed]:
    """The actor's own certificates, newest first (at most `limit`)."""
    if actor.person_id is None:
        return []
    with db.sessions() as s:
        rows = list(s.scalars(select(Certificate).where(Certificate.person_id == actor.person_id)
                              .order_by(Certificate.id.desc()).limit(limit)))
    return [CertificateListed(code=c.code, period_start=c.period_start.isoformat(),
                              period_end=c.period_end.isoformat(),
                              minutes_total=c.minutes_total,
                              activities_count=c.activities_count,
                              issued_at=c.issued_at.isoformat()) for c in rows]
