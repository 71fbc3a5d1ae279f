"""A horizontal bar chart as inline SVG: readable on a phone, printable, no chart library."""

from __future__ import annotations

from markupsafe import Markup, escape

MAX_BARS = 60
BAR_H = 28
GAP = 10
LABEL_W = 112
VALUE_W = 56
WIDTH = 360  # about a phone's width in CSS pixels, so the 15px labels stay 15px there


def bar_chart(rows: list[tuple[str, int]], *, title: str, unit: str = "",
              fmt=str) -> Markup:
    """rows: (label, value) pairs, drawn in the given order; `fmt` writes a value (ledger
    steps as points). Negative values draw as zero-width bars with their number, so a village
    in deficit is still listed."""
    rows = rows[:MAX_BARS]
    top = max([v for _, v in rows if v > 0] or [1])
    plot_w = WIDTH - LABEL_W - VALUE_W
    height = max(1, len(rows)) * (BAR_H + GAP) + GAP
    parts = [(f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">'),
             f'<title id="chart-title">{escape(title)}</title>']
    for i, (label, value) in enumerate(rows):
        y = GAP + i * (BAR_H + GAP)
        w = round(plot_w * max(value, 0) / top)
        parts.append(
            f'<g><text x="{LABEL_W - 6}" y="{y + BAR_H * 0.7:.0f}" text-anchor="end">'
            f'{escape(label)}</text>'
            f'<rect class="bar" x="{LABEL_W}" y="{y}" width="{w}" height="{BAR_H}" rx="3">'
            f'<title>{escape(label)}: {escape(fmt(value))}{escape(unit)}</title></rect>'
            f'<text x="{LABEL_W + w + 6}" y="{y + BAR_H * 0.7:.0f}">{escape(fmt(value))}</text>'
            '</g>')
    parts.append("</svg>")
    return Markup("".join(parts))
