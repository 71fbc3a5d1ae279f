"""Lucky draws: the population, a recorded seed, reproducible winners, vouchers paid by the town."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import text

from ledger.errors import DomainError
from ledger.journal import queries
from ledger.journal.accounts import open_account
from ledger.redemption import draws
from ledger.redemption.catalog import provider_account
from ledger.redemption.service import fulfil
from ledger.timeutil import utcnow
from tests.conftest import audit_clean
from tests.builders.redemption import (
    give_points,
    make_people,
    make_reward,
    make_shop,
    make_town,
    points,
    reward_row,
    serve,
)

CLERK = 701
SEED = "2026年第123期福彩3D:4-1-7"


@pytest.fixture
def town(db):
    t = make_town(db)
    v = t["villages"][0]
    shop = make_shop(db, t["town"], name="石狮影城", clerks=(CLERK,))
    gift = make_reward(db, shop, name="吉祥礼物", kind="gift", cost_points=40, stock=100,
                       active=False)  # not for sale: only for draws
    now = utcnow()
    served = make_people(db, v, 10)
    for p in served:
        serve(db, t["town"], p, 50 * 60, now)
    short = make_people(db, v, 5)
    for p in short:
        serve(db, t["town"], p, 49 * 60, now)
        serve(db, t["town"], p, 10 * 60, now - timedelta(days=400))  # last year: not counted
    not_volunteers = make_people(db, v, 3, volunteer=False)
    for p in not_volunteers:
        serve(db, t["town"], p, 60 * 60, now)
    return {**t, "village": v, "shop": shop, "gift": gift, "served": served, "now": now,
            "year": now.year}


def _define(db, town, winners=5, **pop):
    population = {"min_service_hours": 50, "year": town["year"], **pop}
    return draws.create_draw(db, town_id=town["town"], name="500名幸运志愿者",
                             reward_id=town["gift"].id, winners_count=winners,
                             population_def=population, actor_id=1, key=None)


def test_draw_picks_winners_reproducibly_from_the_recorded_seed(db, town):
    d = _define(db, town)
    ran = draws.run_draw(db, d.id, seed=SEED, actor_id=1, key="draw-1")
    assert (ran.population_size, ran.winners, ran.seed) == (10, 5, SEED)
    # Anyone can recompute the winners with sha256 alone.
    expect = sorted(town["served"], key=lambda i: hashlib.sha256(
        f"{SEED}:person:{i}".encode()).hexdigest())[:5]
    with db.sessions() as s:
        listed = draws.draw_winners(s, d.id)
        assert [w["holder_id"] for w in listed["winners"]] == expect
        assert draws.verify_draw(s, d.id)["ok"]
    assert draws.run_draw(db, d.id, seed=SEED, actor_id=1, key="draw-1") == ran  # replay
    with pytest.raises(DomainError) as e:
        draws.run_draw(db, d.id, actor_id=1, key="draw-2")
    assert e.value.code == "draw_already_run"
    audit_clean(db)


def test_winners_vouchers_are_paid_from_the_town_not_their_points(db, town):
    winner = town["served"][0]
    give_points(db, "person", winner, town["village"], 5)
    d = _define(db, town, winners=10)
    draws.run_draw(db, d.id, actor_id=1, key=None)
    assert reward_row(db, town["gift"].id)["reserved"] == 10
    with db.sessions() as s:
        order = next(w for w in draws.draw_winners(s, d.id)["winners"]
                     if w["holder_id"] == winner)
        code = s.execute(text("SELECT code FROM voucher WHERE order_id = :o"),
                         {"o": order["order_id"]}).scalar_one()
        funding = open_account(s, holder_type="town", holder_id=town["town"],
                               purpose="funding")
        before = queries.get_account(s, funding).balance
    done = fulfil(db, code=code, clerk_user_id=CLERK, key=None)
    assert done.funded_by == "draw" and done.amount_points == 40
    acct = points(db, "person", winner)
    assert (acct["balance"], acct["pending_out"]) == (5, 0)
    with db.sessions() as s:
        assert queries.get_account(s, funding).balance == before - 40
        assert queries.get_account(s, provider_account(s, town["shop"])).balance == 40
    audit_clean(db)


def test_a_draw_without_enough_stock_draws_nothing(db, town):
    small = make_reward(db, town["shop"], name="观影券", stock=3)
    d = draws.create_draw(db, town_id=town["town"], name="观影回馈", reward_id=small.id,
                          winners_count=5, population_def={"min_service_hours": 50},
                          actor_id=1, key=None)
    with pytest.raises(DomainError) as e:
        draws.run_draw(db, d.id, actor_id=1, key=None)
    assert e.value.code == "out_of_stock"
    with db.sessions() as s:
        assert draws.draw_winners(s, d.id)["status"] == "draft"
    audit_clean(db)


def test_population_filters_by_village_and_points(db, town):
    other = make_people(db, town["villages"][1], 4)
    for p in other:
        give_points(db, "person", p, town["villages"][1], 30)
    d = _define(db, town, winners=50, min_service_hours=None, min_points=30,
                village_ids=[town["villages"][1]])
    assert draws.run_draw(db, d.id, actor_id=1, key=None).winners == 4
    audit_clean(db)


def test_editing_the_recorded_population_is_detected(db, town):
    d = _define(db, town)
    draws.run_draw(db, d.id, seed=SEED, actor_id=1, key=None)
    with db.transaction() as s:
        s.execute(text("DELETE FROM lucky_draw_candidate WHERE draw_id = :d AND holder_id = "
                       "(SELECT MAX(holder_id) FROM lucky_draw_candidate WHERE draw_id = :d)"),
                  {"d": d.id})
    with db.sessions() as s:
        check = draws.verify_draw(s, d.id)
    assert not check["ok"] and not check["digest_ok"]
    audit_clean(db)


@pytest.mark.parametrize("pop", [{"holder_type": "village"}, {"min_service_hours": -1},
                                 {"village_ids": []}, {"colour": "red"},
                                 {"holder_type": "household", "min_service_hours": 5}])
def test_bad_population_is_refused(db, town, pop):
    with pytest.raises(DomainError) as e:
        _define(db, town, **pop)
    assert e.value.code == "invalid_population"
    audit_clean(db)


def test_admin_page_reads_draw_names_winners_and_check_only_when_asked(db, town):
    d = draws.create_draw(db, town_id=None, name="按礼品定镇", reward_id=town["gift"].id,
                          winners_count=3, population_def={"min_service_hours": 50,
                                                           "year": town["year"]},
                          actor_id=1, key=None)
    assert d.town_id == town["town"]  # no town named: the reward's provider's
    before = draws.review(db, d.id, verify=True)
    assert before.check is None and before.draw.winners == []  # nothing run, nothing to check
    draws.run_draw(db, d.id, seed=SEED, actor_id=1, key=None)
    seen = draws.review(db, d.id)
    assert seen.check is None and len(seen.draw.winners) == 3
    assert {w.holder_id for w in seen.draw.winners} <= set(town["served"])
    assert set(seen.names) == {w.holder_id for w in seen.draw.winners}
    assert all(n.startswith("志愿者") for n in seen.names.values())
    assert draws.review(db, d.id, verify=True).check.ok
    assert [x.id for x in draws.recent(db, 50)][0] == d.id  # newest first
    first = seen.draw.winners[0]
    with db.sessions() as s:
        wins = draws.wins_of(s, [("person", first.holder_id)])
    assert [(w.draw, w.rank) for w in wins] == [("按礼品定镇", 1)]
    with pytest.raises(DomainError) as e:
        draws.review(db, 10**9)
    assert e.value.code == "draw_not_found"
