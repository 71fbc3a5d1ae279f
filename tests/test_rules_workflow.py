"""The checks on recorders: second confirmation, claims (申报) → verification → approval,
public notice (公示) with and without objection, appeals (申诉), the recorder report."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.errors import Conflict, Forbidden
from ledger.journal import book
from ledger.rules import service as svc
from ledger.rules import workflow as wf
from ledger.rules.explain import explain_entry, recorder_report, village_notices
from ledger.rules.service import RuleRefused
from tests.conftest import audit_clean
from tests.builders.rules import (
    BUDGET,
    T0,
    add_person,
    balance,
    family,
    load,
    make_world,
    pending_points,
    staff,
)


@pytest.fixture
def town(db):
    w = make_world(db)
    load(db, "baogai", "household_1000")
    return w


def admin(w, uid=50, village="塘后村", person_id=None):
    return staff(uid, "village_admin", "inspector", village_id=w.villages[village],
                 person_id=person_id)


def rec(db, settings, item, holder, who, at=T0, **ctx):
    ctx.setdefault("occurred_at", at.isoformat())
    return svc.record_award(db, settings, item_code=item, holder=holder, recorder=who,
                            context=ctx, key=None, now=at)


def test_self_award_is_refused_for_oneself_and_ones_household(db, settings, town):
    h, p = family(db, town)
    me = admin(town, person_id=p)
    with pytest.raises(RuleRefused) as e:
        rec(db, settings, "D08", ("person", p), me)
    assert e.value.code == "self_award_forbidden" and e.value.status == 403
    with pytest.raises(RuleRefused):
        rec(db, settings, "C12", ("household", h), me)
    sibling = add_person(db, town, "陈二", household="陈家")
    with pytest.raises(RuleRefused):
        rec(db, settings, "D08", ("person", sibling), me)


def test_large_deduction_waits_for_a_second_person(db, settings, town):
    h, p = family(db, town)
    r = rec(db, settings, "B11", ("person", p), admin(town), note="派出所通报")
    assert r.status == "awaiting_confirmation" and balance(db, "person", p) == 0
    with pytest.raises(Forbidden) as e:
        wf.confirm_award(db, settings, award_id=r.award_id, confirmer=admin(town), key=None)
    assert e.value.code == "same_as_recorder"
    relative = staff(52, "inspector", village_id=town.villages["塘后村"], person_id=p)
    with pytest.raises(Forbidden) as e:
        wf.confirm_award(db, settings, award_id=r.award_id, confirmer=relative, key=None)
    assert e.value.code == "self_award_forbidden"
    done = wf.confirm_award(db, settings, award_id=r.award_id,
                            confirmer=staff(53, "inspector", village_id=town.villages["塘后村"]),
                            key=None, now=T0)
    assert done.status == "posted"
    assert balance(db, "person", p) == -40 and balance(db, "household", h) == 0  # counted
    with db.sessions() as s:
        assert explain_entry(s, done.entry_id)["people"]["confirmer"] == 53
    audit_clean(db)


def test_deduction_at_the_threshold_needs_no_second_person(db, settings, town):
    h, _ = family(db, town)
    r = rec(db, settings, "C10", ("household", h), admin(town), photos=["p"])
    assert r.status == "posted" and r.points == -5


def test_claim_goes_through_verification_then_approval_by_different_people(db, settings, town):
    _, p = family(db, town)
    resident = staff(70, person_id=p)
    r = rec(db, settings, "A14", ("person", p), resident, channel="claim", photos=["献血证"])
    assert r.status == "claimed" and balance(db, "person", p) == 0
    with pytest.raises(Forbidden) as e:
        wf.verify_claim(db, settings, award_id=r.award_id,
                        verifier=staff(70, "inspector", village_id=town.villages["塘后村"]),
                        key=None)
    assert e.value.code == "same_as_recorder"
    inspector = staff(71, "inspector", village_id=town.villages["塘后村"])
    r = wf.verify_claim(db, settings, award_id=r.award_id, verifier=inspector, key=None)
    assert r.status == "verified"
    with pytest.raises(Forbidden) as e:
        wf.approve_award(db, settings, award_id=r.award_id,
                         approver=staff(71, "village_admin", village_id=town.villages["塘后村"]),
                         key=None)
    assert e.value.code == "same_as_verifier"
    with pytest.raises(Forbidden) as e:
        wf.approve_award(db, settings, award_id=r.award_id, approver=staff(
            72, "inspector", village_id=town.villages["塘后村"]), key=None)
    assert e.value.code == "not_permitted"
    r = wf.approve_award(db, settings, award_id=r.award_id, approver=admin(town), key=None,
                         now=T0)
    assert r.status == "posted" and balance(db, "person", p) == 20
    with db.sessions() as s:
        people = explain_entry(s, r.entry_id)["people"]
    assert people == {"recorder": 70, "confirmer": None, "verifier": 71, "approver": 50,
                      "reviewer": None}


def test_claim_for_someone_else_is_refused_and_a_claim_can_be_rejected(db, settings, town):
    _, p = family(db, town)
    _, q = family(db, town, tag="林")
    with pytest.raises(RuleRefused) as e:
        rec(db, settings, "A14", ("person", q), staff(70, person_id=p), channel="claim",
            photos=["x"])
    assert e.value.code == "not_permitted"
    r = rec(db, settings, "A14", ("person", p), staff(70, person_id=p), channel="claim",
            photos=["x"])
    r = wf.reject_award(db, settings, award_id=r.award_id, actor=admin(town),
                        reason="证明不清晰", key=None)
    assert r.status == "rejected"
    with pytest.raises(Conflict) as e:
        wf.approve_award(db, settings, award_id=r.award_id, approver=admin(town), key=None)
    assert e.value.code == "award_status_conflict"


def test_public_notice_without_objection_posts_when_the_window_passes(db, settings, town):
    vid = town.villages["塘边村"]
    _, p = family(db, town, village="塘边村")
    r = rec(db, settings, "D08", ("person", p), admin(town, village="塘边村"))
    assert r.status == "on_notice" and balance(db, "person", p) == 0
    assert pending_points(db, vid) == 6
    with db.sessions() as s:
        assert book.village_budget_available(s, vid) == BUDGET - 6  # set aside, not spendable
        shown = village_notices(s, vid, T0)
    assert shown[0]["points"] == 3 and shown[0]["holder_name"] == "陈*"
    until = T0 + timedelta(days=3)
    assert wf.post_due_notices(db, until - timedelta(seconds=1), settings) == 0
    assert wf.post_due_notices(db, until, settings) == 1
    assert wf.post_due_notices(db, until, settings) == 0  # once only
    assert balance(db, "person", p) == 6 and pending_points(db, vid) == 0
    audit_clean(db)


def test_objection_upheld_rejects_and_returns_budget_and_caps(db, settings, town):
    vid = town.villages["塘边村"]
    h, _ = family(db, town, village="塘边村")
    inspector = staff(51, "inspector", village_id=vid)
    r = rec(db, settings, "C01", ("household", h), inspector)
    o = wf.object_to_award(db, award_id=r.award_id, actor=staff(90), reason="院子很乱",
                           key=None, now=T0 + timedelta(days=1))
    assert o.status == "in_review"
    with pytest.raises(Forbidden):  # the recorder does not review objections to their record
        wf.review_objections(db, settings, award_id=r.award_id,
                             reviewer=staff(51, "village_admin", village_id=vid), uphold=True,
                             note="", key=None)
    done = wf.review_objections(db, settings, award_id=r.award_id, reviewer=admin(
        town, 52, "塘边村"), uphold=True, note="复核属实", key=None, now=T0 + timedelta(days=2))
    assert done.status == "rejected" and balance(db, "household", h) == 0
    assert pending_points(db, vid) == 0
    with db.sessions() as s:
        assert book.village_budget_available(s, vid) == BUDGET
    again = rec(db, settings, "C01", ("household", h), inspector, at=T0 + timedelta(days=2))
    assert again.status == "on_notice"  # the month's assessment is free again
    audit_clean(db)


def test_objection_dismissed_posts_now_and_late_objection_is_refused(db, settings, town):
    _, p = family(db, town, village="塘边村")
    r = rec(db, settings, "D08", ("person", p), admin(town, village="塘边村"))
    wf.object_to_award(db, award_id=r.award_id, actor=staff(90), reason="?", key=None,
                       now=T0)
    done = wf.review_objections(db, settings, award_id=r.award_id,
                                reviewer=admin(town, 52, "塘边村"), uphold=False, note="属实",
                                key=None, now=T0 + timedelta(hours=1))
    assert done.status == "posted" and balance(db, "person", p) == 6
    r2 = rec(db, settings, "D05", ("person", p), admin(town, village="塘边村"))
    with pytest.raises(Conflict) as e:
        wf.object_to_award(db, award_id=r2.award_id, actor=staff(90), reason="late",
                           key=None, now=T0 + timedelta(days=3))
    assert e.value.code == "notice_window_closed"
    audit_clean(db)


def test_deduction_on_notice_waits_then_posts(db, settings, town):
    h, _ = family(db, town, village="坑东村")
    inspector = staff(51, "inspector", village_id=town.villages["坑东村"])
    r = rec(db, settings, "household_1000:H202", ("household", h), inspector)
    assert r.status == "on_notice" and balance(db, "household", h) == 0
    assert wf.post_due_notices(db, T0 + timedelta(days=5)) == 1
    assert balance(db, "household", h) == -5
    audit_clean(db)


def _posted_deduction(db, settings, town):
    h, p = family(db, town)
    r = rec(db, settings, "C06", ("household", h), admin(town))
    return h, p, r


def test_appeal_upheld_posts_a_reversing_entry_that_names_the_appeal(db, settings, town):
    h, p, r = _posted_deduction(db, settings, town)
    holder = staff(80, person_id=p)
    a = wf.appeal(db, award_id=r.award_id, appellant=holder, reason="已整改", key=None,
                  now=T0 + timedelta(days=1))
    with pytest.raises(Forbidden) as e:
        wf.decide_appeal(db, settings, appeal_id=a.appeal_id, decider=admin(town),
                         upheld=True, note="", key=None)
    assert e.value.code == "same_as_recorder"
    d = wf.decide_appeal(db, settings, appeal_id=a.appeal_id, decider=admin(town, 55),
                         upheld=True, note="情况属实", key=None, now=T0 + timedelta(days=2))
    assert d.status == "upheld" and balance(db, "household", h) == 0
    with db.sessions() as s:
        x = explain_entry(s, d.reversal_entry_id)
    assert x["reverses_id"] == r.entry_id and x["source"] == "appeal"
    assert x["appeal"]["appeal_id"] == a.appeal_id and x["award"]["status"] == "reversed"
    with pytest.raises(Conflict) as e:
        wf.appeal(db, award_id=r.award_id, appellant=holder, reason="again", key=None)
    assert e.value.code == "award_status_conflict"
    audit_clean(db)


def test_appeal_rejected_keeps_the_deduction(db, settings, town):
    h, p, r = _posted_deduction(db, settings, town)
    a = wf.appeal(db, award_id=r.award_id, appellant=staff(80, person_id=p), reason="不服",
                  key=None, now=T0)
    d = wf.decide_appeal(db, settings, appeal_id=a.appeal_id, decider=admin(town, 55),
                         upheld=False, note="证据充分", key=None)
    assert d.status == "rejected" and balance(db, "household", h) == -4
    with pytest.raises(Conflict) as e:
        wf.decide_appeal(db, settings, appeal_id=a.appeal_id, decider=admin(town, 56),
                         upheld=True, note="", key=None)
    assert e.value.code == "appeal_decided"


def test_appeal_only_by_the_holder_only_of_deductions_only_in_the_window(db, settings, town):
    _, p, r = _posted_deduction(db, settings, town)
    with pytest.raises(Forbidden):
        wf.appeal(db, award_id=r.award_id, appellant=staff(81, person_id=999), reason="x",
                  key=None, now=T0)
    with pytest.raises(Conflict) as e:
        wf.appeal(db, award_id=r.award_id, appellant=staff(80, person_id=p), reason="x",
                  key=None, now=T0 + timedelta(days=7, seconds=1))
    assert e.value.code == "appeal_window_closed"
    plus = rec(db, settings, "D08", ("person", p), admin(town))
    with pytest.raises(Conflict) as e:
        wf.appeal(db, award_id=plus.award_id, appellant=staff(80, person_id=p), reason="x",
                  key=None, now=T0)
    assert e.value.code == "not_a_deduction"


def test_recorder_report_shows_each_recorder_and_flags_outliers(db, settings, town):
    vid = town.villages["塘后村"]
    households = [family(db, town, tag=f"户{i}")[0] for i in range(8)]
    heavy, light, other = admin(town, 60), admin(town, 61), admin(town, 62)
    for h in households[:6]:
        rec(db, settings, "C06", ("household", h), heavy, quantity=5)
    rec(db, settings, "C06", ("household", households[6]), light)
    rec(db, settings, "C09", ("household", households[7]), other)
    rec(db, settings, "C12", ("household", households[7]), light)
    with db.sessions() as s:
        report = recorder_report(s, village_id=vid)
    by = {r["recorder_id"]: r for r in report["recorders"]}
    assert by[60]["deduct_steps"] == 120 and by[60]["outlier"]
    assert not by[61]["outlier"] and by[61]["award_steps"] == 10
    items = {(r["recorder_id"], r["item"]) for r in report["rows"]}
    assert {(60, "C06"), (61, "C06"), (61, "C12"), (62, "C09")} == items
