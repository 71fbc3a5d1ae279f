"""Stars: every threshold edge, the history of changes with date and cause, veto caps, teams'
collective services, recomputation that is idempotent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ledger.errors import InvalidInput
from ledger.recognition import stars
from ledger.recognition.models import StarChange, StarKind, StarStatus
from ledger.recognition.tasks import recompute_stars
from ledger.timeutil import utcnow
from tests.builders.recognition import (
    award,
    deduct,
    make_world,
    reverse,
    serve,
)

HOURS = (100, 300, 600, 1000, 1500)


@pytest.mark.parametrize(("minutes", "level"), [
    (0, 0), (100 * 60 - 1, 0), (100 * 60, 1), (300 * 60 - 1, 1), (300 * 60, 2),
    (600 * 60 - 1, 2), (600 * 60, 3), (1000 * 60 - 1, 3), (1000 * 60, 4),
    (1500 * 60 - 1, 4), (1500 * 60, 5), (10**7, 5)])
def test_volunteer_level_at_every_threshold_edge(minutes, level):
    assert stars.level_for(minutes, tuple(h * 60 for h in HOURS)) == level


def test_volunteer_stars_follow_certified_minutes_with_dated_causes(db):
    w = make_world(db)
    p = w.people[0]
    t1 = utcnow() - timedelta(days=3)
    e1 = serve(db, w, p, 100 * 60 - 1, at=t1)
    with db.sessions() as s:
        assert stars.star_level(s, "person", p) == 0
        assert s.scalars(select(StarChange)).all() == []
    e2 = serve(db, w, p, 1, at=t1 + timedelta(hours=1))  # exactly 100 hours: one star
    with db.sessions() as s:
        assert stars.star_level(s, "person", p) == 1
        (ch,) = s.scalars(select(StarChange)).all()
        assert (ch.kind, ch.holder_id, ch.old_level, ch.new_level, ch.value) == \
            ("volunteer", p, 0, 1, 6000)
        assert ch.cause == "service_minutes" and ch.cause_ref == f"entry:{e2}"
        assert ch.changed_at == t1 + timedelta(hours=1)  # the date the hours changed
    reverse(db, e1)  # the first attendance is taken back: below 100 hours again
    with db.sessions() as s:
        assert stars.star_level(s, "person", p) == 0
        changes = s.scalars(select(StarChange).order_by(StarChange.id)).all()
        assert [(c.old_level, c.new_level) for c in changes] == [(0, 1), (1, 0)]
        hist = stars.summary(s, "person", p)["history"]
        assert [h["to"] for h in hist] == [0, 1]


def test_one_catch_up_rates_every_volunteer_it_applies_by_their_own_towns_thresholds(db):
    """A catch-up that applies the minutes of many volunteers refreshes their stars together
    (ledger/recognition/star_history.refresh_volunteers): each by the thresholds of its own
    town, each change caused by that volunteer's own entry, each value stored; done again,
    nothing new is recorded."""
    from ledger import outbox
    from ledger.recognition import rollups, star_history
    a, b = make_world(db, people=4), make_world(db, people=4)
    with db.transaction() as s:
        stars.set_config(s, b.town, "volunteer", {"thresholds": [10, 20, 30, 40, 50]},
                         actor_id=1)
    outbox.attach(db, lambda engine, ids: None)  # nothing followed until the catch-up below
    at = utcnow() - timedelta(hours=2)
    served = {p: (1, 100 * 60 + i, serve(db, a, p, 100 * 60 + i, at=at, follow=False))
              for i, p in enumerate(a.people[:3])}  # 100 hours: one star by default
    served |= {p: (level, 20 * 60 * (i + 1), serve(db, b, p, 20 * 60 * (i + 1), at=at,
                                                   follow=False))
               for i, (p, level) in enumerate(zip(b.people[:3], (2, 4, 5)))}
    rollups.catch_up(db)
    with db.sessions() as s:
        changes = {c.holder_id: c for c in s.scalars(select(StarChange))}
        status = {st.holder_id: st for st in s.scalars(select(StarStatus))}
        for p, (level, minutes, entry) in served.items():
            assert (status[p].level, status[p].value) == (level, minutes)
            c = changes[p]
            assert (c.old_level, c.new_level, c.value, c.cause, c.cause_ref) == \
                (0, level, minutes, "service_minutes", f"entry:{entry}")
            assert c.changed_at == at
        assert set(changes) == set(served)  # no one else
    with db.transaction() as s:
        assert star_history.refresh_volunteers(
            s, {p: ("again", utcnow()) for p in served}, cause="recompute") == []
    with db.sessions() as s:
        assert len(s.scalars(select(StarChange)).all()) == len(served)


def test_concurrent_refreshes_record_each_change_once_without_deadlock(pg_db):
    """Refreshes of overlapping volunteers running at once, each given them in another order,
    lock the status rows in one order (no deadlock) and record each volunteer's change once."""
    import random
    import threading

    from ledger import outbox
    from ledger.recognition import star_history
    w = make_world(pg_db, people=12)
    outbox.attach(pg_db, lambda engine, ids: None)  # only the refreshes below rate anyone
    for p in w.people:
        serve(pg_db, w, p, 100 * 60, follow=False)  # one star's worth each, not yet rated
    start, errors = threading.Barrier(4), []

    def refresh(seed: int) -> None:
        people = list(w.people)
        random.Random(seed).shuffle(people)
        try:
            start.wait()
            with pg_db.transaction() as s:
                star_history.refresh_volunteers(
                    s, {p: (f"run:{seed}", utcnow()) for p in people[:9]}, cause="recompute")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=refresh, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with pg_db.sessions() as s:
        changes = s.scalars(select(StarChange).where(StarChange.kind == "volunteer")).all()
        assert sorted(c.holder_id for c in changes) == sorted({c.holder_id for c in changes})
        assert all((c.old_level, c.new_level) == (0, 1) for c in changes)
        rated = {st.holder_id for st in s.scalars(select(StarStatus))}
        assert {c.holder_id for c in changes} == rated


def test_recompute_records_threshold_changes_once(db):
    w = make_world(db)
    serve(db, w, w.people[0], 150 * 60)
    serve(db, w, w.people[1], 50 * 60)
    with db.transaction() as s:
        assert recompute_stars(s, town_id=w.town)["volunteers"] == 0  # already current
        stars.set_config(s, w.town, "volunteer", {"thresholds": [50, 200, 400, 800, 1200]},
                         actor_id=1)
    with db.transaction() as s:
        out = recompute_stars(s, town_id=w.town, cause="thresholds")
    assert out["volunteers"] == 1  # person 1 reaches 50 h; person 0 stays at one star
    with db.transaction() as s:
        assert recompute_stars(s, town_id=w.town, cause="thresholds")["volunteers"] == 0
    with db.sessions() as s:
        last = s.scalars(select(StarChange).order_by(StarChange.id.desc())).first()
        assert (last.holder_id, last.new_level, last.cause, last.config_version) == \
            (w.people[1], 1, "thresholds", 1)
        assert stars.star_level(s, "person", w.people[1]) == 1


@pytest.mark.parametrize("body", [
    {"thresholds": [1, 2, 3, 4]}, {"thresholds": [5, 4, 6, 7, 8]}, {"thresholds": [0, 1, 2, 3, 4]},
    {"thresholds": [1, 2, 3, 4, 5], "period": "week"}, {"thresholds": [1, 2, 3, 4, 5.5]}])
def test_star_config_refuses_bad_thresholds(db, body):
    w = make_world(db, fund=False)
    with db.transaction() as s, pytest.raises(InvalidInput) as e:
        stars.set_config(s, w.town, "household", body, actor_id=1)
    assert e.value.code in ("star_thresholds_invalid", "star_period_invalid")


def _household_config(db, w, veto=None):
    with db.transaction() as s:
        stars.set_config(s, w.town, "household", {"thresholds": [10, 20, 30, 40, 50],
                                                  "period": "year", "veto": veto or {}}, 1)


@pytest.mark.parametrize(("score", "level"), [(9, 0), (10, 1), (29, 2), (30, 3), (49, 4),
                                              (50, 5), (80, 5)])
def test_household_stars_at_threshold_edges_of_the_period_score(db, score, level):
    w = make_world(db)
    _household_config(db, w)
    h, v = w.households[0], w.villages[0]
    award(db, v, "household", h, score + 5)
    deduct(db, v, "household", h, 5)  # the score is net of deductions
    with db.sessions() as s:
        r = stars.rate(s, StarKind.HOUSEHOLD, h)
        assert (r.value, r.level) == (score, level)


def test_household_holds_the_stars_of_its_last_completed_period(db):
    w = make_world(db)
    _household_config(db, w)
    h, v = w.households[0], w.villages[0]
    last_year = utcnow().replace(year=utcnow().year - 1, month=6, day=15)
    award(db, v, "household", h, 35, at=last_year)
    award(db, v, "household", h, 50)  # this year: provisional, not yet held
    with db.sessions() as s:
        assert stars.star_level(s, "household", h) == 3
        summary = stars.summary(s, "household", h)
        assert summary["stars"] == 3 and summary["current"]["level"] == 5
        st = s.scalars(select(StarStatus).where(StarStatus.holder_id == h)
                       .order_by(StarStatus.period_key)).all()
        assert [(x.period_key, x.level) for x in st] == [
            (f"year:{last_year.year}", 3), (f"year:{utcnow().year}", 5)]


def test_spending_points_does_not_lower_the_civility_score(db):
    from ledger.journal import book
    from ledger.journal.accounts import open_account
    w = make_world(db)
    _household_config(db, w)
    h, v = w.households[0], w.villages[0]
    award(db, v, "household", h, 30)
    shop = book.write(db, lambda s: {"id": open_account(
        s, holder_type="provider", holder_id=1, purpose="redeemed")}).result["id"]
    from ledger.journal import holds
    with db.transaction() as s:
        points = open_account(s, holder_type="household", holder_id=h, purpose="points")
        hid = holds.reserve(s, unit="points", debit_account_id=points, credit_account_id=shop,
                            amount=20, ttl_s=600)
        holds.post_hold(s, hid, kind="redeem")
    with db.sessions() as s:
        assert stars.rate(s, StarKind.HOUSEHOLD, h).value == 30


def test_one_catch_up_rates_every_household_it_applies_as_one_would_be_rated(db):
    """A catch-up that applies the points of many households, in this year and the last,
    with veto deductions among them, rates them together
    (star_history.refresh_households): each stored rating is the one `stars.rate` gives that
    household and period alone, each change caused by the household's last entry."""
    from ledger import outbox
    from ledger.recognition import rollups
    w = make_world(db, households=6)
    _household_config(db, w, veto={"C10": 0, "C20": 2})
    outbox.attach(db, lambda engine, ids: None)  # nothing followed until the catch-up below
    last_year = utcnow().replace(year=utcnow().year - 1, month=6, day=15)
    last = {}
    for i, h in enumerate(w.households):
        v = w.villages[i % 2]
        award(db, v, "household", h, 10 * (i + 1), at=last_year, follow=False)
        last[h] = award(db, v, "household", h, 15 * i + 30, follow=False)
        if i % 3 == 1:
            last[h] = deduct(db, v, "household", h, 1, item="C20" if i == 1 else "C10")
    rollups.catch_up(db)
    with db.sessions() as s:
        status = {(st.holder_id, st.period_key): st for st in s.scalars(
            select(StarStatus).where(StarStatus.kind == "household"))}
        assert len(status) == 2 * len(w.households)
        for h in w.households:
            for on in (last_year.date(), utcnow().date()):
                r = stars.rate(s, StarKind.HOUSEHOLD, h, on=on)
                st = status[(h, r.period_key)]
                assert (st.level, st.value, st.capped_by) == (r.level, r.value, r.capped_by)
        capped = {h for (h, _), st in status.items() if st.capped_by}
        assert capped == {w.households[1], w.households[4]}
        changes = s.scalars(select(StarChange).where(StarChange.kind == "household")).all()
        assert {(c.holder_id, c.period_key) for c in changes} == {  # each from level 0
            k for k, st in status.items() if st.level}
        for c in changes:
            assert c.cause_ref == (status[(c.holder_id, c.period_key)].capped_by
                                   if c.cause == "veto" else f"entry:{last[c.holder_id]}")


def test_veto_item_caps_the_stars_until_the_deduction_is_reversed(db):
    w = make_world(db)
    _household_config(db, w, veto={"C10": 0, "C20": 2})
    h, v = w.households[0], w.villages[0]
    award(db, v, "household", h, 80)
    e20 = deduct(db, v, "household", h, 1, item="C20")
    with db.sessions() as s:
        r = stars.rate(s, StarKind.HOUSEHOLD, h)
        assert (r.level, r.capped_by) == (2, f"C20@entry:{e20}")
    e10 = deduct(db, v, "household", h, 1, item="C10")
    deduct(db, v, "household", h, 1, item="C06")  # an ordinary deduction caps nothing
    with db.sessions() as s:
        r = stars.rate(s, StarKind.HOUSEHOLD, h)
        assert (r.value, r.level, r.capped_by) == (77, 0, f"C10@entry:{e10}")
        last = s.scalars(select(StarChange).where(StarChange.holder_id == h)
                         .order_by(StarChange.id.desc())).first()
        assert (last.new_level, last.cause, last.cause_ref) == (0, "veto", f"C10@entry:{e10}")
    reverse(db, e10)
    with db.sessions() as s:
        assert stars.rate(s, StarKind.HOUSEHOLD, h).level == 2  # C20 still caps
    with db.transaction() as s:  # the bulk path (rollups and veto marks) agrees
        recompute_stars(s, town_id=w.town)
        st = s.scalars(select(StarStatus).where(StarStatus.kind == "household",
                                                StarStatus.holder_id == h)).one()
        assert (st.level, st.value) == (2, 78)


def test_team_stars_count_collective_services_of_the_year(db, settings):
    from tests.builders.activities import make_activity, scan
    from tests.builders.activities import make_world as activities_world
    aw = activities_world(db, n_people=2)
    from tests.builders.recognition import World, add_team
    w = World(aw.town_id, [aw.village_id])
    team = add_team(db, w, members=aw.people, village=aw.village_id)
    with db.transaction() as s:
        stars.set_config(s, aw.town_id, "team", {"thresholds": [2, 3, 4, 5, 6]}, 1)
    start = (utcnow() - timedelta(days=10)).replace(hour=1, minute=0)
    for i in range(3):
        at = start + timedelta(days=i)
        act = make_activity(db, aw, start=at, team_id=team, rule_item_code="P1",
                            now=at - timedelta(days=1))
        if i < 2:  # the third took place with nobody certified: not a service
            scan(db, settings, aw, act, 0, at)
            scan(db, settings, aw, act, 0, at + timedelta(minutes=70))
    with db.sessions() as s:
        r = stars.rate(s, StarKind.TEAM, team, on=start.date())
        assert (r.value, r.level) == (2, 1)
        assert stars.summary(s, "team", team)["current"]["meets_plan"] is False
