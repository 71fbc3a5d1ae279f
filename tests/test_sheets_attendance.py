"""Activity attendance lists from spreadsheets: checked whole (activity, person, times in the
window, who may record), recorded through the activities' own import (minutes credited), the
same list again changes nothing, and an activity's export imports back as the same list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ledger.activities.models import Attendance
from ledger.errors import Forbidden, InvalidInput
from ledger.sheets import attendance
from ledger.sheets.schemas import AttendanceImported
from tests.builders.activities import T0, make_activity, make_world, minutes_of

HEADER = "活动编号,活动名称,村（社区）,姓名,身份证号,手机号,签到时间,签退时间,备注\n"


def _local(dt) -> str:
    return f"{dt.astimezone(attendance.LOCAL_TZ):%Y-%m-%d %H:%M}"


def _count(db) -> int:
    with db.sessions() as s:
        return s.scalar(select(func.count()).select_from(Attendance))


def test_attendance_list_is_recorded_once_and_round_trips(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    a, b = _local(T0), _local(T0 + timedelta(minutes=90))
    data = (HEADER + f"{act.id},家园清洁志愿活动,,林志愿0,,,{a},{b},纸质签到表\n"
            f"{act.id},,塘边村,,,13800000001,{a},{b},\n").encode("gbk")
    checked = attendance.import_attendance(db, w.admin, data, settings=settings,
                                           dry_run=True)
    assert checked.rows == 2 and checked.encoding == "gb18030"
    r = attendance.import_attendance(db, w.admin, data, settings=settings)
    assert r == AttendanceImported(imported=2, skipped=0, refused=[])
    assert minutes_of(db, w.people[0])["certified"] == 90
    assert attendance.import_attendance(db, w.admin, data, settings=settings).skipped == 2
    exported = attendance.export_xlsx(db, w.admin, act.id)
    again = attendance.import_attendance(db, w.admin, exported, settings=settings)
    assert again == AttendanceImported(imported=0, skipped=2, refused=[])
    assert _count(db) == 2
    with db.sessions() as s:
        rows = list(attendance.export_rows(s, w.admin, act.id))
    assert [r[3] for r in rows[1:]] == ["林志愿0", "林志愿1"] and rows[1][6:8] == [a, b]


def test_a_list_with_errors_records_nothing(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    a, b = _local(T0), _local(T0 + timedelta(minutes=90))
    late = _local(T0 + timedelta(days=2))
    data = (HEADER + f"{act.id},,,林志愿0,,,{a},{b},\n"
            f"{act.id},,,无此人,,,{a},{b},\n"
            f"{act.id},,,林志愿1,,,{b},{a},\n"
            f"{act.id},,,林志愿2,,,{a},{late},\n"
            f"999999,,,林志愿3,,,{a},{b},\n"
            f"{act.id},,,林志愿0,,,{a},{b},\n").encode()
    with pytest.raises(InvalidInput) as e:
        attendance.import_attendance(db, w.admin, data, settings=settings)
    assert [(x["line"], x["code"]) for x in e.value.extra["errors"]] == [
        (3, "person_unknown"), (4, "check_out_before_check_in"), (5, "times_outside_window"),
        (6, "activity_unknown"), (7, "attendance_duplicate")]
    from ledger.activities.planning import Actor
    stranger = Actor(77, roles=(("village_admin", w.other_village_id),))
    with pytest.raises(Forbidden):
        attendance.import_attendance(db, stranger,
                                     (HEADER + f"{act.id},,,林志愿0,,,{a},{b},\n").encode(),
                                     settings=settings)
    assert _count(db) == 0


def test_api_and_page_take_attendance_lists(client, db, settings, auth):
    from tests.builders.pages import form_fields, sign_in
    w = make_world(db)
    act = make_activity(db, w)
    a, b = _local(T0), _local(T0 + timedelta(minutes=90))
    data = (HEADER + f"{act.id},,,林志愿0,,,{a},{b},\n").encode()
    r = client.post("/api/v1/imports/attendance?dry_run=true", content=data,
                    headers={**auth("village_admin", village_id=w.village_id),
                             "Content-Type": "text/csv"})
    assert r.status_code == 201 and r.json()["rows"] == 1
    sign_in(client, settings, "village_admin", village_id=w.village_id)
    fields = form_fields(client.get("/admin/sheets/attendance").text,
                         "/admin/sheets/attendance/import")
    r = client.post("/admin/sheets/attendance/import", data=fields,
                    files={"file": ("list.csv", data, "text/csv")})
    assert r.status_code == 200 and "记录的签到：1" in r.text
