"""Service records as CSV, in the layout documented in docs/checkins.md ("Export for the
national volunteer system"): one row per certified attendance, UTF-8 with a byte-order mark (so
spreadsheet programs read the Chinese), RFC 4180 quoting, local (Asia/Shanghai) times."""

from __future__ import annotations

import csv
import io
from datetime import date

from sqlalchemy import select

from ledger.registry.models import Person, Village
from ledger.activities.certificates import hours_text, local_day_bounds
from ledger.activities.models import CERTIFIED_REVIEWS, Activity, Attendance
from ledger.identity.actor import Actor, may
from ledger.db import Database
from ledger.errors import Forbidden, InvalidInput, LimitExceeded
from ledger.sheets.tabular import neutralise
from ledger.timeutil import LOCAL_TZ

MAX_EXPORT_ROWS = 50_000
MAX_EXPORT_DAYS = 366
COLUMNS = ("记录编号", "志愿者姓名", "证件类型", "证件号码", "手机号码", "活动名称", "服务类别",
           "服务地点", "服务开始时间", "服务结束时间", "服务时长（小时）", "服务时长（分钟）",
           "组织单位", "记录方式", "确认人", "确认时间")
SOURCE_NAMES = {"scanned": "扫码签到", "organizer_added": "组织者补录", "self_reported": "本人申报",
                "imported": "导入"}


def _cell(value: object) -> object:
    return neutralise("" if value is None else str(value))


def _local(dt) -> str:
    return dt.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S") if dt else ""


def export_csv(db: Database, actor: Actor, *, village_id: int | None, start: date,
               end: date) -> str:
    """Certified service of one village's activities (or the whole town's, for a town admin)
    whose start falls in [start, end] local dates."""
    if end < start or (end - start).days > MAX_EXPORT_DAYS:
        raise InvalidInput(f"the period must run forwards and cover at most {MAX_EXPORT_DAYS} days",
                           code="period_invalid", field="end")
    if village_id is None and not may(actor, "village.admin", None):
        raise Forbidden("a town-wide export needs the town admin", code="forbidden_village")
    if village_id is not None and not may(actor, "village.admin", village_id):
        raise Forbidden(f"no admin role for village {village_id}", code="forbidden_village")
    lo, hi = local_day_bounds(start, end)
    q = (select(Attendance, Activity, Person, Village.name)
         .join(Activity, Activity.id == Attendance.activity_id)
         .join(Person, Person.id == Attendance.person_id)
         .join(Village, Village.id == Activity.village_id)
         .where(Attendance.review.in_(list(CERTIFIED_REVIEWS)), Attendance.counted_minutes > 0,
                Activity.starts_at >= lo, Activity.starts_at <= hi))
    if village_id is not None:
        q = q.where(Activity.village_id == village_id)
    with db.sessions() as s:
        rows = s.execute(q.order_by(Activity.starts_at, Attendance.id)
                         .limit(MAX_EXPORT_ROWS + 1)).all()
    if len(rows) > MAX_EXPORT_ROWS:
        raise LimitExceeded(f"more than {MAX_EXPORT_ROWS} records: export a shorter period",
                            code="export_too_large")
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for att, act, person, vname in rows:
        w.writerow([_cell(v) for v in (
            f"JF-{att.id}", person.name, "居民身份证" if person.id_number else "",
            person.id_number or "", person.phone or "", act.title, act.rule_item_code,
            act.place, _local(att.check_in_at), _local(att.check_out_at),
            hours_text(att.counted_minutes), att.counted_minutes, vname,
            SOURCE_NAMES.get(att.source, att.source), att.reviewed_by or "",
            _local(att.reviewed_at))])
    return buf.getvalue()
