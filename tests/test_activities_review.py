"""Points through the rule engine, the organizer's confirmation, rejection and additions, and
volunteers' own claims: who did what is recorded, and nothing is paid twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ledger import outbox
from ledger.activities import awards, planning, review
from ledger.activities.models import PointsState
from ledger.activities.planning import ActivityDraft
from ledger.errors import Conflict, Forbidden, InvalidInput
from ledger.journal.models import JournalEntry
from ledger.outbox import OutboxRow
from ledger.rules import service as rules
from ledger.rules.models import AwardRecord
from tests.conftest import audit_clean
from tests.builders.activities import (
    T0,
    attendance,
    make_activity,
    make_world,
    minutes_of,
    points_of,
    scan,
)


def _checked_out(db, settings, w, act, i, minutes):
    scan(db, settings, w, act, i, T0)
    return scan(db, settings, w, act, i, T0 + timedelta(minutes=minutes))


def test_points_follow_the_rule_on_check_out_and_are_capped_per_activity(db, settings):
    w = make_world(db)
    act = make_activity(db, w, hours=4)  # H1: 2 points an hour, at most 180 minutes counted
    out = _checked_out(db, settings, w, act, 0, 240)
    assert out.minutes == 240 and minutes_of(db, w.people[0])["certified"] == 240
    assert out.points_state == "awarded" and out.points["status"] == "posted"
    assert out.points["points"] == 6  # 180 minutes at 2 an hour: the item's activity cap
    assert points_of(db, "person", w.people[0]) == 6
    with db.sessions() as s:
        award = s.get(AwardRecord, out.points["award_id"])
        assert award.inputs["refs"]["attendance_id"] == out.attendance_id
        assert award.item_code == "H1" and award.recorder_id == w.organizer.user_id
    audit_clean(db)


def test_a_retried_award_pays_exactly_once(db, settings):
    w = make_world(db)
    act = make_activity(db, w, needs_confirmation=True)
    out = _checked_out(db, settings, w, act, 0, 90)
    # A crash after the engine paid but before the attendance noted it: the award exists...
    att = attendance(db, out.attendance_id)
    first = rules.record_award(
        db, settings, item_code="H1", holder=("person", w.people[0]),
        recorder=w.organizer.user_id, key=awards.attendance_key(att.id), now=T0 + timedelta(hours=2),
        context={"activity_id": act.id, "attendance_id": att.id, "village_id": w.village_id,
                 "minutes": 90, "occurred_at": (T0 + timedelta(minutes=90)).isoformat(),
                 "activity_title": act.title, "source": "scanned"})
    # ...the confirmation then settles with the same key and gets the same award back.
    done = review.confirm(db, settings, w.organizer, att.id, now=T0 + timedelta(hours=2))
    assert done.points["award_id"] == first.award_id
    assert _relay_settlements(db) == []  # the confirmation paid: nothing of it left to relay
    assert points_of(db, "person", w.people[0]) == 3
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AwardRecord)) == 1


def test_confirmation_certifies_pending_minutes_then_pays(db, settings):
    w = make_world(db)
    act = make_activity(db, w, needs_confirmation=True)
    out = _checked_out(db, settings, w, act, 0, 95)
    assert out.minutes_status == "pending" and out.points_state == "none"
    assert minutes_of(db, w.people[0]) == {"certified": 0, "pending": 95}
    assert points_of(db, "person", w.people[0]) == 0
    with pytest.raises(Forbidden) as e:  # another organizer's volunteer cannot confirm
        review.confirm(db, settings, w.volunteer(1), out.attendance_id, now=T0)
    assert e.value.code == "not_activity_manager"
    done = review.confirm(db, settings, w.organizer, out.attendance_id,
                          now=T0 + timedelta(hours=3))
    assert done.review == "confirmed" and done.minutes_status == "certified"
    assert minutes_of(db, w.people[0]) == {"certified": 95, "pending": 0}
    assert points_of(db, "person", w.people[0]) == 3
    again = review.confirm(db, settings, w.organizer, out.attendance_id,
                           now=T0 + timedelta(hours=4))
    assert again.repeated and points_of(db, "person", w.people[0]) == 3
    att = attendance(db, out.attendance_id)
    assert att.reviewed_by == w.organizer.user_id and att.certify_entry_id is not None
    audit_clean(db)


def test_item_that_needs_review_makes_attendance_wait_for_confirmation(db, settings):
    w = make_world(db)
    act = make_activity(db, w, rule_item_code="R1")
    assert act.needs_confirmation is True
    out = _checked_out(db, settings, w, act, 0, 60)
    assert out.minutes_status == "pending" and out.points_state == "none"
    done = review.confirm(db, settings, w.organizer, out.attendance_id,
                          now=T0 + timedelta(hours=2))
    assert done.points_state == "awarded"
    assert done.points["status"] == "pending_review"  # the engine's reviewer decides next


def test_per_hour_item_that_books_minutes_counts_attendance_hours_once(db, settings):
    from tests.builders.activities import minutes_of
    w = make_world(db)
    act = make_activity(db, w, rule_item_code="M1")
    out = _checked_out(db, settings, w, act, 0, 60)
    assert out.minutes == 60 and out.points_state == "awarded"
    assert minutes_of(db, w.people[0]) == {"certified": 60, "pending": 0}
    audit_clean(db)


def test_reject_pending_sends_minutes_back_with_reason_and_who(db, settings):
    w = make_world(db)
    act = make_activity(db, w, needs_confirmation=True)
    out = _checked_out(db, settings, w, act, 0, 60)
    with pytest.raises(InvalidInput):
        review.reject(db, settings, w.organizer, out.attendance_id, "  ", now=T0)
    r = review.reject(db, settings, w.admin, out.attendance_id, "签到后即离开", now=T0)
    assert r.review == "rejected" and r.reject_reason == "签到后即离开"
    assert minutes_of(db, w.people[0]) == {"certified": 0, "pending": 0}
    att = attendance(db, out.attendance_id)
    assert att.reviewed_by == w.admin.user_id and att.undo_entry_id is not None
    with pytest.raises(Conflict) as e:
        review.confirm(db, settings, w.organizer, out.attendance_id, now=T0)
    assert e.value.code == "attendance_rejected"
    audit_clean(db)


def test_reject_certified_reverses_minutes_and_points(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    out = _checked_out(db, settings, w, act, 0, 120)
    assert points_of(db, "person", w.people[0]) == 4
    r = review.reject(db, settings, w.organizer, out.attendance_id, "代签", now=T0 +
                      timedelta(hours=3))
    assert r.points_state == "reversed"
    assert minutes_of(db, w.people[0])["certified"] == 0
    assert points_of(db, "person", w.people[0]) == 0
    with db.sessions() as s:
        reversals = s.scalars(select(JournalEntry).where(JournalEntry.kind == "reverse")).all()
        assert {e.unit for e in reversals} == {"minutes", "points"}
    audit_clean(db)


def test_organizer_adds_a_forgotten_attendance_with_a_note(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    rec = review.Record(act.id, w.people[2], T0, T0 + timedelta(minutes=75), "手机没电，现场签到表")
    with pytest.raises(Forbidden):
        review.add_attendance(db, settings, w.volunteer(1), rec, now=T0 + timedelta(hours=3))
    r = review.add_attendance(db, settings, w.organizer, rec, key="k1",
                              now=T0 + timedelta(hours=3))
    assert r.source == "organizer_added" and r.minutes == 75
    assert r.minutes_status == "certified" and r.points_state == "awarded"
    again = review.add_attendance(db, settings, w.organizer, rec, key="k1",
                                  now=T0 + timedelta(hours=3))
    assert again.attendance_id == r.attendance_id
    with pytest.raises(Conflict) as e:
        review.add_attendance(db, settings, w.organizer, rec, key="k2",
                              now=T0 + timedelta(hours=3))
    assert e.value.code == "attendance_exists"
    att = attendance(db, r.attendance_id)
    assert att.added_by == w.organizer.user_id and att.note == "手机没电，现场签到表"
    assert minutes_of(db, w.people[2])["certified"] == 75


def test_volunteer_claim_waits_for_the_organizer(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    me = w.volunteer(3)
    rec = review.Record(act.id, w.people[3], T0, T0 + timedelta(minutes=45), "扫码失败")
    with pytest.raises(Forbidden):
        review.self_report(db, settings, me, review.Record(
            act.id, w.people[4], T0, T0 + timedelta(minutes=45), "替别人申报"), now=T0)
    r = review.self_report(db, settings, me, rec, now=T0 + timedelta(hours=2))
    assert r.source == "self_reported" and r.minutes_status == "pending"
    assert minutes_of(db, w.people[3]) == {"certified": 0, "pending": 45}
    review.confirm(db, settings, w.organizer, r.attendance_id, now=T0 + timedelta(hours=5))
    assert minutes_of(db, w.people[3]) == {"certified": 45, "pending": 0}
    late = T0 + timedelta(days=8)
    with pytest.raises(Conflict) as e:
        review.self_report(db, settings, w.volunteer(4), review.Record(
            act.id, w.people[4], T0, T0 + timedelta(minutes=45), "补报"), now=late)
    assert e.value.code == "self_report_too_late"


def test_refused_award_keeps_the_minutes_and_says_why(db, settings):
    w = make_world(db, fund=False)  # the village has no budget
    act = make_activity(db, w)
    out = _checked_out(db, settings, w, act, 0, 60)
    assert out.minutes == 60 and minutes_of(db, w.people[0])["certified"] == 60
    assert out.points_state == PointsState.REFUSED
    assert out.points["code"] == "budget_exhausted"


def test_activity_validation_codes(db, settings):
    w = make_world(db)
    base = dict(village_id=w.village_id, title="x", rule_item_code="H1", starts_at=T0,
                ends_at=T0 + timedelta(hours=1))
    cases = {"window_invalid": dict(ends_at=T0), "theme_unknown": dict(theme="随便"),
             "geofence_incomplete": dict(geo_lat=24.7),
             "capacity_out_of_range": dict(capacity=0),
             "rounding_step_invalid": dict(rounding_step_min=7),
             "rotate_s_out_of_range": dict(rotate_s=1)}
    for code, change in cases.items():
        with pytest.raises(InvalidInput) as e:
            planning.create_activity(db, w.organizer, ActivityDraft(**{**base, **change}),
                                     now=T0)
        assert e.value.code == code
    ok = planning.create_activity(db, w.organizer, ActivityDraft(
        **{**base, "theme": planning.MONTHLY_THEMES[4]}), now=T0)
    assert ok.theme == "持续深入移风易俗" and ok.status == "draft"
    with pytest.raises(Forbidden):
        planning.create_activity(db, w.volunteer(0), ActivityDraft(**base), now=T0)


def test_imported_records_are_certified_once_and_bad_rows_are_named(db, settings):
    w = make_world(db)
    act = make_activity(db, w)
    rows = [review.Record(act.id, w.people[4], T0, T0 + timedelta(minutes=50), "纸质签到表"),
            review.Record(act.id, 999_999, T0, T0 + timedelta(minutes=50), "查无此人")]
    with pytest.raises(Forbidden):
        review.import_records(db, settings, w.volunteer(0), rows, batch_ref="b1",
                              now=T0 + timedelta(hours=3))
    first = review.import_records(db, settings, w.admin, rows, batch_ref="b1",
                                  now=T0 + timedelta(hours=3))
    assert first.imported == 1 and first.refused[0].code == "person_not_found"
    again = review.import_records(db, settings, w.admin, rows, batch_ref="b1",
                                  now=T0 + timedelta(hours=3))
    assert again.attendance_ids == first.attendance_ids
    assert minutes_of(db, w.people[4])["certified"] == 50


def test_monthly_themes_are_the_towns_five():
    from pathlib import Path

    import yaml
    # The project's own copy of the town's facts (a clean clone has no ../shared).
    facts = Path(__file__).resolve().parents[1] / "ledger" / "registry" / "data" / "baogai.yaml"
    themes = yaml.safe_load(facts.read_text(encoding="utf-8"))["monthly_themes"]
    assert tuple(themes) == planning.MONTHLY_THEMES


def _with_dispatcher(db, dispatcher, fn):
    """Run `fn` with this database's committed outbox rows handed to `dispatcher` (as
    production's API process hands them to Celery), then back to the embedded default."""
    outbox.attach(db, dispatcher)
    try:
        return fn()
    finally:
        outbox.attach(db, outbox.inline)


def _settle_rows(db) -> list[int]:
    with db.sessions() as s:
        return list(s.scalars(select(OutboxRow.id).where(OutboxRow.task == awards.SETTLE_TASK)))


def _relay_settlements(db) -> list[str]:
    """Relay and run every waiting task; the outcomes of the check-outs' points tasks only (the
    rollups' catch-up, which a posting transaction queues, rides the same outbox)."""
    settles = set(_settle_rows(db))
    ran: list[str] = []

    def send(ids: list[int]) -> None:
        for i in ids:
            got = outbox.run_row(db, i)
            if i in settles:
                ran.append(got)
    outbox.relay(db, send, grace=False)
    return ran


def test_points_left_due_by_a_crash_are_paid_by_the_relay_once(db, settings):
    """A check-out committed its minutes, points_state=due and the task that pays them, then
    the process died before the task ran: the relay delivers the task and it pays, once; a
    second delivery, or the task's own second run, pays nothing more."""
    w = make_world(db)
    act = make_activity(db, w)
    out = _with_dispatcher(db, lambda _engine, _ids: None,  # the process dies after COMMIT
                           lambda: _checked_out(db, settings, w, act, 0, 90))
    att_id = out.attendance_id
    assert out.points_state == "due" and attendance(db, att_id).points_state == "due"
    assert points_of(db, "person", w.people[0]) == 0
    assert _relay_settlements(db) == ["done"]
    assert attendance(db, att_id).points_state == PointsState.AWARDED
    paid = points_of(db, "person", w.people[0])
    assert paid == 3
    (oid,) = _settle_rows(db)
    assert outbox.run_row(db, oid) == "already_done"  # a late duplicate delivery
    with db.sessions() as s:
        args = s.get(OutboxRow, oid).args
    assert outbox.HANDLERS[awards.SETTLE_TASK](db, **args) == {"points_state": "awarded"}
    assert points_of(db, "person", w.people[0]) == paid  # the key: paid exactly once
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AwardRecord)) == 1
    audit_clean(db)


def test_with_workers_check_out_answers_at_once_and_the_task_pays_once(db, settings):
    """Production: the check-out's commit hands its outbox row to the workers (a Celery task
    there; here a list) and answers with the points due; the task pays them, once, however
    often it runs."""
    w = make_world(db)
    act = make_activity(db, w)
    handed: list[int] = []
    out = _with_dispatcher(db, lambda _engine, ids: handed.extend(ids),
                           lambda: _checked_out(db, settings, w, act, 0, 90))
    assert out.points_state == "due" and out.points is None
    assert out.message.endswith("积分发放中") and out.minutes == 90
    assert handed == _settle_rows(db)
    assert points_of(db, "person", w.people[0]) == 0
    with db.sessions() as s:
        row = s.get(OutboxRow, handed[0])
        assert row.args["attendance_id"] == out.attendance_id
    for _ in range(2):  # a redelivered message pays nothing more
        outbox.run_row(db, handed[0])
        outbox.HANDLERS[awards.SETTLE_TASK](db, **row.args)
    assert points_of(db, "person", w.people[0]) == 3
    assert attendance(db, out.attendance_id).points_state == PointsState.AWARDED
    audit_clean(db)


def test_the_points_task_carries_its_request_and_pays_nothing_once_turned_down(db, settings):
    """The check-out writes what the engine is to be asked into the task (nothing to read when
    it runs); an attendance turned down before the task runs is not paid: the award's
    transaction finds the points no longer due and rolls back."""
    w = make_world(db)
    act = make_activity(db, w)
    handed: list[int] = []
    out = _with_dispatcher(db, lambda _engine, ids: handed.extend(ids),
                           lambda: _checked_out(db, settings, w, act, 0, 90))
    with db.sessions() as s:
        request = s.get(OutboxRow, _settle_rows(db)[0]).args["request"]
    assert request["item_code"] == act.rule_item_code
    assert request["person_id"] == w.people[0] and request["recorder"] == act.organizer_user_id
    assert request["context"]["minutes"] == 90
    assert request["context"]["attendance_id"] == out.attendance_id
    turned = review.reject(db, settings, w.organizer, out.attendance_id, "代签",
                           now=T0 + timedelta(hours=3))
    assert turned.points_state == PointsState.NOT_APPLICABLE
    # (the rejection's own commit may have drained it already: the embedded drain)
    assert outbox.run_row(db, _settle_rows(db)[0]) in ("done", "already_done")
    with db.sessions() as s:
        assert s.get(OutboxRow, _settle_rows(db)[0]).done_at is not None
    assert points_of(db, "person", w.people[0]) == 0
    assert attendance(db, out.attendance_id).points_state == PointsState.NOT_APPLICABLE
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AwardRecord)) == 0
    audit_clean(db)


def test_a_points_task_queued_without_its_request_reads_it_and_pays(db, settings):
    """A task queued before the request rode with it (an older row) reads the attendance."""
    w = make_world(db)
    act = make_activity(db, w)
    _with_dispatcher(db, lambda _engine, ids: None,
                     lambda: _checked_out(db, settings, w, act, 0, 90))
    oid = _settle_rows(db)[0]
    with db.transaction() as s:
        row = s.get(OutboxRow, oid)
        row.args = {k: v for k, v in row.args.items() if k != "request"}
    assert outbox.run_row(db, oid) == "done"
    assert points_of(db, "person", w.people[0]) == 3
    audit_clean(db)


def test_a_broker_outage_leaves_the_points_due_for_the_relay(db, settings):
    w = make_world(db)
    act = make_activity(db, w)

    def broker_down(_engine, _ids) -> None:
        raise ConnectionError("redis is down")

    out = _with_dispatcher(db, broker_down, lambda: _checked_out(db, settings, w, act, 0, 90))
    assert out.points_state == "due"  # the check-out itself stands
    assert _relay_settlements(db) == ["done"]
    assert points_of(db, "person", w.people[0]) == 3
    audit_clean(db)
