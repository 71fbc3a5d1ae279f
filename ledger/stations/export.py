"""A station's quarterly summary for its liaison leaders, as a printable A4 PDF (reportlab, the
CID font the certificates use) and as an .xlsx workbook (openpyxl)."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from ledger.activities.certificates import FONT, _font, _wrap, hours_text

MAX_ACTIVITY_LINES = 200  # activities listed in one summary; the count is always complete
COLUMNS = (("label", "月份"), ("activities", "活动场次"), ("participations", "参与人次"),
           ("people", "参与人数"), ("hours", "服务时长（小时）"), ("orders_placed", "点单"),
           ("orders_done", "完成"), ("orders_overdue", "超时"), ("orders_rated", "已评"),
           ("rating_avg", "平均评分"))


def _cells(row: dict) -> list:
    out = []
    for key, _ in COLUMNS:
        if key == "hours":
            out.append(hours_text(row["minutes"]))
        elif key == "rating_avg":
            out.append("—" if row["rating_avg"] is None else f"{row['rating_avg']:.1f}")
        else:
            out.append(row[key])
    return out


def _title(q: dict) -> str:
    return f"{q['name']}{q['kind_name']} {q['label']}工作情况"


def render_pdf(q: dict, town_name: str) -> bytes:
    _font()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle(_title(q))
    c.setAuthor(town_name)
    w, h = A4
    left, right = 18 * mm, w - 18 * mm
    c.setFont(FONT, 18)
    c.drawCentredString(w / 2, h - 25 * mm, f"{town_name}{q['name']}")
    c.setFont(FONT, 14)
    c.drawCentredString(w / 2, h - 34 * mm, f"{q['kind_name']} {q['label']}工作情况")
    y = h - 46 * mm
    liaisons = "、".join(q["liaisons"]) or "（未设）"
    y = _wrap(c, f"挂钩联系领导：{liaisons}", left, y, right - left, 10, 15)
    t = q["total"]
    themes = "、".join(t["themes"]) or "无"
    summary = (f"本季度开展活动 {t['activities']} 场，参与 {t['participations']} 人次"
               f"（{t['people']} 人），志愿服务时长 {hours_text(t['minutes'])} 小时；"
               f"居民点单 {t['orders_placed']} 单，完成 {t['orders_done']} 单，超时 "
               f"{t['orders_overdue']} 单，评价 {t['orders_rated']} 单"
               + (f"，平均 {t['rating_avg']:.1f} 分" if t["rating_avg"] is not None else "")
               + f"。覆盖主题：{themes}。")
    if t["sign_only"]:
        summary += "本季度无活动、无完成的服务单（仅挂牌）。"
    y = _wrap(c, summary, left, y - 4 * mm, right - left, 11, 17) - 4 * mm
    cols = [left + i * (right - left) / len(COLUMNS) for i in range(len(COLUMNS))]
    y = _row(c, cols, [name for _, name in COLUMNS], y, size=8)
    for m in q["months"]:
        y = _row(c, cols, [str(x) for x in _cells(m)], y)
    y = _row(c, cols, [str(x) for x in _cells({**t, "label": "合计"})], y)
    y -= 6 * mm
    c.setFont(FONT, 12)
    c.drawString(left, y, "本季度活动")
    y -= 8 * mm
    acols = [left, left + 25 * mm, left + 110 * mm, right - 20 * mm]
    y = _row(c, acols, ["日期", "活动名称", "主题", "人次"], y)
    for a in q["activities"][:MAX_ACTIVITY_LINES]:
        if y < 20 * mm:
            c.showPage()
            y = _row(c, acols, ["日期", "活动名称", "主题", "人次"], h - 20 * mm)
        y = _row(c, acols, [a["date"], a["title"][:30], a["theme"][:14],
                            str(a["participations"])], y)
    c.showPage()
    c.save()
    return buf.getvalue()


def _row(c: canvas.Canvas, cols: list[float], cells: list[str], y: float,
         size: int = 9) -> float:
    c.setFont(FONT, size)
    for x, cell in zip(cols, cells, strict=True):
        c.drawString(x, y, cell)
    c.setLineWidth(0.3)
    c.line(cols[0], y - 2.5 * mm, A4[0] - 18 * mm, y - 2.5 * mm)
    return y - 7 * mm


def render_xlsx(q: dict, town_name: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "季度汇总"
    ws.append([f"{town_name}{_title(q)}"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["挂钩联系领导", "、".join(q["liaisons"])])
    ws.append([])
    ws.append([name for _, name in COLUMNS] + ["覆盖主题"])
    for cell in ws[4]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True)
    for m in q["months"]:
        ws.append(_cells(m) + ["、".join(m["themes"])])
    t = q["total"]
    ws.append(_cells({**t, "label": "合计"}) + ["、".join(t["themes"])])
    ws.append(["仅挂牌（无活动、无完成服务单）", "是" if t["sign_only"] else "否"])
    acts = wb.create_sheet("活动明细")
    acts.append(["日期", "活动名称", "主题", "参与人次"])
    for a in q["activities"]:
        acts.append([a["date"], a["title"], a["theme"], a["participations"]])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
