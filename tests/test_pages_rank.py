"""/rank orders villages by the exact average household score: a village whose average is a
fraction of a point is above villages with none (a truncated average put it below them)."""

from __future__ import annotations

from tests.builders.redemption import give_points, make_household, make_town


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


def _rename(db, names: dict[int, str]) -> None:
    from ledger.registry.models import Village
    with db.transaction() as s:
        for v, name in names.items():
            s.get(Village, v).name = name


def test_each_town_ranks_its_own_villages(client, db, settings):
    from tests.builders.pages import sign_in
    a, b = make_town(db, villages=2), make_town(db, villages=1)
    _rename(db, {a["villages"][0]: "甲村", a["villages"][1]: "乙村", b["villages"][0]: "外镇村"})
    for v in (*a["villages"], *b["villages"]):
        give_points(db, "household", make_household(db, v), v, 5)

    def villages_on(page) -> list[str]:
        assert page.status_code == 200
        rows = page.text.split('data-testid="rank-table"')[1].split("</table>")[0]
        return [n for n in ("甲村", "乙村", "外镇村") if f"<td>{n}</td>" in rows]

    assert villages_on(client.get("/rank")) == ["甲村", "乙村"]  # a visitor: the first town
    sign_in(client, settings, "village_admin", village_id=b["villages"][0], user_id=80)
    page = client.get("/rank")
    assert villages_on(page) == ["外镇村"]  # the viewer's own town
    assert 'data-testid="rank-town"' in page.text  # another town may be chosen on the page
    assert villages_on(client.get(f"/rank?town_id={a['town']}")) == ["甲村", "乙村"]
    missing = client.get("/rank?town_id=99999")
    assert missing.status_code == 404 and "没有这个镇" in missing.text
