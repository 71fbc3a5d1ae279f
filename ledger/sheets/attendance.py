"""Activity attendance lists from a spreadsheet (a paper sign-in sheet typed up, another
system's export): one row per person and activity with the check-in and check-out times.

The whole file is checked first (the activity exists, is open and the importer manages it; the
person is found in the village; the times fall in the activity's window, as `review` checks
them): a file with any error records nothing. A good file is recorded through
`ledger.activities.review.import_records` (source "imported", certified; minutes and points by
the activity's rules, each row keyed by the file so a re-run adds nothing twice). A person who
already has an attendance for the activity is skipped: the same list again changes nothing.
"""

from __future__ import annotations

import re
from datetime import datetime


from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.activities import review
from ledger.activities.models import Activity, ActivityStatus, Attendance
from ledger.activities.planning import can_manage
from ledger.identity.actor import Actor
from ledger.config import Settings
from ledger.db import Database
from ledger.errors import InvalidInput, LimitExceeded
from ledger.registry.models import Person, Village
from ledger.sheets import imports, tabular
from ledger.sheets.holders import Holders, find_holder
from ledger.sheets.schemas import AttendanceImported, ImportChecked
from ledger.sheets.tabular import Column, RowError
from ledger.timeutil import LOCAL_TZ, utcnow

COLUMNS = (
    Column("activity", "活动编号", required=True, example="12"),
    Column("title", "活动名称", example="家园清洁志愿活动", note="仅供核对"),
    Column("village", "村（社区）", example="塘边村", note="志愿者所在村，留空为活动所在村"),
    Column("name", "姓名", example="陈某某"),
    Column("id_number", "身份证号"),
    Column("phone", "手机号", example="13800000000"),
    Column("check_in", "签到时间", required=True, example="2026-03-05 09:00"),
    Column("check_out", "签退时间", required=True, example="2026-03-05 11:00"),
    Column("note", "备注", example="纸质签到表第3页"),
)
DEFAULT_NOTE = "签到名单导入"  # review requires a note on every hand-recorded attendance
_TIME_RE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$")


def parse_local(text: str) -> datetime | None:
    m = _TIME_RE.match(text.strip())
    if not m:
        return None
    try:
        return datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6] or 0),
                        tzinfo=LOCAL_TZ)
    except ValueError:
        return None


def actor_of(actor) -> Actor:
    """The caller as an Actor (a command-line import passes none: user 0, no roles)."""
    if isinstance(actor, Actor):
        return actor
    return Actor(user_id=getattr(actor, "user_id", None) or 0,
                 person_id=getattr(actor, "person_id", None),
                 roles=tuple(getattr(actor, "roles", ())))


class AttendanceImport:
    """Checked like every import (imports.checked); recorded by `import_attendance` through the
    activities' own per-row writes rather than one transaction (its points follow each
    activity's rules and settle after commit)."""

    name = "attendance"
    title = "活动签到名单"
    columns = COLUMNS

    def plan(self, s: Session, table: tabular.Table, index: dict[str, int], actor
             ) -> imports.Plan:
        plan = imports.Plan()
        errs = plan.errors
        who = actor_of(actor)
        acts: dict[int, Activity | None] = {}
        villages = {v.name: v for v in s.scalars(select(Village))}
        vnames = {v.id: v.name for v in villages.values()}
        holders = Holders(s)
        now = utcnow()
        seen: dict[tuple[int, int], int] = {}
        for line, cells in table.rows:
            def cell(key: str, _cells=cells) -> str:
                return tabular.cell_of(_cells, index, key)

            before = len(errs)
            raw = cell("activity")
            act = None
            if raw.isdigit():
                aid = int(raw)
                if aid not in acts:
                    acts[aid] = s.get(Activity, aid)
                act = acts[aid]
            if act is None:
                errs.append(RowError(line, "activity_unknown", f"没有编号为“{raw}”的活动",
                                     "activity"))
                continue
            if not can_manage(who, act):
                errs.append(RowError(line, "village_forbidden",
                                     "您不是这个活动的组织者或所在村的管理员", "activity"))
                continue
            if cell("title") and cell("title") != act.title:
                errs.append(RowError(line, "activity_title_mismatch",
                                     f"活动{act.id}的名称是“{act.title}”", "title"))
            if act.status == ActivityStatus.DRAFT or now < act.starts_at:
                errs.append(RowError(line, "activity_not_open", "活动尚未发布或尚未开始",
                                     "activity"))
            vname = cell("village") or vnames.get(act.village_id, "")
            village = villages.get(vname)
            if village is None:
                errs.append(RowError(line, "village_unknown", f"没有“{vname}”这个村（社区）",
                                     "village"))
                continue
            t_in, t_out = parse_local(cell("check_in")), parse_local(cell("check_out"))
            for key, t in (("check_in", t_in), ("check_out", t_out)):
                if t is None:
                    errs.append(RowError(line, f"{key}_invalid",
                                         f"“{cell(key)}”应写成 2026-03-05 09:00 这样", key))
            if t_in and t_out:
                try:
                    review._check_times(act, t_in, t_out)
                except InvalidInput as exc:
                    errs.append(RowError(line, exc.code, exc.detail, "check_out"
                                         if exc.code == "check_out_before_check_in"
                                         else "check_in"))
            if len(cell("note")) > review.MAX_NOTE_CHARS:
                errs.append(RowError(line, "note_too_long",
                                     f"备注最多{review.MAX_NOTE_CHARS}个字", "note"))
            found = find_holder(holders, village.id, "person", cell, line, errs)
            if found is None or len(errs) > before:
                continue
            pid = found[0]
            if (act.id, pid) in seen:
                errs.append(RowError(line, "attendance_duplicate",
                                     f"与第{seen[(act.id, pid)]}行是同一人同一活动", "name"))
                continue
            seen[(act.id, pid)] = line
            plan.rows.append(review.Record(act.id, pid, t_in, t_out,
                                           cell("note") or DEFAULT_NOTE))
        self._drop_recorded(s, plan)
        return plan

    @staticmethod
    def _drop_recorded(s: Session, plan: imports.Plan) -> None:
        done = set()
        for r in plan.rows:
            if s.scalar(select(Attendance.id).where(Attendance.activity_id == r.activity_id,
                                                    Attendance.person_id == r.person_id)):
                done.add((r.activity_id, r.person_id))
        plan.skipped = len(done)
        plan.rows = [r for r in plan.rows if (r.activity_id, r.person_id) not in done]


KIND = AttendanceImport()


def import_attendance(db: Database, actor, data: bytes, *, settings: Settings,
                      dry_run: bool = False, key: str | None = None
                      ) -> ImportChecked | AttendanceImported:
    """Check the list; record it whole (import_records, one keyed write per row) or refuse it."""
    table = tabular.read_table(data)
    if len(table.rows) > review.MAX_IMPORT_ROWS:
        raise LimitExceeded(f"每个签到名单最多 {review.MAX_IMPORT_ROWS} 行 (at most "
                            f"{review.MAX_IMPORT_ROWS} rows)", code="import_too_many_rows")
    with db.sessions() as s:
        plan, index = imports.checked(s, KIND, table, actor)
    imports.refuse(KIND, plan)
    if dry_run:
        return ImportChecked(dry_run=True, rows=len(plan.rows), skipped=plan.skipped,
                             encoding=table.encoding,
                             preview=imports.preview(table, index, COLUMNS))
    if not plan.rows:
        return AttendanceImported(imported=0, skipped=plan.skipped, refused=[])
    batch = key or imports.file_key(KIND.name, data)
    out = review.import_records(db, settings, actor_of(actor), plan.rows, batch_ref=batch[-32:])
    return AttendanceImported(imported=out.imported, skipped=plan.skipped, refused=out.refused)


def export_rows(s: Session, actor, activity_id: int):
    """An activity's attendances in the import's columns (header first)."""
    act = s.get(Activity, activity_id)
    if act is None or not can_manage(actor_of(actor), act):
        raise InvalidInput(f"no activity {activity_id} that you manage", code="activity_unknown")
    vnames = dict(s.execute(select(Village.id, Village.name)).all())
    yield [c.header for c in COLUMNS]
    rows = s.execute(select(Attendance, Person).join(Person, Person.id == Attendance.person_id)
                     .where(Attendance.activity_id == activity_id, Attendance.check_out_at
                            .is_not(None)).order_by(Attendance.id)).all()
    for att, p in rows:
        yield [act.id, act.title, vnames.get(p.village_id, ""), p.name, p.id_number or "",
               "" if p.id_number else (p.phone or ""),
               f"{att.check_in_at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}",
               f"{att.check_out_at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}", att.note or ""]


def export_xlsx(db: Database, actor, activity_id: int) -> bytes:
    with db.sessions() as s:
        rows = export_rows(s, actor, activity_id)
        return tabular.to_xlsx(tabular.Sheet(KIND.title, next(rows), list(rows)))
