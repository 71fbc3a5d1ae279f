"""/rank orders villages by the exact average household score: a village whose average is a
fraction of a point is above villages with none (a truncated average put it below them)."""

from __future__ import annotations

from tests.test_redemption_support import give_points, make_household, make_town


def test_a_small_average_ranks_above_zero(client, db):
    town = make_town(db, villages=8)
    *others, first = town["villages"]  # registered last: ties would put it last
    households = [make_household(db, first) for _ in range(20)]
    give_points(db, "household", households[0], first, 5)  # 5 points over 20 households
    for v in others:
        make_household(db, v)
    page = client.get("/rank")
    rows = page.text.split('data-testid="rank-table"')[1]
    with db.sessions() as s:
        from ledger.registry.models import Village
        names = {v: s.get(Village, v).name for v in town["villages"]}
    positions = sorted((rows.index(f"<td>{names[v]}</td>"), v) for v in town["villages"])
    assert positions[0][1] == first
    assert f"<td>{names[first]}</td><td>0.25</td><td>5</td><td>20</td>" in rows
