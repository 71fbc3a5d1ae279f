"""The pure evaluation function, one shape of the catalog per test, at its edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.rules import catalog_io
from ledger.rules import engine as E
from ledger.rules.periods import local_date, period_key

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Baogai
PERSON = E.Holder("person", 5, 1, "塘后村", household_id=3)
HOUSEHOLD = E.Holder("household", 3, 1, "塘后村", household_id=3)
INSPECTOR = E.Actor(9, roles=(("inspector", 1), ("organizer", 1), ("village_admin", 1)),
                    person_id=70, household_id=8)

HEAD = """
catalog:
  code: t
  name: 测试目录
  effective_from: 2024-01-01
  scale: 2
"""


def cat(body: str, head: str = HEAD):
    return catalog_io.load_text(head + body)


def ev(c, code, *, holder=PERSON, actor=INSPECTOR, usage=None, budget=None, balance=0,
       confirmer=None, now=NOW, **inp):
    inp.setdefault("occurred_at", now)
    inp.setdefault("channel", "inspector")
    hist = E.History(now=now, usage=usage or {}, budget_available=budget, balance_steps=balance)
    return E.evaluate(c, code, holder, actor, E.Inputs(**inp), hist, confirmer=confirmer)


def used(c, code, holder=PERSON, **fields):
    """Usage as if already consumed on every counter of the item for this holder."""
    keys = E.counter_keys(c, code, holder, E.Inputs(occurred_at=NOW))
    return {k: E.Usage(**fields) for k in keys}


SIMPLE = cat("""
categories:
  - code: A
    name: 甲
    items:
      - {code: A1, name: 按次, points: 2}
      - {code: A2, name: 按小时, per: hour, points: 1, max_minutes_per_activity: 120}
      - {code: A3, name: 半天, per: half_day, points: 3, half_day_minutes: 180}
      - {code: A4, name: 区间, points: {min: 5, max: 10}}
      - {code: A5, name: 级别, levels: {national: 100, county: 20, village: 5}}
      - {code: A6, name: 半分, points: 0.5}
      - {code: A7, name: 扣分, points: -3, caps: {points: {year: 10}}}
""")


def test_fixed_points_per_occurrence_in_steps():
    d = ev(SIMPLE, "A1", quantity=3)
    assert d.ok and d.steps == 12 and d.explain(2)["credits"][0]["points"] == 6


def test_half_point_item_is_one_step_at_scale_two():
    d = ev(SIMPLE, "A6")
    assert d.ok and d.steps == 1 and d.explain(2)["credits"][0]["points"] == 0.5


def test_per_hour_counts_minutes_and_clips_to_activity_limit():
    d = ev(SIMPLE, "A2", minutes=90)
    assert d.ok and d.steps == 3 and d.credits[0].minutes == 90  # 1.5 h × 1 point
    d = ev(SIMPLE, "A2", minutes=300)
    assert d.credits[0].minutes == 120 and d.steps == 4


def test_per_hour_needs_minutes():
    assert ev(SIMPLE, "A2").reason == "minutes_required"


def test_half_day_counts_whole_half_days_only():
    assert ev(SIMPLE, "A3", minutes=179).steps == 0
    assert ev(SIMPLE, "A3", minutes=180).steps == 6
    assert ev(SIMPLE, "A3", minutes=400).steps == 12


def test_range_item_takes_the_recorders_value_and_reason():
    d = ev(SIMPLE, "A4", points=7, reason="帮助邻居")
    assert d.ok and d.steps == 14 and d.inputs["points"] == 7
    assert ev(SIMPLE, "A4", points=7).reason == "reason_required"
    assert ev(SIMPLE, "A4", reason="x").reason == "points_required"
    assert ev(SIMPLE, "A4", points=10.5, reason="x").reason == "points_out_of_range"
    assert ev(SIMPLE, "A4", points=5, reason="x").ok and ev(SIMPLE, "A4", points=10,
                                                            reason="x").ok
    assert ev(SIMPLE, "A4", points=7.25, reason="x").reason == "points_not_on_scale"


def test_level_item_takes_the_levels_points():
    assert ev(SIMPLE, "A5", level="county").steps == 40
    assert ev(SIMPLE, "A5", level="national").steps == 200
    assert ev(SIMPLE, "A5", level="province").reason == "level_unknown"


def test_deduction_with_maximum_clips_then_refuses():
    d = ev(SIMPLE, "A7", quantity=2)
    assert d.steps == -12
    u = used(SIMPLE, "A7", deduct_steps=16)
    d = ev(SIMPLE, "A7", usage=u)  # 4 steps of 20 left: clipped to them
    assert d.ok and d.steps == -4 and d.credits[0].caps[0]["clipped"]
    assert ev(SIMPLE, "A7", usage=used(SIMPLE, "A7", deduct_steps=20)).reason == "cap_reached"


PERIODIC = cat("""
categories:
  - code: P
    name: 周期
    items:
      - {code: W, name: 每周, points: 1, once_per: week, subjects: [household]}
      - {code: M, name: 每月, points: 10, once_per: month, subjects: [household]}
      - {code: Q, name: 每季, points: 10, once_per: quarter, subjects: [household]}
      - {code: H, name: 半年, points: 10, once_per: half_year, subjects: [household]}
      - {code: Y, name: 每年, points: 10, once_per: year}
      - {code: E, name: 一次性, points: 10, once_per: ever}
""")


@pytest.mark.parametrize("code,period,next_start", [
    ("W", "week", datetime(2026, 3, 15, 16, 0, tzinfo=UTC)),  # Monday 00:00 Beijing
    ("M", "month", datetime(2026, 3, 31, 16, 0, tzinfo=UTC)),
    ("Q", "quarter", datetime(2026, 3, 31, 16, 0, tzinfo=UTC)),
    ("H", "half_year", datetime(2026, 6, 30, 16, 0, tzinfo=UTC)),
    ("Y", "year", datetime(2026, 12, 31, 16, 0, tzinfo=UTC)),
])
def test_periodic_item_scores_once_per_period_and_again_after_rollover(code, period,
                                                                       next_start):
    holder = PERSON if code == "Y" else HOUSEHOLD
    last_moment = next_start - timedelta(seconds=1)
    k = E.CounterKey(holder.type, holder.id, f"item:t:{code}",
                     period_key(period, local_date(last_moment)))
    u = {k: E.Usage(times=1, award_steps=20)}
    assert ev(PERIODIC, code, holder=holder, usage=u, occurred_at=last_moment,
              now=last_moment).reason == "period_already_scored"
    assert ev(PERIODIC, code, holder=holder, usage=u, occurred_at=next_start,
              now=next_start).ok


def test_one_time_item_never_scores_twice():
    u = used(PERIODIC, "E", times=1)
    assert ev(PERIODIC, "E", usage=u).reason == "period_already_scored"


CAPS = cat("""
catalog:
  code: c
  name: 上限
  effective_from: 2024-01-01
  caps: {points: {year: 50}}
categories:
  - code: A
    name: 甲
    caps: {points: {month: 20}}
    items:
      - {code: D, name: 每日上限, points: 4, caps: {points: {day: 8}, times: {day: 2}}}
      - {code: B, name: 普通, points: 5}
""", head="")


def test_daily_cap_on_the_boundary_day_and_next_day():
    late = datetime(2026, 3, 10, 15, 59, tzinfo=UTC)  # 23:59 Beijing, 10 March
    keys = E.counter_keys(CAPS, "D", PERSON, E.Inputs(occurred_at=late))
    day = next(k for k in keys if k.period.startswith("day:"))
    assert day.period == "day:2026-03-10"
    u = {day: E.Usage(award_steps=8, times=2)}
    assert ev(CAPS, "D", usage=u, occurred_at=late, now=late).reason == "cap_reached"
    after = late + timedelta(minutes=2)  # 00:01 on 11 March: a new day
    assert ev(CAPS, "D", usage=u, occurred_at=after, now=after).ok


def test_times_cap_refuses_the_third_in_a_day():
    keys = E.counter_keys(CAPS, "D", PERSON, E.Inputs(occurred_at=NOW))
    day = next(k for k in keys if k.period.startswith("day:"))
    d = ev(CAPS, "D", usage={day: E.Usage(award_steps=4, times=2)})
    assert d.reason == "cap_reached" and d.detail["metric"] == "times"


def test_category_and_catalog_caps_clip():
    keys = E.counter_keys(CAPS, "B", PERSON, E.Inputs(occurred_at=NOW))
    month = next(k for k in keys if k.scope == "cat:c:A")
    d = ev(CAPS, "B", usage={month: E.Usage(award_steps=18)})
    assert d.ok and d.steps == 2
    year = next(k for k in keys if k.scope == "catalog:c")
    assert ev(CAPS, "B", usage={year: E.Usage(award_steps=50)}).reason == "cap_reached"


def test_deductions_do_not_use_up_an_award_cap():
    keys = E.counter_keys(CAPS, "B", PERSON, E.Inputs(occurred_at=NOW))
    d = ev(CAPS, "B", usage={k: E.Usage(deduct_steps=100) for k in keys})
    assert d.ok and d.steps == 5


MULT = cat("""
catalog:
  code: m
  name: 倍数
  effective_from: 2024-01-01
  multipliers:
    - {code: day5, name: 5日, factor: 2, days_of_month: [5], categories: [A]}
    - {code: spring, name: 春节, factor: 1.5, from: 2026-02-01, to: 2026-02-28}
    - {code: leader, name: 队长, factor: 3, holder_tags: [team_leader]}
    - {code: weekend, name: 周末扣分加重, factor: 2, weekdays: [6, 7], applies_to: deductions}
categories:
  - code: A
    name: 甲
    items:
      - {code: A1, name: 普通, points: 3}
      - {code: A2, name: 扣分, points: -2}
  - code: B
    name: 乙
    items:
      - {code: B1, name: 普通, points: 3}
""", head="")


def test_activity_day_multiplier_window_is_the_whole_local_day():
    start = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)  # 5 March 00:00 Beijing
    assert ev(MULT, "A1", occurred_at=start, now=start).steps == 6
    before = start - timedelta(seconds=1)
    assert ev(MULT, "A1", occurred_at=before, now=before).steps == 3
    end = start + timedelta(days=1)
    assert ev(MULT, "A1", occurred_at=end, now=end).steps == 3
    assert ev(MULT, "B1", occurred_at=start, now=start).steps == 3  # other category


def test_date_window_multiplier_is_inclusive_and_rounds_down():
    first = datetime(2026, 1, 31, 16, 0, tzinfo=UTC)  # 1 Feb Beijing
    d = ev(MULT, "B1", occurred_at=first, now=first)
    assert d.steps == 4 and d.multiplier["code"] == "spring"  # 3 × 1.5 = 4.5 → 4
    last = datetime(2026, 2, 28, 15, 59, tzinfo=UTC)
    assert ev(MULT, "B1", occurred_at=last, now=last).steps == 4
    after = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # 1 March Beijing
    assert ev(MULT, "B1", occurred_at=after, now=after).steps == 3


def test_role_multiplier_and_the_highest_one_applies_not_the_product():
    leader = E.Holder("person", 5, 1, "塘后村", 3, frozenset({"team_leader"}))
    day5 = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
    d = ev(MULT, "A1", holder=leader, occurred_at=day5, now=day5)
    assert d.steps == 9 and set(d.multipliers_matched) == {"day5", "leader"}


def test_deduction_multiplier_applies_only_to_deductions():
    sat = datetime(2026, 3, 14, 2, 0, tzinfo=UTC)
    assert ev(MULT, "A2", occurred_at=sat, now=sat).steps == -4
    assert ev(MULT, "B1", occurred_at=sat, now=sat).steps == 3


WHO = cat("""
catalog:
  code: w
  name: 权限
  effective_from: 2024-01-01
  villages: [塘后村]
  second_confirmation_over: 5
categories:
  - code: A
    name: 甲
    items:
      - {code: ADMIN, name: 仅管理员, points: 2, recorders: [admin]}
      - {code: CLAIM, name: 可申报, points: 2, recorders: [admin, claim], evidence: [photo]}
      - {code: HH, name: 仅家庭, points: 2, subjects: [household]}
      - {code: OLD, name: 已停用, points: 2, effective_to: 2025-12-31}
      - {code: NEW, name: 未生效, points: 2, effective_from: 2026-04-01}
      - {code: BIG, name: 大额扣分, points: -6}
      - {code: SMALL, name: 小额扣分, points: -5}
      - {code: ROLL, name: 计入家庭, points: 2, rollup: household, caps: {points: {month: 4}}}
""", head="")


def test_recorder_needs_the_items_channel_and_role():
    organizer = E.Actor(10, roles=(("organizer", 1),))
    d = ev(WHO, "ADMIN", actor=organizer, channel="organizer")
    assert d.reason == "not_permitted"
    assert ev(WHO, "ADMIN", actor=organizer, channel="admin").reason == "not_permitted"
    assert ev(WHO, "ADMIN", channel="admin").ok
    other_village = E.Actor(11, roles=(("village_admin", 2),))
    assert ev(WHO, "ADMIN", actor=other_village, channel="admin").reason == "not_permitted"


def test_no_one_records_for_themself_or_their_household():
    me = E.Actor(12, roles=(("village_admin", 1),), person_id=5, household_id=3)
    assert ev(WHO, "ADMIN", actor=me, channel="admin").reason == "self_award_forbidden"
    family_member = E.Actor(13, roles=(("village_admin", 1),), person_id=6, household_id=3)
    assert ev(WHO, "ADMIN", actor=family_member, channel="admin").reason == \
        "self_award_forbidden"
    assert ev(WHO, "HH", holder=HOUSEHOLD, actor=family_member,
              channel="admin").reason == "self_award_forbidden"


def test_a_claim_is_only_for_oneself_and_needs_its_evidence():
    me = E.Actor(12, roles=(), person_id=5, household_id=3)
    assert ev(WHO, "CLAIM", actor=me, channel="claim").reason == "evidence_required"
    d = ev(WHO, "CLAIM", actor=me, channel="claim", evidence=E.Evidence(photos=("p1",)))
    assert d.ok and d.needs_review
    stranger = E.Actor(14, roles=(), person_id=99, household_id=98)
    assert ev(WHO, "CLAIM", actor=stranger, channel="claim",
              evidence=E.Evidence(photos=("p",))).reason == "not_permitted"


def test_subject_scope_and_effective_dates():
    assert ev(WHO, "HH", channel="admin").reason == "subject_not_allowed"
    outside = E.Holder("person", 7, 2, "坑东村", 4)
    assert ev(WHO, "ADMIN", holder=outside, channel="admin").reason == "out_of_scope"
    assert ev(WHO, "OLD", channel="admin").reason == "rule_inactive"
    assert ev(WHO, "NEW", channel="admin").reason == "rule_inactive"
    last_day = datetime(2025, 12, 31, 15, 0, tzinfo=UTC)
    assert ev(WHO, "OLD", channel="admin", occurred_at=last_day, now=NOW).ok


def test_backdating_and_future_dates_are_refused():
    assert ev(WHO, "ADMIN", channel="admin",
              occurred_at=NOW + timedelta(hours=1)).reason == "occurred_in_future"
    assert ev(WHO, "ADMIN", channel="admin",
              occurred_at=NOW - timedelta(days=91)).reason == "occurred_too_long_ago"


def test_large_deduction_needs_a_second_person_above_the_threshold_only():
    assert ev(WHO, "SMALL", channel="admin").ok
    assert ev(WHO, "BIG", channel="admin").reason == "needs_second_confirmation"
    assert ev(WHO, "BIG", channel="admin", confirmer=INSPECTOR).reason == \
        "confirmer_same_as_recorder"
    second = E.Actor(20, roles=(("inspector", 1),))
    assert ev(WHO, "BIG", channel="admin", confirmer=second).ok
    no_role = E.Actor(21, roles=())
    assert ev(WHO, "BIG", channel="admin", confirmer=no_role).reason == "not_permitted"


def test_budget_exhausted_is_a_refusal():
    assert ev(WHO, "ADMIN", channel="admin", budget=1).reason == "budget_exhausted"
    assert ev(WHO, "ADMIN", channel="admin", budget=2).ok


def test_rollup_credits_the_household_within_its_own_caps():
    d = ev(WHO, "ROLL", channel="admin")
    assert [(c.holder.type, c.steps) for c in d.credits] == [("person", 2), ("household", 2)]
    hh_keys = [k for k in E.counter_keys(WHO, "ROLL", PERSON, E.Inputs(occurred_at=NOW))
               if k.holder_type == "household"]
    d = ev(WHO, "ROLL", channel="admin", usage={k: E.Usage(award_steps=4) for k in hh_keys})
    assert d.ok and len(d.credits) == 1 and d.rollup_refused["reason"] == "cap_reached"


SANCTION = cat("""
categories:
  - code: S
    name: 处罚
    items:
      - {code: Z, name: 清零, sanction: {zero_balance: true}}
      - {code: BAR, name: 禁兑, points: 0, sanction: {bar_redemption_days: 30}}
""")


def test_sanction_zeroes_a_positive_balance_only():
    assert ev(SANCTION, "Z", balance=37).steps == -37
    assert ev(SANCTION, "Z", balance=-5).reason == "nothing_to_deduct"
    d = ev(SANCTION, "BAR")
    assert d.ok and d.steps == 0 and d.sanction["bar_redemption_days"] == 30


def test_every_refusal_has_a_distinct_message():
    assert len(set(E.MESSAGES.values())) == len(E.MESSAGES)
    assert {"cap_reached", "rule_inactive", "not_permitted", "budget_exhausted",
            "period_already_scored", "self_award_forbidden",
            "needs_second_confirmation"} <= set(E.MESSAGES)
