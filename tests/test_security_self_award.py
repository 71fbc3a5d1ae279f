"""No one records points for themself or their household, on every path that moves points
(issue 16, break 3: a village admin linked to a person gave +500 to themself and to their
household through /adjustments). One rule, ledger/registry/lookup.refuse_self_award and
is_self_or_household, asked by adjustments, reversals, claim approvals and draws."""

from __future__ import annotations

import pytest

from ledger.journal import service as journal
from ledger.redemption import draws
from tests.conftest import audit_clean
from tests.test_redemption_draws import SEED, _define
from tests.test_redemption_draws import town as draw_town  # noqa: F401 - fixture
from tests.builders.rules import add_household, add_person, load, make_world

BASE = "/api/v1/rules"


@pytest.fixture
def home(db):
    """An admin linked to 陈一 of 陈家 (with a housemate 陈二), and a neighbour 林一."""
    w = make_world(db)
    load(db, "baogai")
    add_household(db, w, "陈家")
    me = add_person(db, w, "陈一", household="陈家")
    mate = add_person(db, w, "陈二", household="陈家")
    add_household(db, w, "林家")
    other = add_person(db, w, "林一", household="林家")
    return w, w.villages["塘后村"], me, mate, w.households["陈家"], other


def _adjust(client, headers, village, holder_type, holder_id, amount=500):
    return client.post("/api/v1/ledger/adjustments", headers=headers, json={
        "village_id": village, "holder_type": holder_type, "holder_id": holder_id,
        "amount": amount, "memo": "奖励"})


@pytest.mark.parametrize("target", ["self", "household", "housemate"])
def test_adjustment_for_oneself_or_ones_household_is_refused(client, auth, db, home, target):
    w, v, me, mate, hh, _ = home
    holder = {"self": ("person", me), "household": ("household", hh),
              "housemate": ("person", mate)}[target]
    for amount in (500, -5):  # an award, and a deduction (say, to dodge a worse one later)
        r = _adjust(client, auth("village_admin", village_id=v, person_id=me), v, *holder,
                    amount=amount)
        assert r.status_code == 403 and r.json()["code"] == "self_award_forbidden", r.text
    audit_clean(db)


def test_adjustment_for_a_neighbour_still_works(client, auth, db, home):
    w, v, me, _, _, other = home
    r = _adjust(client, auth("village_admin", village_id=v, person_id=me), v, "person", other)
    assert r.status_code == 201, r.text


def test_reversal_of_ones_own_deduction_is_refused(client, auth, db, home, settings):
    w, v, me, _, hh, other = home
    mine = journal.adjust(db, shards=settings.budget_shards, village_id=v, holder_type="household",
                          holder_id=hh, amount=-20, memo="扣分", actor_id=None,
                          key=None).result["entry_id"]
    theirs = journal.adjust(db, shards=settings.budget_shards, village_id=v,
                            holder_type="person", holder_id=other, amount=-20, memo="扣分",
                            actor_id=None, key=None).result["entry_id"]
    town = auth("town_admin", person_id=me)
    r = client.post(f"/api/v1/ledger/entries/{mine}/reversal", headers=town, json={"reason": "撤销"})
    assert r.status_code == 403 and r.json()["code"] == "self_award_forbidden", r.text
    r = client.post(f"/api/v1/ledger/entries/{theirs}/reversal",
                    headers=auth("town_admin", person_id=me),
                    json={"reason": "录错了"})
    assert r.status_code == 201, r.text
    audit_clean(db)


def test_claim_approved_by_a_housemate_is_refused(client, auth, db, home):
    w, v, me, mate, _, _ = home
    claim = client.post(f"{BASE}/claims", json={
        "item": "A14", "holder_type": "person", "holder_id": mate,
        "context": {"photos": ["upload:abc"], "note": "献血证"}},
        headers=auth("volunteer", village_id=v, person_id=mate))
    assert claim.status_code == 201, claim.text
    aid = claim.json()["award_id"]
    r = client.post(f"{BASE}/awards/{aid}/verify", headers=auth("inspector", village_id=v))
    assert r.status_code == 200, r.text
    r = client.post(f"{BASE}/awards/{aid}/approve",
                    headers=auth("village_admin", village_id=v, person_id=me))
    assert r.status_code == 403 and r.json()["code"] == "self_award_forbidden", r.text


def test_draw_runner_and_household_are_left_out_of_the_population(db, draw_town):  # noqa: F811
    runner = draw_town["served"][0]
    d = _define(db, draw_town, winners=10)
    ran = draws.run_draw(db, d.id, seed=SEED, actor_id=1, key=None, actor_person_id=runner)
    assert ran.population_size == 9 and ran.winners == 9
    with db.sessions() as s:
        assert runner not in [w["holder_id"] for w in draws.draw_winners(s, d.id)["winners"]]
        assert draws.verify_draw(s, d.id)["ok"]
    audit_clean(db)
