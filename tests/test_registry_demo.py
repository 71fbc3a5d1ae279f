"""The demo data: Baogai's real 20 villages and communities, its institute and three points,
generated households and people that are visibly fake, the seven standing teams, staff users
who can sign in with the documented demo password, and a budget for every unit. Loading it
twice adds nothing."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from ledger import demo
from ledger.registry.models import Household, Person, Team, TeamMember, Town, Village
from ledger.registry.privacy import normalize_id_number, normalize_phone
from ledger.identity import service as identity
from ledger.journal.models import Account
from ledger.ratelimit import RateLimiter
from tests.conftest import audit_clean


def _count(s, model, *where) -> int:
    return s.scalar(select(func.count()).select_from(model).where(*where))


def test_demo_loads_baogai_with_fake_people_and_is_idempotent(db, settings):
    first = demo.load_demo(db, settings, quarter=False)
    f = demo.facts()
    assert len(f["stations"]) == 20
    with db.sessions() as s:
        town = s.scalar(select(Town).where(Town.name == "宝盖镇"))
        kinds = dict(s.execute(select(Village.name, Village.kind)
                               .where(Village.town_id == town.id)).all())
        assert kinds["宝盖镇综合文化站"] == "institute"
        assert [n for n, k in kinds.items() if k == "point"] == f["points"]
        assert {n for n, k in kinds.items() if k == "community"} == {"宝源社区", "龙穴社区"}
        assert set(f["stations"]) <= set(kinds) and len(kinds) == 24
        per_village = dict(s.execute(select(Household.village_id, func.count())
                                     .group_by(Household.village_id)).all())
        assert sorted(per_village.values()) == [demo.HOUSEHOLDS_PER_VILLAGE] * 20
        people = s.scalars(select(Person)).all()
        assert len(people) == first["people_created"] > 20 * demo.HOUSEHOLDS_PER_VILLAGE
        for p in people:
            assert "某" in p.name
            assert p.id_number.startswith(demo.FAKE_ID_REGION)
            assert normalize_id_number(p.id_number) == p.id_number  # valid shape and check
            assert p.phone is None or (p.phone.startswith(demo.FAKE_PHONE_PREFIX)
                                       and normalize_phone(p.phone) == p.phone)
        holders = _count(s, Account, Account.holder_type.in_(("person", "household")),
                         Account.purpose == "points")
        assert holders == len(people) + 20 * demo.HOUSEHOLDS_PER_VILLAGE
        teams = s.scalars(select(Team).where(Team.standing.is_(True))).all()
        assert sorted(t.kind for t in teams) == sorted(f["standing_team_kinds"])
        assert all(_count(s, TeamMember, TeamMember.team_id == t.id) == demo.TEAM_SIZE
                   for t in teams)
        budgets = dict(s.execute(select(Account.holder_id, func.sum(Account.balance))
                                 .where(Account.purpose == "budget")
                                 .group_by(Account.holder_id)).all())
        assert set(budgets.values()) == {demo.DEMO_VILLAGE_BUDGET} and len(budgets) == 24
    again = demo.load_demo(db, settings, quarter=False)
    assert (again["people_created"], again["teams_created"], again["users_created"],
            again["villages_allocated"]) == (0, 0, 0, 0)
    audit_clean(db)


def test_demo_staff_sign_in_with_the_documented_password(db, settings):
    demo.load_demo(db, settings, quarter=False)
    limiter = RateLimiter(None)
    with db.sessions() as s:
        tangbian = s.scalar(select(Village.id).where(Village.name == "塘边村"))
    roles = {login: identity.sign_in_password(db, limiter, login=login,
                                              password=demo.DEMO_PASSWORD).roles
             for login, _, _ in demo._staff(0, 0)}
    assert roles["admin"] == (("town_admin", None),)
    assert roles["tangbian.admin"] == (("village_admin", tangbian),)
    assert roles["tangbian.inspector"] == (("inspector", tangbian),)
    docs = (demo.Path(__file__).resolve().parent.parent / "docs" / "registry.md").read_text()
    assert demo.DEMO_PASSWORD in docs and re.search(r"tangbian\.admin", docs)
