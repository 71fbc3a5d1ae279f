"""Door plates (二维码门牌): each household's permanent QR code pointing at its public page,
as PNG or SVG, and a printable A4 sheet of a village's plates (PDF, eight per page)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M
from ledger.sheets.fonts import PDF_FONT, pdf_font

PUBLIC_PATH = "/h/"
MAX_BOX_PX = 40  # PNG module size bounds (pixels per module)
MIN_BOX_PX = 2
DEFAULT_BOX_PX = 10
QUIET_ZONE_MODULES = 4
MAX_PLATES_PER_SHEET = 5000  # one village's plates; a bigger run is split by the caller
PLATES_PER_ROW, ROWS_PER_PAGE = 2, 4
CJK_FONT = PDF_FONT  # embedded (ledger/sheets/fonts.py)


def plate_url(public_base_url: str, plate_code: str) -> str:
    return f"{public_base_url.rstrip('/')}{PUBLIC_PATH}{plate_code}"


def _qr(data: str, border: int = QUIET_ZONE_MODULES, box: int = DEFAULT_BOX_PX) -> qrcode.QRCode:
    # Level M survives a scuffed or weathered plate (15% of modules) at a small size.
    q = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box, border=border)
    q.add_data(data)
    q.make(fit=True)
    return q


def qr_png(data: str, box_px: int = DEFAULT_BOX_PX) -> bytes:
    if not MIN_BOX_PX <= box_px <= MAX_BOX_PX:
        raise ValueError(f"box_px must be {MIN_BOX_PX}..{MAX_BOX_PX}")
    out = io.BytesIO()
    _qr(data, box=box_px).make_image(fill_color="black", back_color="white").save(out, "PNG")
    return out.getvalue()


def qr_svg(data: str) -> str:
    out = io.BytesIO()
    _qr(data).make_image(image_factory=qrcode.image.svg.SvgPathImage).save(out)
    return out.getvalue().decode("utf-8")


@dataclass(frozen=True)
class Plate:
    plate_code: str
    address: str = ""


def _draw_qr(c, matrix: list[list[bool]], x: float, y: float, size: float) -> None:
    """Vector modules, one rectangle per horizontal run of dark modules: sharp at any size."""
    n = len(matrix)
    cell = size / n
    for r, row in enumerate(matrix):
        col = 0
        while col < n:
            if not row[col]:
                col += 1
                continue
            start = col
            while col < n and row[col]:
                col += 1
            c.rect(x + start * cell, y + size - (r + 1) * cell, (col - start) * cell, cell,
                   stroke=0, fill=1)


def plates_pdf(*, town: str, village: str, plates: Sequence[Plate], public_base_url: str,
               progress: Callable[[int], None] | None = None) -> bytes:
    """An A4 sheet, eight plates a page, each with the town and village, the QR code, the
    address and the plate's short number. `progress(n)` is told after each plate."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    if len(plates) > MAX_PLATES_PER_SHEET:
        raise ValueError(f"at most {MAX_PLATES_PER_SHEET} plates per sheet")
    pdf_font()
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4, pageCompression=1)
    c.setTitle(f"{town}{village} 二维码门牌")
    c.setAuthor("Jifen 积分")
    page_w, page_h = A4
    margin = 10 * mm
    card_w = (page_w - 2 * margin) / PLATES_PER_ROW
    card_h = (page_h - 2 * margin) / ROWS_PER_PAGE
    red = colors.HexColor("#b71c1c")
    per_page = PLATES_PER_ROW * ROWS_PER_PAGE
    for i, plate in enumerate(plates):
        if i and i % per_page == 0:
            c.showPage()
        slot = i % per_page
        x = margin + (slot % PLATES_PER_ROW) * card_w
        y = page_h - margin - (slot // PLATES_PER_ROW + 1) * card_h
        pad = 4 * mm
        c.setStrokeColor(red)
        c.setLineWidth(1.5)
        c.roundRect(x + 2 * mm, y + 2 * mm, card_w - 4 * mm, card_h - 4 * mm, 3 * mm)
        band_h = 11 * mm
        c.setFillColor(red)
        c.rect(x + 2 * mm, y + card_h - 2 * mm - band_h, card_w - 4 * mm, band_h, stroke=0,
               fill=1)
        c.setFillColor(colors.white)
        c.setFont(CJK_FONT, 13)
        c.drawCentredString(x + card_w / 2, y + card_h - 2 * mm - band_h + 3.8 * mm,
                            f"{town} · {village}")
        qr_size = card_h - band_h - 2 * pad - 4 * mm
        qx, qy = x + 2 * mm + pad, y + 2 * mm + pad
        c.setFillColor(colors.black)
        _draw_qr(c, _qr(plate_url(public_base_url, plate.plate_code), border=0).get_matrix(),
                 qx, qy, qr_size)
        tx = qx + qr_size + pad
        ty = qy + qr_size - 6 * mm
        c.setFont(CJK_FONT, 15)
        c.setFillColor(red)
        c.drawString(tx, ty, "文明积分门牌")
        c.setFillColor(colors.black)
        c.setFont(CJK_FONT, 10)
        lines = _wrap(plate.address or "", 11)[:3]
        for k, line in enumerate(lines):
            c.drawString(tx, ty - (8 + 5 * k) * mm, line)
        c.setFont(CJK_FONT, 9)
        c.drawString(tx, qy + 8 * mm, "扫码查看本户积分")
        c.setFont("Helvetica", 8)
        c.drawString(tx, qy + 2 * mm, f"No. {plate.plate_code[:6]}")
        if progress is not None:
            progress(i + 1)
    if not plates:
        c.setFont(CJK_FONT, 14)
        c.drawString(margin, page_h - margin - 10 * mm, f"{town}{village}：暂无住户")
    c.save()
    return out.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)] if text else []
