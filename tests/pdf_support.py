"""Reading back the PDFs we print (no tests here): their text, and the fonts their text is set
in, with whether each is embedded in the file (pdfium's own answer)."""

from __future__ import annotations

import ctypes

import pypdfium2 as pdfium
from pypdfium2 import raw


def pdf_text(pdf: bytes) -> str:
    doc = pdfium.PdfDocument(pdf)
    return "".join(p.get_textpage().get_text_range() for p in doc).replace("\r", "")


def text_fonts(pdf: bytes) -> dict[str, bool]:
    """Base font name → embedded, for every font that sets text on any page."""
    doc = pdfium.PdfDocument(pdf)
    out: dict[str, bool] = {}
    for page in doc:
        for obj in page.get_objects(filter=(raw.FPDF_PAGEOBJ_TEXT,), max_depth=4):
            font = raw.FPDFTextObj_GetFont(obj.raw)
            n = raw.FPDFFont_GetBaseFontName(font, None, 0)
            buf = ctypes.create_string_buffer(n)
            raw.FPDFFont_GetBaseFontName(font, buf, n)
            out[buf.value.decode("latin-1")] = bool(raw.FPDFFont_GetIsEmbedded(font))
    return out


# The PDF standard's 14 fonts: every viewer has them (Latin only), nothing to embed.
STANDARD_14 = {"Helvetica", "Helvetica-Bold", "Helvetica-Oblique", "Helvetica-BoldOblique",
               "Times-Roman", "Times-Bold", "Times-Italic", "Times-BoldItalic", "Courier",
               "Courier-Bold", "Courier-Oblique", "Courier-BoldOblique", "Symbol", "ZapfDingbats"}


def assert_chinese_embedded(pdf: bytes, *texts: str) -> None:
    """Each text is found in the PDF, a font is embedded, and every font of the PDF's text is
    embedded or one of the standard 14 (Latin only)."""
    text = pdf_text(pdf)
    for t in texts:
        assert t in text, f"{t!r} not in the PDF's text"
    fonts = text_fonts(pdf)
    assert any(fonts.values()), f"no embedded font: {fonts}"
    missing = {f for f, embedded in fonts.items() if not embedded and f not in STANDARD_14}
    assert not missing, f"fonts not embedded: {missing}"
