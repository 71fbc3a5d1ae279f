"""Reading the QR codes we print and show (no tests here), as a phone's camera does: a real
decoder (zbar), asked for QR codes only. Asked for every symbology, zbar now and then also
"finds" a one-dimensional barcode (a GS1 DataBar) in a plate's modules or a page's text, which
is nothing a camera scanning a QR code would report."""

from __future__ import annotations

import io

from PIL import Image
from pyzbar.pyzbar import ZBarSymbol, decode


def qr_texts(image: Image.Image | bytes) -> list[str]:
    """The text of every QR code in `image` (a PIL image, or PNG bytes), in zbar's order."""
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
    return [found.data.decode() for found in decode(image, symbols=[ZBarSymbol.QRCODE])]


def pdf_qr_texts(pdf: bytes, dpi: int = 200) -> list[str]:
    """The text of every QR code on every page of `pdf`, rendered at `dpi` (200: about what a
    phone's camera sees of a printed sheet held before it)."""
    import pypdfium2 as pdfium
    texts: list[str] = []
    for page in pdfium.PdfDocument(pdf):
        texts += qr_texts(page.render(scale=dpi / 72).to_pil())
    return texts
