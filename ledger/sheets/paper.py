"""Printed sheets for the village office and its notice board (A4 PDF, the embedded CJK font of
ledger/sheets/fonts.py, vector QR codes):

- vouchers: a sheet of an order batch's vouchers (eight a page) for people without a phone;
  the clerk scans each QR (the voucher's own /v/{code} address) as they would on a phone;
- the 公示 sheet: the awards and deductions on public notice in a village, each with its item,
  points, the household or person masked as on the public pages, and the last day to object;
  a QR code to the village's online notice board (NOTICE_BOARD_PATH);
- the monthly score sheet (红榜): the village's households by the month's score, and, only when
  asked (off by default, as DESIGN.md says), the households that most need to improve, masked.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.db import Database
from ledger.errors import InvalidInput, LimitExceeded, NotFound
from ledger.identity.actor import require
from ledger.identity.roles import REGISTRY_ADMINS
from ledger.recognition import rollups
from ledger.recognition.models import HolderRollup
from ledger.redemption import vouchers
from ledger.redemption.models import Provider, RedemptionOrder, Reward, Voucher, VoucherStatus
from ledger.registry.models import Household, Person, Town, Village
from ledger.registry.privacy import mask_name
from ledger.rules.explain import village_notices
from ledger.rules.spec import points_of
from ledger.rules.store import scale_in_force as points_scale
from ledger.sheets.fonts import pdf_font
from ledger.sheets.labels import HOLDERS, label
from ledger.timeutil import LOCAL_TZ, utcnow

MAX_VOUCHERS_PER_SHEET = 400
MAX_NOTICE_ROWS = 300
MAX_BOARD_ROWS = 50
DEFAULT_TOP = 20
DEFAULT_IMPROVE = 10
NOTICE_BOARD_PATH = "/villages/{village_id}/notices"  # the village's online 公示栏 page
VOUCHERS_PER_ROW, VOUCHER_ROWS = 2, 4


def notice_board_url(public_base_url: str, village_id: int) -> str:
    return public_base_url.rstrip("/") + NOTICE_BOARD_PATH.format(village_id=village_id)


def _canvas(title: str):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle(title)
    c.setAuthor("Jifen 积分")
    return buf, c, A4


def _qr(c, data: str, x: float, y: float, size: float) -> None:
    """A vector QR code (error correction M) with its quiet zone, `size` points wide."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    w = QrCodeWidget(data, barLevel="M")
    x0, y0, x1, y1 = w.getBounds()
    d = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    d.add(w)
    renderPDF.draw(d, c, x, y)


def _local_day(dt: datetime | None) -> str:
    return dt.astimezone(LOCAL_TZ).strftime("%Y年%m月%d日") if dt else ""


# -- vouchers ------------------------------------------------------------------------------

def vouchers_pdf(db: Database, actor, order_ids: Sequence[int], *, public_base_url: str) -> bytes:
    """The open vouchers of the given orders, eight a page; orders of holders outside the
    caller's villages are refused, used or cancelled vouchers are left out."""
    ids = list(dict.fromkeys(order_ids))
    if not 1 <= len(ids) <= MAX_VOUCHERS_PER_SHEET:
        raise LimitExceeded(f"1 to {MAX_VOUCHERS_PER_SHEET} orders per sheet",
                            code="voucher_sheet_size")
    with db.sessions() as s:
        rows = s.execute(select(RedemptionOrder, Voucher, Reward.name, Provider.name)
                         .join(Voucher, Voucher.order_id == RedemptionOrder.id)
                         .join(Reward, Reward.id == RedemptionOrder.reward_id)
                         .join(Provider, Provider.id == RedemptionOrder.provider_id)
                         .where(RedemptionOrder.id.in_(ids))
                         .order_by(RedemptionOrder.id)).all()
        cards = []
        for o, v, reward, provider in rows:
            village_id, name = _holder(s, o.holder_type, o.holder_id)
            require(actor, REGISTRY_ADMINS, village_id, "printing vouchers")
            if v.status != VoucherStatus.ISSUED:
                continue
            cards.append((v.code, reward, o.quantity, provider, mask_name(name), v.expires_at))
    if not cards:
        raise NotFound("no open voucher among these orders", code="voucher_not_found")
    return _voucher_sheet(cards, public_base_url)


def _holder(s: Session, holder_type: str, holder_id: int) -> tuple[int, str]:
    if holder_type == "household":
        h = s.get(Household, holder_id)
        return h.village_id, h.head_name
    p = s.get(Person, holder_id)
    return p.village_id, p.name


def _voucher_sheet(cards: list, public_base_url: str) -> bytes:
    from reportlab.lib.units import mm
    font = pdf_font()
    buf, c, (pw, ph) = _canvas("积分兑换券")
    margin = 10 * mm
    cw, ch = (pw - 2 * margin) / VOUCHERS_PER_ROW, (ph - 2 * margin) / VOUCHER_ROWS
    for i, (code, reward, qty, provider, name, expires) in enumerate(cards):
        slot = i % (VOUCHERS_PER_ROW * VOUCHER_ROWS)
        if i and slot == 0:
            c.showPage()
        x = margin + (slot % VOUCHERS_PER_ROW) * cw
        y = ph - margin - (slot // VOUCHERS_PER_ROW + 1) * ch
        c.setDash(3, 3)
        c.rect(x + 2, y + 2, cw - 4, ch - 4)
        c.setDash()
        qr = min(ch - 20 * mm, 40 * mm)
        _qr(c, vouchers.voucher_url(public_base_url, code), x + cw - qr - 4 * mm,
            y + (ch - qr) / 2, qr)
        c.setFont(font, 15)
        c.drawString(x + 6 * mm, y + ch - 12 * mm, "积分兑换券")
        c.setFont(font, 10)
        lines = [f"礼品：{reward} × {qty}", f"兑换点：{provider}", f"持券人：{name}",
                 f"有效期至：{expires.astimezone(LOCAL_TZ):%Y-%m-%d}"]
        room = cw - qr - 12 * mm  # the text stops short of the QR code
        for n, text in enumerate(lines):
            c.drawString(x + 6 * mm, y + ch - (22 + 7 * n) * mm, _fit(text, font, 10, room))
        c.setFont(font, 8)
        c.drawString(x + 6 * mm, y + 9 * mm, vouchers.display_code(code))
        c.drawString(x + 6 * mm, y + 5 * mm, "凭券到兑换点扫码领取，一券一用")
    c.showPage()
    c.save()
    return buf.getvalue()


def _fit(text: str, font: str, size: float, width: float) -> str:
    """The text cut (with …) to fit `width` points."""
    from reportlab.pdfbase.pdfmetrics import stringWidth
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


# -- the 公示 sheet --------------------------------------------------------------------------

def notice_sheet_pdf(db: Database, actor, village_id: int, *, public_base_url: str,
                     now: datetime | None = None) -> bytes:
    """What the village's online notice board shows (rules.explain.village_notices: masked
    holders, points, the last day to object), printed for the board by the village office."""
    require(actor, REGISTRY_ADMINS, village_id, "printing the notice sheet")
    now = now or utcnow()
    with db.sessions() as s:
        v, town = _village(s, village_id)
        notices = [n for n in village_notices(s, village_id, now) if n["open_for_objection"]]
    if len(notices) > MAX_NOTICE_ROWS:
        raise LimitExceeded(f"more than {MAX_NOTICE_ROWS} items on notice",
                            code="notice_sheet_too_long")
    rows = [(str(i), n["holder_name"], label(HOLDERS, n["holder_type"]),
             n["item_name"][:20], _signed(n["points"]),
             _local_day(datetime.fromisoformat(n["notice_until"])))
            for i, n in enumerate(notices, 1)]
    title = f"{town}{v.name}积分公示"
    lines = [f"公示时间：{_local_day(now)}起，每项至“异议截止”日止。",
             "对公示内容有异议的，请在异议截止日前向村（社区）委员会书面或当面提出，",
             "或扫描右侧二维码进入本村公示栏在线提出。逾期无异议的，积分计入。"]
    return _table_sheet(title, lines, ["序号", "对象", "类型", "事项", "积分", "异议截止"],
                        rows, notice_board_url(public_base_url, village_id),
                        "扫码进入公示栏", widths=(12, 26, 16, 66, 22, 36))


def _signed(p: int | float) -> str:
    return f"+{p}" if p > 0 else str(p)


def _village(s: Session, village_id: int) -> tuple[Village, str]:
    v = s.get(Village, village_id)
    if v is None:
        raise NotFound(f"village {village_id} does not exist", code="village_not_found")
    return v, s.get(Town, v.town_id).name


def _table_sheet(title: str, intro: list[str], head: list[str], rows: list[tuple],
                 qr_url: str | None, qr_label: str, widths: Sequence[float],
                 more: list[tuple[str, list[str], list[tuple]]] = ()) -> bytes:
    """A title, lines of text, a table that runs over pages, more titled tables, a QR."""
    from reportlab.lib.units import mm
    font = pdf_font()
    buf, c, (pw, ph) = _canvas(title)
    left = 18 * mm
    xs = [left]
    for w in widths[:-1]:
        xs.append(xs[-1] + w * mm)
    c.setFont(font, 20)
    c.drawCentredString(pw / 2, ph - 22 * mm, title)
    c.setFont(font, 10)
    y = ph - 32 * mm
    for line in intro:
        c.drawString(left, y, line)
        y -= 6 * mm
    if qr_url:
        size = 30 * mm
        _qr(c, qr_url, pw - left - size, ph - 32 * mm - size + 6 * mm, size)
        c.drawCentredString(pw - left - size / 2, ph - 32 * mm - size + 3 * mm, qr_label)
        y = min(y, ph - 32 * mm - size - 4 * mm)

    def table(head: list[str], rows: list[tuple], y: float) -> float:
        c.setFont(font, 11)
        for x, h in zip(xs, head, strict=True):
            c.drawString(x, y, h)
        c.line(left, y - 2 * mm, pw - left, y - 2 * mm)
        y -= 8 * mm
        c.setFont(font, 10)
        for r in rows:
            if y < 20 * mm:
                c.showPage()
                c.setFont(font, 10)
                y = ph - 20 * mm
            for x, cell in zip(xs, r, strict=True):
                c.drawString(x, y, str(cell))
            y -= 7 * mm
        if not rows:
            c.drawString(left, y, "（无）")
            y -= 7 * mm
        return y

    y = table(head, rows, y)
    for sub, sub_head, sub_rows in more:
        y -= 6 * mm
        if y < 40 * mm:
            c.showPage()
            y = ph - 20 * mm
        c.setFont(font, 14)
        c.drawString(left, y, sub)
        y = table(sub_head, sub_rows, y - 9 * mm)
    c.showPage()
    c.save()
    return buf.getvalue()


# -- the monthly score sheet (红榜) ---------------------------------------------------------

def parse_month(text: str) -> date:
    try:
        y, m = text.split("-")
        return date(int(y), int(m), 1)
    except ValueError:
        raise InvalidInput("month must be YYYY-MM", code="month_invalid") from None


def score_sheet_pdf(db: Database, actor, village_id: int, month: str, *,
                    top: int = DEFAULT_TOP, include_improve: bool = False,
                    improve: int = DEFAULT_IMPROVE, public_base_url: str) -> bytes:
    """The month's households by score; the ones that most need to improve only when asked,
    and then only masked (never more than a masked name leaves the office)."""
    require(actor, REGISTRY_ADMINS, village_id, "printing the score sheet")
    first = parse_month(month)
    if not 1 <= top <= MAX_BOARD_ROWS or not 1 <= improve <= MAX_BOARD_ROWS:
        raise InvalidInput(f"1 to {MAX_BOARD_ROWS} rows", code="board_size_invalid")
    rollups.catch_up(db, mode="new")
    with db.sessions() as s:
        v, town = _village(s, village_id)
        scale = points_scale(s)
        key = f"month:{first:%Y-%m}"
        base = (select(HolderRollup.holder_id, HolderRollup.net)
                .where(HolderRollup.village_id == village_id, HolderRollup.unit == "points",
                       HolderRollup.holder_type == "household", HolderRollup.period_key == key))
        best = s.execute(base.where(HolderRollup.net > 0)
                         .order_by(HolderRollup.net.desc(), HolderRollup.holder_id)
                         .limit(top)).all()
        worst = s.execute(base.where(HolderRollup.net < 0)
                          .order_by(HolderRollup.net, HolderRollup.holder_id)
                          .limit(improve)).all() if include_improve else []
        homes = {h.id: h for h in s.scalars(select(Household).where(
            Household.id.in_([hid for hid, _ in best + worst])))} if best or worst else {}
        rows = [(f"第{i}名", mask_name(homes[hid].head_name), homes[hid].address[:16],
                 points_of(net, scale)) for i, (hid, net) in enumerate(best, 1)]
        more = [("需要改进的户（姓名已隐去）", ["序号", "户主", "", "本月得分（积分）"],
                 [(str(i), mask_name(homes[hid].head_name), "", points_of(net, scale))
                  for i, (hid, net) in enumerate(worst, 1)])] if include_improve else []
    title = f"{town}{v.name} {first.year}年{first.month}月文明积分红榜"
    intro = ["按本月文明积分（加分减扣分）排序，得分相同按登记先后。",
             "对名单有疑问的，请向村（社区）委员会反映。"]
    return _table_sheet(title, intro, ["名次", "户主", "地址", "本月得分（积分）"], rows,
                        notice_board_url(public_base_url, village_id), "扫码查看公示栏",
                        widths=(22, 30, 70, 40), more=more)
