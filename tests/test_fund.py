"""The volunteer fund: a donor is a ledger account; a money donation is one balanced entry into
a village's budget at its stated value (Baogai: 1 point = 1 yuan, half-point steps); awards
then draw on it under the rules; the thank-you list and a donor's statement agree with the
journal; refusals have their codes; only town admins record donations."""

from __future__ import annotations

import pytest

from ledger.activities.planning import Actor
from ledger.errors import DomainError
from ledger.fund import service as fund
from tests.conftest import audit_clean
from tests.test_stations_reports import small_baogai

ADMIN = Actor(1, roles=(("town_admin", None),))


def test_donation_funds_a_budget_at_its_stated_value_and_shows_on_the_statement(db, settings):
    from ledger.journal import book
    town_id, villages = small_baogai(db, settings)
    v = villages["塘边村"]
    with db.sessions() as s:
        before = book.village_budget_available(s, v)
    donor = fund.add_donor(db, ADMIN, town_id=town_id, name="石狮某鞋业有限公司（演示）",
                           kind="business")
    d = fund.donate(db, ADMIN, donor_id=donor.id, village_id=v, value_fen=50_000,
                    shards=settings.budget_shards, note="年度捐赠", key="fund:test:1")
    assert d.points_steps == 1000  # 500 yuan = 500 points = 1000 half-point steps
    again = fund.donate(db, ADMIN, donor_id=donor.id, village_id=v, value_fen=50_000,
                        shards=settings.budget_shards, note="年度捐赠", key="fund:test:1")
    assert again == d  # a retried request books nothing twice
    with db.sessions() as s:
        assert book.village_budget_available(s, v) == before + 1000
    st = fund.statement(db, donor.id)
    assert st.value_fen == 50_000 and st.ledger_balance == -1000
    assert [x.entry_id for x in st.donations] == [d.entry_id]
    assert "石狮某鞋业有限公司（演示）" in [x.name for x in fund.thanks(db, town_id)]
    audit_clean(db)


def test_fund_refusals(db, settings):
    town_id, villages = small_baogai(db, settings)
    donor = fund.add_donor(db, ADMIN, town_id=town_id, name="某商会", kind="group",
                           thank_publicly=False)
    cases = [
        ("forbidden_village", dict(actor=Actor(2, roles=(("village_admin", 1),)))),
        ("value_out_of_range", dict(value_fen=0)),
        ("value_out_of_range", dict(value_fen=fund.MAX_DONATION_FEN + 1)),
        ("value_below_one_step", dict(value_fen=1)),
        ("donor_not_found", dict(donor_id=999)),
        ("village_not_found", dict(village_id=999)),
    ]
    for code, kw in cases:
        args = dict(actor=ADMIN, donor_id=donor.id, village_id=villages["塘边村"],
                    value_fen=10_000, shards=settings.budget_shards, **{})
        args.update(kw)
        actor = args.pop("actor")
        with pytest.raises(DomainError) as exc:
            fund.donate(db, actor, **args)
        assert exc.value.code == code
    with pytest.raises(DomainError) as exc:
        fund.add_donor(db, ADMIN, town_id=town_id, name="x", kind="alien")
    assert exc.value.code == "donor_kind_unknown"
    assert "某商会" not in [x.name for x in fund.thanks(db, town_id)]  # asked not to be


def test_fund_over_http_and_the_public_thanks_page(client, auth, db, settings):
    from sqlalchemy import select

    from ledger.identity.models import AppUser
    from ledger.stations import demo as stations_demo
    town_id, villages = small_baogai(db, settings)
    with db.sessions() as s:
        admin_user = s.scalar(select(AppUser).where(AppUser.login == "admin"))
    stations_demo._donors(db, settings, town_id, villages, admin_user)  # the demo's two
    admin = auth("town_admin")
    r = client.post("/api/v1/fund/donors", headers=admin,
                    json={"name": "某爱心人士", "kind": "person", "town_id": town_id})
    assert r.status_code == 201, r.text
    donor = r.json()["id"]
    r = client.post("/api/v1/fund/donations", headers=auth("town_admin"), json={
        "donor_id": donor, "village_id": villages["坑东村"], "value_fen": 12_345})
    assert r.status_code == 201 and r.json()["points_steps"] == 246, r.text
    assert client.post("/api/v1/fund/donations", headers=auth("village_admin", village_id=1),
                       json={"donor_id": donor, "village_id": villages["坑东村"],
                             "value_fen": 100}).status_code == 403
    st = client.get(f"/api/v1/fund/donors/{donor}/statement", headers=auth("town_admin"))
    assert st.json()["ledger_balance"] == -246
    thanks = client.get("/api/v1/fund/thanks", params={"town_id": town_id}).json()["items"]
    assert [d["name"] for d in thanks][:1] == ["石狮某鞋服有限公司（演示）"]
    page = client.get("/fund").text
    assert "某爱心人士" in page and "123.45 元" in page
    audit_clean(db)
