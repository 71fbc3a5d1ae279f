"""Jinja filters for the pages: local times, masked names, and QR codes as inline SVG."""

from __future__ import annotations

import io
import re
from datetime import datetime

import qrcode
import qrcode.image.svg
from jinja2 import Environment
from markupsafe import Markup

from ledger.registry.privacy import mask_given_name
from ledger.timeutil import LOCAL_TZ
from ledger.units import points_text

MAX_QR_CHARS = 600


def localtime(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant shown in the town's time zone (Asia/Shanghai)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.strftime(fmt)
    return value.astimezone(LOCAL_TZ).strftime(fmt)


def mask_name(name: str | None) -> str:
    """A household or person shown in public: the family name and a mask (张**)."""
    return mask_given_name(name)


def signed(n: int | None) -> str:
    n = int(n or 0)
    return f"+{n}" if n > 0 else str(n)


def pts(steps: int | None, scale: int = 1, sign: bool = False) -> str:
    """Ledger steps shown as points: a town with half points keeps 2 steps per point, so 7
    steps read "3.5". Every amount on a page passes through here (ledger.units)."""
    return points_text(steps, scale, sign)


_CJK = re.compile(r"[\u4e00-\u9fff]")
_TRAILING_LATIN = re.compile(r"\s*[(（][^()（）]*[A-Za-z][^()（）]*[)）]\s*$")


def chinese_part(text: str | None) -> str:
    """A domain message written "中文 (English)" → "中文"; "" when it has no Chinese."""
    text = str(text or "")
    while _TRAILING_LATIN.search(text):
        text = _TRAILING_LATIN.sub("", text)
    return text if _CJK.search(text) else ""


def in_lang(text: str | None, lang: str) -> str:
    """A bilingual domain message in the page's language (the whole text off a zh page)."""
    return (chinese_part(text) or str(text or "")) if lang == "zh" else str(text or "")


def duration(minutes: int | None, lang: str = "zh") -> str:
    """Service time for people: minutes under an hour, else hours with one decimal."""
    m = int(minutes or 0)
    if m < 60:
        return f"{m} 分钟" if lang == "zh" else f"{m} min"
    h = f"{m / 60:.1f}".rstrip("0").rstrip(".")
    return f"{h} 小时" if lang == "zh" else f"{h} h"


_PERIOD = re.compile(r"^(year|month|quarter|half_year|week|day|custom):(.+)$")


def period_text(key: str | None, lang: str = "zh") -> str:
    """A period key as people read it: year:2026 → 2026年, month:2026-03 → 2026年3月,
    quarter:2026-Q1 → 2026年第1季度, custom:2026-01..2026-03 → 2026-01 至 2026-03."""
    m = _PERIOD.match(key or "")
    if m is None or lang != "zh":
        return str(key or "")
    kind, spec = m.groups()
    parts = re.split(r"[-QHW]+", spec) if kind != "custom" else []
    if kind == "year":
        return f"{spec}年"
    if kind == "month" and len(parts) == 2:
        return f"{parts[0]}年{int(parts[1])}月"
    if kind == "quarter" and len(parts) == 2:
        return f"{parts[0]}年第{int(parts[1])}季度"
    if kind == "half_year" and len(parts) == 2:
        return f"{parts[0]}年" + ("上半年" if parts[1] == "1" else "下半年")
    if kind == "week" and len(parts) == 2:
        return f"{parts[0]}年第{int(parts[1])}周"
    if kind == "custom":
        return spec.replace("..", " 至 ")
    return spec


def qr_svg(data: str, box_size: int = 10, label: str = "") -> Markup:
    """The QR code of `data` as an inline SVG element that scales with its container."""
    if len(data) > MAX_QR_CHARS:
        raise ValueError(f"QR payload longer than {MAX_QR_CHARS} characters")
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size,
                       border=2)
    qr.add_data(data)
    qr.make(fit=True)
    img = qr.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    buf = io.BytesIO()
    img.save(buf)
    svg = buf.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg"):]  # drop the XML declaration for inline use
    attrs = 'class="qr" role="img"' + (f' aria-label="{Markup.escape(label)}"' if label else "")
    return Markup(svg.replace("<svg", f"<svg {attrs}", 1))


def install(env: Environment) -> None:
    env.filters.update(localtime=localtime, mask_name=mask_name, signed=signed, qr_svg=qr_svg,
                       pts=pts, duration=duration, in_lang=in_lang, period_text=period_text)
