"""Recording through the ledger: amounts, minutes, roll-ups, caps over real counters, refusals,
idempotency and the explanation every entry carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ledger.errors import IdempotencyConflict
from ledger.journal import book
from ledger.journal.models import Account
from ledger.rules import service as svc
from ledger.rules.explain import explain_entry
from ledger.rules.models import AwardRecord
from ledger.rules.service import RuleRefused
from ledger.rules.thresholds import redemption_refusal, standing
from ledger.rules.workflow import approve_award
from tests.conftest import audit_clean
from tests.builders.rules import BUDGET, T0, balance, family, load, make_world, staff


@pytest.fixture
def town(db):
    w = make_world(db)
    load(db, "baogai", "household_1000", "volunteer_hours")
    h, p = family(db, w)
    w.households["chen"], w.people["chen"] = h, p
    return w


def rec(db, settings, w, item, holder, *, who=None, key=None, at=T0, **ctx):
    who = who or staff(50, "village_admin", "inspector", "organizer",
                       village_id=w.villages["塘后村"])
    ctx.setdefault("occurred_at", at.isoformat())
    return svc.record_award(db, settings, item_code=item, holder=holder, recorder=who,
                            context=ctx, key=key, now=at)


def test_award_moves_points_from_the_village_budget_with_its_explanation(db, settings, town):
    p = town.people["chen"]
    r = rec(db, settings, town, "D03", ("person", p), points=6, reason="扶老人过马路",
            note="邻居作证")
    assert r.status == "posted" and r.points == 6 and r.steps == 12
    assert balance(db, "person", p) == 12
    with db.sessions() as s:
        assert book.village_budget_available(s, town.villages["塘后村"]) == BUDGET - 12
        x = explain_entry(s, r.entry_id)
    assert x["rule"] == {"catalog": "baogai", "catalog_version": 1, "item": "D03",
                         "item_version": 1, "item_name": "好人好事"}
    assert x["inputs"]["points"] == 6 and x["inputs"]["reason"] == "扶老人过马路"
    assert x["evidence"]["note"] == "邻居作证" and x["people"]["recorder"] == 50
    assert x["details"]["item"] == "D03" and x["details"]["item_version"] == 1
    audit_clean(db)


def test_per_hour_item_books_service_minutes_and_rolls_up_to_the_household(db, settings, town):
    h, p = town.households["chen"], town.people["chen"]
    r = rec(db, settings, town, "A01", ("person", p), minutes=150, channel="organizer",
            activity_id=77)
    assert r.points == 2.5 and r.minutes == 150
    assert balance(db, "person", p) == 5 and balance(db, "household", h) == 0  # counted only
    with db.sessions() as s:
        assert s.scalar(select(func.sum(Account.balance)).where(
            Account.holder_type == "household", Account.holder_id == h,
            Account.purpose == "score")) == 5
    assert balance(db, "person", p, "minutes") == 150
    assert balance(db, "household", h, "minutes") == 0  # service time is the person's
    again = rec(db, settings, town, "A01", ("person", p), minutes=150, channel="organizer",
                activity_id=77)  # the same activity: 240 minutes at most in all
    assert again.minutes == 90
    with pytest.raises(RuleRefused) as e:
        rec(db, settings, town, "A01", ("person", p), minutes=30, channel="organizer",
            activity_id=77)
    assert e.value.code == "cap_reached"
    audit_clean(db)


def test_deduction_may_take_a_holder_below_zero(db, settings, town):
    h = town.households["chen"]
    r = rec(db, settings, town, "C10", ("household", h), note="污水", photos=["photo:1"])
    assert r.points == -5 and balance(db, "household", h) == -10
    with db.sessions() as s:
        assert book.village_budget_available(s, town.villages["塘后村"]) == BUDGET + 10
    audit_clean(db)


def test_same_key_returns_the_first_award_and_another_body_conflicts(db, settings, town):
    p = town.people["chen"]
    first = rec(db, settings, town, "D08", ("person", p), key="k1")
    again = rec(db, settings, town, "D08", ("person", p), key="k1")
    assert again == first and balance(db, "person", p) == 6
    with pytest.raises(IdempotencyConflict):
        rec(db, settings, town, "D05", ("person", p), key="k1")


def test_a_refusal_writes_nothing(db, settings, town):
    p = town.people["chen"]
    with pytest.raises(RuleRefused) as e:
        rec(db, settings, town, "C01", ("person", p))  # a household-only item
    assert e.value.code == "subject_not_allowed" and e.value.status == 422
    assert e.value.extra["explanation"]["reason"] == "subject_not_allowed"
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AwardRecord)) == 0


def test_times_cap_per_week_across_the_week_boundary(db, settings, town):
    p = town.people["chen"]
    sunday = datetime(2026, 3, 15, 15, 0, tzinfo=UTC)  # Sunday 23:00 Beijing
    rec(db, settings, town, "A05", ("person", p), at=sunday - timedelta(days=2))
    rec(db, settings, town, "A05", ("person", p), at=sunday)
    with pytest.raises(RuleRefused) as e:
        rec(db, settings, town, "A05", ("person", p), at=sunday + timedelta(minutes=30))
    assert e.value.code == "cap_reached" and e.value.status == 409
    monday = sunday + timedelta(hours=1)  # Monday 00:00 Beijing
    assert rec(db, settings, town, "A05", ("person", p), at=monday).points == 2


def test_monthly_assessment_scores_once_and_again_next_month(db, settings, town):
    h = town.households["chen"]
    inspector = staff(51, "inspector", village_id=town.villages["塘后村"])
    last = datetime(2026, 3, 31, 15, 59, tzinfo=UTC)  # 31 March 23:59 Beijing
    rec(db, settings, town, "C01", ("household", h), who=inspector, at=last)
    with pytest.raises(RuleRefused) as e:
        rec(db, settings, town, "C01", ("household", h), who=inspector, at=last)
    assert e.value.code == "period_already_scored"
    april = last + timedelta(minutes=1)
    assert rec(db, settings, town, "C01", ("household", h), who=inspector,
               at=april).points == 5


def test_activity_day_doubles_category_a_on_the_fifth(db, settings, town):
    p = town.people["chen"]
    fifth = datetime(2026, 4, 5, 1, 0, tzinfo=UTC)
    r = rec(db, settings, town, "A02", ("person", p), at=fifth, channel="organizer")
    assert r.points == 4 and r.decision["multiplier"]["code"] == "activity_day"
    with db.sessions() as s:
        assert explain_entry(s, r.entry_id)["multiplier"]["factor"] == "2"


def test_budget_exhausted_refuses_an_award(db, settings):
    w = make_world(db, budget=0)
    load(db, "baogai")
    _, p = family(db, w)
    book.write(db, lambda s: book.allocate(s, town_id=w.town, village_id=w.villages["塘后村"],
                                           amount=5, shards=settings.budget_shards).as_dict())
    with pytest.raises(RuleRefused) as e:
        rec(db, settings, w, "D08", ("person", p))
    assert e.value.code == "budget_exhausted"
    assert rec(db, settings, w, "D05", ("person", p)).points == 2
    audit_clean(db)


def test_a_check_in_caller_records_with_a_user_id_and_gets_the_entry(db, settings, town):
    p = town.people["chen"]
    r = svc.record_award(db, settings, item_code="volunteer_hours:V101", holder=("person", p),
                         recorder=900, key="attendance:1:points", now=T0,
                         context={"activity_id": 5, "attendance_id": 1, "minutes": 600,
                                  "village_id": town.villages["塘后村"],
                                  "occurred_at": T0.isoformat(), "activity_title": "清洁",
                                  "source": "scan"})
    assert r.minutes == 480 and r.points == 8 and r.entry_id
    assert r.decision["inputs"]["activity_ref"] == "activity:5"
    with db.sessions() as s:
        assert explain_entry(s, r.entry_id)["inputs"]["refs"]["attendance_id"] == 1


def test_bare_item_code_in_two_catalogs_is_ambiguous(db, settings, town):
    import yaml

    from ledger.rules import catalog_io, plain, store
    data = plain.to_dict(catalog_io.load_shipped("baogai"))
    data["catalog"]["code"] = "copy"
    store.import_catalog(db, yaml.safe_dump(data, allow_unicode=True), actor_id=1)
    with pytest.raises(Exception) as e:
        rec(db, settings, town, "D08", ("person", town.people["chen"]))
    assert e.value.code == "item_ambiguous"
    assert rec(db, settings, town, "copy:D08", ("person", town.people["chen"])).catalog \
        == "copy"


def test_sanction_zeroes_the_balance_and_bars_redemption(db, settings, town):
    p = town.people["chen"]
    rec(db, settings, town, "D07", ("person", p), points=20, reason="捐资", photos=["p:1"])
    assert balance(db, "person", p) == 40
    with db.sessions() as s:
        assert redemption_refusal(s, "person", p, now=T0) is None
    r = rec(db, settings, town, "D11", ("person", p))
    assert r.status == "awaiting_confirmation"  # zeroing 20 points is above 10
    from ledger.rules.workflow import confirm_award
    second = staff(60, "inspector", village_id=town.villages["塘后村"])
    r = confirm_award(db, settings, award_id=r.award_id, confirmer=second, key="c", now=T0)
    assert r.status == "pending_review"
    third = staff(61, "village_admin", village_id=town.villages["塘后村"])
    r = approve_award(db, settings, award_id=r.award_id, approver=third, key="a", now=T0)
    assert r.status == "posted" and balance(db, "person", p) == 0
    with db.sessions() as s:
        refusal = redemption_refusal(s, "person", p, now=T0 + timedelta(days=1))
        assert refusal.code == "redemption_barred"
        assert redemption_refusal(s, "person", p, now=T0 + timedelta(days=366)).code == \
            "below_redeem_threshold"
        st = standing(s, "person", p, now=T0)
        assert not st["may_redeem"] and st["redemption_barred_until"]
    audit_clean(db)


def test_thresholds_redeem_minimum_and_benefit_flag(db, settings, town):
    p = town.people["chen"]
    rec(db, settings, town, "D05", ("person", p))  # 2 points: below the 10 to redeem
    with db.sessions() as s:
        assert redemption_refusal(s, "person", p, now=T0).code == "below_redeem_threshold"
        st = standing(s, "person", p, now=T0)
        assert (st["balance"], st["redeem_min"], st["benefits_flagged"]) == (2, 10, False)
    rec(db, settings, town, "C08", ("person", p), at=T0 + timedelta(hours=1))
    rec(db, settings, town, "C08", ("person", p), at=T0 + timedelta(hours=2))
    rec(db, settings, town, "C08", ("person", p), at=T0 + timedelta(hours=3))
    with db.sessions() as s:
        st = standing(s, "person", p, now=T0 + timedelta(hours=4))
        assert st["balance"] == -1 and st["benefits_flagged"]


def test_preview_evaluates_without_writing(db, settings, town):
    p = town.people["chen"]
    d = svc.evaluate(db, settings, item_code="D01", holder=("person", p),
                     recorder=staff(50, "village_admin", village_id=town.villages["塘后村"]),
                     context={"level": "provincial", "photos": ["p:1"]}, now=T0)
    assert d.ok and [c.points for c in d.credits] == [50, 50]
    assert balance(db, "person", p) == 0


def test_revoking_a_paid_attendance_reverses_its_entries_and_frees_its_caps(db, settings, town):
    p = town.people["chen"]
    r = svc.record_award(db, settings, item_code="A02", holder=("person", p), recorder=900,
                         key=None, now=T0, context={"occurred_at": T0.isoformat(),
                                                    "activity_id": 9})
    assert balance(db, "person", p) == 4
    with db.transaction() as s:
        done = svc.revoke_entry(s, r.entry_id, actor_id=5, reason="驳回", source="attendance",
                                source_ref="1", now=T0)
    assert len(done) == 1 and balance(db, "person", p) == 0
    again = rec(db, settings, town, "A02", ("person", p), channel="organizer")
    assert again.points == 2  # the month's once-only item is free again
    audit_clean(db)
