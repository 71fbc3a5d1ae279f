"""Posters of published honor lists for a village notice board: PNG (Pillow, with a CJK font
found on the machine) and A4 PDF (with the embedded font of ledger/sheets/fonts.py). Both print
the content hash, the ledger checkpoint root and a QR code of the list's public address, so anyone can check a printed list against the ledger."""

from __future__ import annotations

import io
import os
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy.orm import Session

from ledger import outbox
from ledger.config import env
from ledger.errors import DomainError
from ledger.recognition.honor import get_list
from ledger.sheets.fonts import pdf_font
from ledger.timeutil import LOCAL_TZ

METRIC_LABELS = {"points": "积分", "hours": "服务时长（小时）", "household_score": "文明积分",
                 "collective_services": "集体服务（次）"}
SCOPE_LABELS = {"town": "全镇", "village": "本村", "team": "本队"}
PNG_WIDTH = 1240  # A4 at 150 dpi
MAX_POSTER_ROWS = 150
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)


class PosterFontMissing(DomainError):
    code = "poster_font_missing"
    status = 503
    title = "No Chinese font for the PNG poster"


@lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    given = env("JIFEN_CJK_FONT")
    for p in ((given,) if given else ()) + FONT_CANDIDATES:
        if p and Path(p).is_file():
            return p
    return None


def value_text(metric: str, value: int) -> str:
    if metric == "hours":
        return f"{value / 60:.1f}"
    return str(value)


def _lines(content: dict) -> tuple[str, str, list[tuple[str, str, str, str]], list[str]]:
    title = content["title"]
    sub = (f"{content.get('scope_name', '')} · {content['period'].split(':', 1)[1]} · "
           f"{METRIC_LABELS.get(content['metric'], content['metric'])}")
    rows = [(f"第{e['rank']}名", e["name"], e.get("village", ""),
             value_text(content["metric"], e["value"]))
            for e in content["entries"][:MAX_POSTER_ROWS]]
    cp = content.get("checkpoint") or {}
    local = datetime.fromisoformat(content["published_at"]).astimezone(LOCAL_TZ)
    foot = [f"发布时间 {local:%Y-%m-%d %H:%M}（北京时间）",
            f"内容哈希 sha256 {content.get('sha256', '')}",
            f"账本检查点 #{cp.get('id', '-')} {cp.get('root', '（尚无检查点）')}"]
    if content.get("note"):
        foot.insert(0, content["note"])
    return title, sub, rows, foot


def _qr_png(url: str, box: int = 4):  # noqa: ANN202
    import qrcode
    qr = qrcode.QRCode(border=2, box_size=box)
    qr.add_data(url)
    qr.make(fit=True)
    return qr.make_image(fill_color="black", back_color="white").get_image()


def render_png(content: dict, sha256: str, url: str) -> bytes:
    from PIL import Image, ImageDraw, ImageFont
    path = cjk_font_path()
    if path is None:
        raise PosterFontMissing("no CJK font installed (install fonts-noto-cjk or set "
                                "JIFEN_CJK_FONT); the PDF poster works without one")
    content = {**content, "sha256": sha256}
    title, sub, rows, foot = _lines(content)
    f_title, f_sub = ImageFont.truetype(path, 64), ImageFont.truetype(path, 30)
    f_row, f_foot = ImageFont.truetype(path, 34), ImageFont.truetype(path, 18)
    height = 330 + 52 * max(1, len(rows)) + 40 * len(foot) + 220
    img = Image.new("RGB", (PNG_WIDTH, height), (255, 250, 240))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, PNG_WIDTH, 170], fill=(190, 20, 30))
    d.text((PNG_WIDTH // 2, 60), "光荣榜", font=f_title, fill=(255, 230, 120), anchor="mm")
    d.text((PNG_WIDTH // 2, 130), title, font=f_sub, fill=(255, 255, 255), anchor="mm")
    d.text((PNG_WIDTH // 2, 215), sub, font=f_sub, fill=(120, 20, 20), anchor="mm")
    y = 290
    for rank, name, village, value in rows or [("", "（本期无人上榜）", "", "")]:
        d.text((120, y), rank, font=f_row, fill=(150, 20, 20))
        d.text((330, y), name, font=f_row, fill=(30, 30, 30))
        d.text((640, y), village, font=f_row, fill=(90, 90, 90))
        d.text((PNG_WIDTH - 120, y), value, font=f_row, fill=(30, 30, 30), anchor="ra")
        y += 52
    y += 30
    for line in foot:
        d.text((80, y), line, font=f_foot, fill=(90, 90, 90))
        y += 40
    qr = _qr_png(url).resize((180, 180))
    img.paste(qr, (PNG_WIDTH - 240, height - 210))
    d.text((80, height - 60), f"扫码核验 {url}", font=f_foot, fill=(90, 90, 90))
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def render_pdf(content: dict, sha256: str, url: str) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    font = pdf_font()
    content = {**content, "sha256": sha256}
    title, sub, rows, foot = _lines(content)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.setTitle(f"光荣榜 {title}")
    w, h = A4

    def header() -> float:
        c.setFillColorRGB(0.75, 0.08, 0.12)
        c.rect(0, h - 40 * mm, w, 40 * mm, stroke=0, fill=1)
        c.setFillColorRGB(1, 0.9, 0.47)
        c.setFont(font, 30)
        c.drawCentredString(w / 2, h - 20 * mm, "光荣榜")
        c.setFillColorRGB(1, 1, 1)
        c.setFont(font, 14)
        c.drawCentredString(w / 2, h - 32 * mm, title)
        c.setFillColorRGB(0.47, 0.08, 0.08)
        c.drawCentredString(w / 2, h - 50 * mm, sub)
        return h - 65 * mm

    y = header()
    c.setFont(font, 13)
    for rank, name, village, value in rows or [("", "（本期无人上榜）", "", "")]:
        if y < 60 * mm:
            c.showPage()
            y = header()
            c.setFont(font, 13)
        c.setFillColorRGB(0.1, 0.1, 0.1)
        c.drawString(25 * mm, y, rank)
        c.drawString(60 * mm, y, name)
        c.drawString(110 * mm, y, village)
        c.drawRightString(w - 25 * mm, y, value)
        y -= 8 * mm
    c.setFont(font, 7.5)
    c.setFillColorRGB(0.35, 0.35, 0.35)
    fy = 40 * mm
    for line in foot + [f"扫码核验 {url}"]:
        c.drawString(20 * mm, fy, line)
        fy -= 5 * mm
    c.drawImage(ImageReader(_qr_png(url, 6)), w - 50 * mm, 12 * mm, 35 * mm, 35 * mm)
    c.showPage()
    c.save()
    return buf.getvalue()


def poster_path(out_dir: str | Path, list_id: int, sha256: str, ext: str) -> Path:
    return Path(out_dir) / f"honor-{list_id}-{sha256[:16]}.{ext}"


def public_url(base_url: str, list_id: int) -> str:
    return f"{base_url.rstrip('/')}/honors/{list_id}"  # the public page (api/pages)


def poster_bytes(content: dict, sha256: str, base_url: str, ext: str,
                 out_dir: str | Path | None = None) -> bytes:
    """The poster, from the cache file the render task wrote, or rendered now (and cached)."""
    list_id = content["list_id"]
    path = poster_path(out_dir, list_id, sha256, ext) if out_dir else None
    if path is not None and path.is_file():
        return path.read_bytes()
    render = render_png if ext == "png" else render_pdf
    data = render(content, sha256, public_url(base_url, list_id))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader sees the whole poster or none
    return data


@outbox.handler("recognition.honor_poster")
def render_posters(s: Session, list_id: int, out_dir: str, base_url: str = "") -> dict:
    """Render both posters of a published list into the cache (idempotent: same files)."""
    hl = get_list(s, list_id)
    if hl.content is None:
        return {"list_id": list_id, "skipped": True}
    made = []
    for ext in ("pdf", "png"):
        try:
            poster_bytes(hl.content, hl.content_sha256, base_url or "", ext, out_dir)
            made.append(ext)
        except PosterFontMissing:
            continue
    return {"list_id": list_id, "rendered": made}
