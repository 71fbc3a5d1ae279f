"""Standing with consequences that act: states from thresholds on available points, heavy
deductions in a year, a ban sanction and an admin's ban; enforced in redemption, draws, honor
lists, stars and check-in, each with its own code, reason and end; every change recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.errors import DomainError
from ledger.redemption import draws
from ledger.redemption.service import redeem
from ledger.rules import service as svc
from ledger.rules import standing, store
from ledger.rules.thresholds import redemption_refusal
from tests.builders.redemption import make_reward, make_shop
from tests.builders.rules import T0, add_person, make_world, staff

CATALOG = """
catalog:
  code: standing
  name: 信用状态
  effective_from: 2024-01-01
  approval: {approved_by: 村民代表会议, decision: 测试, approved_on: 2024-01-01}
  subjects: [person, household]
  standing:
    - {code: suspended, name: 暂停福利, below: 70, effects: [redeem, draws, honors]}
    - {code: cancelled, name: 注销登记, below: 0, effects: [redeem, draws, honors, stars, checkin]}
    - {code: barred, name: 限制参与, deducted_over: 30, for_days: 365, effects: [redeem, checkin]}
categories:
  - code: A
    name: 甲
    items:
      - {code: GOOD, name: 好事, points: 50}
      - {code: BAD, name: 违规, points: -20}
      - {code: FAKE, name: 虚报时长, points: 0, sanction: {ban_days: 730}}
"""


@pytest.fixture
def town(db):
    w = make_world(db)
    store.import_catalog(db, CATALOG, actor_id=1)
    return w


def rec(db, settings, w, item, p, at=T0):
    return svc.record_award(db, settings, item_code=item, holder=("person", p),
                            recorder=staff(50, "village_admin", village_id=w.villages["塘后村"]),
                            context={"occurred_at": at.isoformat(), "channel": "admin",
                                     "note": "记录"}, now=at)


def states(db, p, at):
    with db.transaction() as s:
        return {x.code: x for x in standing.refresh(s, "person", p, at).states}


def test_below_a_threshold_suspends_benefits_until_the_balance_is_back(db, settings, town):
    p = add_person(db, town, "李一")
    rec(db, settings, town, "GOOD", p)
    got = states(db, p, T0)
    assert set(got) == {"suspended"} and "50" in got["suspended"].reason
    with db.sessions() as s:
        r = redemption_refusal(s, "person", p, now=T0)
        assert r.code == "standing_bars_redemption" and r.extra["state"] == "suspended"
        assert standing.refusal(s, "person", p, "checkin", T0) is None  # not stopped there
    rec(db, settings, town, "GOOD", p, T0 + timedelta(hours=1))
    assert states(db, p, T0 + timedelta(hours=1)) == {}
    with db.sessions() as s:
        changes = [(c["state"], c["change"]) for c in standing.history(s, "person", p)]
    assert changes == [("suspended", "left"), ("suspended", "entered")]


def test_heavy_deductions_bar_for_a_period_and_stop_check_in(db, settings, town):
    p = add_person(db, town, "李二")
    for i in range(3):
        rec(db, settings, town, "GOOD", p, T0 + timedelta(minutes=i))
    rec(db, settings, town, "BAD", p, T0 + timedelta(hours=1))
    assert "barred" not in states(db, p, T0 + timedelta(hours=1))
    second = T0 + timedelta(hours=2)
    rec(db, settings, town, "BAD", p, second)  # 40 deducted this year > 30
    got = states(db, p, second)
    assert set(got) == {"barred"} and got["barred"].until == second + timedelta(days=365)
    with db.sessions() as s:
        e = standing.refusal(s, "person", p, "checkin", second)
        assert e.code == "standing_bars_checkin" and e.extra["until"].startswith("2027-03-10")
        assert standing.refusal(s, "person", p, "stars", second) is None
    assert states(db, p, second + timedelta(days=366)) == {}


def test_a_ban_sanction_stops_everything_and_each_place_has_its_code(db, settings, town):
    p = add_person(db, town, "李三")
    rec(db, settings, town, "GOOD", p)
    rec(db, settings, town, "GOOD", p, T0 + timedelta(minutes=1))
    r = rec(db, settings, town, "FAKE", p, T0 + timedelta(hours=1))
    at = T0 + timedelta(hours=2)
    with db.transaction() as s:
        codes = {effect: standing.refusal(s, "person", p, effect, at).code
                 for effect in standing.EFFECT_CODES}
    assert codes == standing.EFFECT_CODES and len(set(codes.values())) == 5
    got = states(db, p, at)
    assert got["banned"].cause == f"award:{r.award_id}"
    shop = make_shop(db, town.town)
    gift = make_reward(db, shop, cost_points=1).id
    with pytest.raises(DomainError) as e:
        redeem(db, reward_id=gift, holder_type="person", holder_id=p, quantity=1, actor_id=p,
               key=None, now=at)
    assert e.value.code == "standing_bars_redemption"
    with db.sessions() as s:
        pop = draws.population(s, town.town, draws.validate_population(
            {"holder_type": "person", "volunteers_only": False}, default_year=2026))
    assert ("person", p) not in pop


def test_an_admins_ban_is_recorded_with_who_and_why_and_can_be_lifted(db, settings, town):
    p = add_person(db, town, "李四")
    for i in range(2):
        rec(db, settings, town, "GOOD", p, T0 + timedelta(minutes=i))
    with db.transaction() as s:
        ban = standing.impose(s, "person", p, actor_id=900, reason="虚报服务时长，经核查属实",
                              days=365, now=T0)
    with db.transaction() as s:
        e = standing.refusal(s, "person", p, "checkin", T0 + timedelta(days=1))
        assert e.code == "standing_bars_checkin" and "虚报" in e.extra["reason"]
        standing.lift(s, ban.id, actor_id=901, reason="复核撤销", now=T0 + timedelta(days=2))
    assert states(db, p, T0 + timedelta(days=3)) == {}
    with db.sessions() as s:
        h = standing.history(s, "person", p)
    assert [(c["change"], c["actor_id"]) for c in h] == [("left", 901), ("entered", 900)]


def test_only_suspects_are_computed_and_anyone_else_is_in_no_state(db, settings, town):
    """`refusal` and `stopped` compute a holder's standing only when `suspects` names them
    (one statement); everyone it leaves out must be in no state and have no history."""
    from sqlalchemy import event

    people = {name: add_person(db, town, name) for name in ("好", "少", "零", "扣", "解")}
    for i in range(2):
        rec(db, settings, town, "GOOD", people["好"], T0 + timedelta(minutes=i))
        rec(db, settings, town, "GOOD", people["解"], T0 + timedelta(minutes=i))
    rec(db, settings, town, "GOOD", people["少"])  # 50 < 70
    for i in range(3):
        rec(db, settings, town, "GOOD", people["扣"], T0 + timedelta(minutes=i))
    rec(db, settings, town, "BAD", people["扣"], T0 + timedelta(hours=1))  # 130, a deduction
    with db.transaction() as s:
        ban = standing.impose(s, "person", people["解"], actor_id=900, reason="核查", days=30,
                              now=T0)
        standing.lift(s, ban.id, actor_id=901, reason="撤销", now=T0 + timedelta(hours=1))
    at = T0 + timedelta(hours=2)
    with db.sessions() as s:
        found = standing.suspects(s, "person", list(people.values()), at)
        for p in people.values():
            in_some = standing.compute(s, "person", p, at).states or \
                standing.recorded(s, "person", p)
            assert not in_some or p in found
    assert found == {people[n] for n in ("少", "零", "扣", "解")}
    sent: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a, **k: sent.append(a[2]))
    with db.transaction() as s:
        assert standing.refusal(s, "person", people["好"], "checkin", at) is None
    reads = [q for q in sent if q != "BEGIN IMMEDIATE"]  # SQLite's own start
    assert len(reads) == 2 and all(q.lstrip().startswith("SELECT") for q in reads), reads
    with db.sessions() as s:
        assert standing.history(s, "person", people["好"]) == []
