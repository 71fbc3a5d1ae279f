"""Voucher codes and their QR images.

A code is 120 random bits from `secrets`, written in 24 characters of an alphabet without look-
alikes (no 0/O, 1/I/L), so it can be read aloud or typed at the counter if a camera fails. Its QR
code points at `{public_base_url}/v/{code}`, the page a clerk's phone opens when it scans it.
"""

from __future__ import annotations

import io
import re
import secrets

import qrcode
import qrcode.image.svg

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # 31 symbols, no 0 O 1 I L
CODE_LENGTH = 24  # 31**24 ≈ 2**119
CODE_MAX_INPUT = 64  # longest string accepted as a code (spaces and dashes are dropped)
_CODE_RE = re.compile(f"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
QR_BOX_PX = 8
QR_BORDER = 4


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str) -> str | None:
    """The canonical code for what a clerk scanned or typed, or None if it cannot be one."""
    if not isinstance(raw, str) or len(raw) > CODE_MAX_INPUT:
        return None
    code = re.sub(r"[\s-]", "", raw).upper()
    return code if _CODE_RE.match(code) else None


def display_code(code: str) -> str:
    """Groups of four for reading aloud: ABCD-EFGH-…"""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def voucher_url(public_base_url: str, code: str) -> str:
    return f"{public_base_url.rstrip('/')}/v/{code}"


def _qr(data: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=QR_BOX_PX,
                       border=QR_BORDER)
    qr.add_data(data)
    qr.make(fit=True)
    return qr


def qr_png(public_base_url: str, code: str) -> bytes:
    buf = io.BytesIO()
    _qr(voucher_url(public_base_url, code)).make_image().save(buf, format="PNG")
    return buf.getvalue()


def qr_svg(public_base_url: str, code: str) -> bytes:
    buf = io.BytesIO()
    _qr(voucher_url(public_base_url, code)).make_image(
        image_factory=qrcode.image.svg.SvgPathImage).save(buf)
    return buf.getvalue()
