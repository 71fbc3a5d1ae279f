"""The Chinese font embedded in every PDF we print (door plates, certificates, posters,
vouchers, notice sheets), so that a viewer or print shop without an Asian font pack still shows
every character. reportlab embeds a subset of a TrueType font (only the glyphs used); it cannot
embed CFF outlines, so Noto CJK (OpenType/CFF) will not do: the font is WenQuanYi Zen Hei from
Debian's `fonts-wqy-zenhei` (scripts/sysdeps.sh), or any TrueType CJK font named by
JIFEN_PDF_FONT (a .ttf, or a .ttc whose first face is the one to use)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ledger.config import env
from ledger.errors import DomainError

PDF_FONT = "JifenCJK"
FONT_ENV = "JIFEN_PDF_FONT"
TRUETYPE_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian/Ubuntu: fonts-wqy-zenhei
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # fonts-wqy-microhei
    "/usr/share/fonts/wenquanyi/wqy-zenhei/wqy-zenhei.ttc",  # Fedora, Arch
    "/usr/share/fonts/truetype/arphic/uming.ttc",  # fonts-arphic-uming
)


class PdfFontMissing(DomainError):
    code = "pdf_font_missing"
    status = 503
    title = "No Chinese font to embed in the PDF"


def font_path() -> str | None:
    named = env(FONT_ENV)
    for p in ((named,) if named else ()) + TRUETYPE_CANDIDATES:
        if p and Path(p).is_file():
            return p
    return None


@lru_cache(maxsize=1)
def pdf_font() -> str:
    """Register the font with reportlab once per process and return its name for setFont."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    path = font_path()
    if path is None:
        raise PdfFontMissing("没有可嵌入 PDF 的中文字体：请安装 fonts-wqy-zenhei 或设置 "
                             f"{FONT_ENV} (no TrueType CJK font: install fonts-wqy-zenhei or set "
                             f"{FONT_ENV})")
    try:
        pdfmetrics.registerFont(TTFont(PDF_FONT, path, subfontIndex=0))
    except TTFError as exc:
        raise PdfFontMissing(f"{path} cannot be embedded: {exc}") from None
    return PDF_FONT
