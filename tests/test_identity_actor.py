"""One actor, one permission question (issue #18.3): `identity.actor.may` answers for the
engine, the guards and the forms; the scope rule is written once."""

from __future__ import annotations

import pathlib
import re

import pytest

from api.auth import Principal
from ledger.errors import Forbidden
from ledger.identity.actor import ANYWHERE, Actor, may, refusal, require, villages_of
from ledger.rules.types import Holder

ROOT = pathlib.Path(__file__).resolve().parents[1]
ADMIN_OF_3 = Actor(1, roles=(("village_admin", 3),), person_id=10, household_id=20)
TOWN = Actor(2, roles=(("town_admin", None),))
INSPECTOR_ANYWHERE = Actor(3, roles=(("inspector", None),))


def test_the_api_caller_is_the_domain_actor():
    assert Principal is Actor
    p = Principal(7, "村管理员", (("village_admin", 3),), 10)  # the sign-in's field order
    assert (p.user_id, p.name, p.roles, p.person_id) == (7, "村管理员", (("village_admin", 3),), 10)


def test_roles_in_the_name_s_place_are_refused():
    with pytest.raises(AssertionError):
        Actor(5, (("village_admin", 3),))  # the rules' old positional order


def test_a_village_role_answers_for_its_village_only():
    assert may(ADMIN_OF_3, "village.admin", 3)
    assert not may(ADMIN_OF_3, "village.admin", 4)
    assert not may(ADMIN_OF_3, "village.admin", None)  # the whole town needs a town-wide role
    assert may(ADMIN_OF_3, "village.admin", ANYWHERE)
    assert may(TOWN, "village.admin", 4) and may(TOWN, "village.admin", None)


def test_roles_outside_the_action_do_not_count():
    assert not may(INSPECTOR_ANYWHERE, "village.admin", 3)
    assert may(INSPECTOR_ANYWHERE, "household.inspect", 3)
    assert may(INSPECTOR_ANYWHERE, ("inspector",), 3)  # a guard may name the roles itself
    assert refusal(None, "village.admin", 3) == "sign_in_required"
    assert refusal(INSPECTOR_ANYWHERE, "village.admin", 3) == "not_permitted"


def test_a_holder_of_ones_own_household_is_refused_whatever_the_roles():
    own = Holder("household", 20, 3, household_id=20)
    self_ = Holder("person", 10, 3, household_id=99)
    other = Holder("person", 11, 3, household_id=21)
    assert refusal(ADMIN_OF_3, "record.admin", 3, holder=own) == "self_award_forbidden"
    assert refusal(ADMIN_OF_3, "record.admin", 3, holder=self_) == "self_award_forbidden"
    assert may(ADMIN_OF_3, "record.admin", 3, holder=other)


def test_channels_are_the_record_actions_the_actor_may_take():
    both = Actor(4, roles=(("inspector", 3), ("organizer", None)))
    assert both.channels(3) == {"inspector", "organizer"}
    assert both.channels(5) == {"organizer"}
    assert TOWN.channels(5) == {"admin"}


def test_require_refuses_with_the_stable_code():
    require(TOWN, "registry.write", 3, "adding a person")
    with pytest.raises(Forbidden) as exc:
        require(ADMIN_OF_3, "registry.write", 4, "adding a person")
    assert exc.value.code == "forbidden_village"


def test_villages_of_lists_where_may_holds():
    assert villages_of(ADMIN_OF_3, "village.admin") == {3}
    assert villages_of(TOWN, "village.admin") is None  # every village
    assert villages_of(INSPECTOR_ANYWHERE, "village.admin") == set()


def test_no_other_actor_type_or_scope_rule_is_written():
    """The actor class and the scope rule (`holds`: a town-wide role, or one for the village)
    live in ledger/identity/actor.py only."""
    rule = re.compile(r"class (Actor|Principal)\b|def (holds|has|has_any)\(")
    found = [str(p.relative_to(ROOT)) for d in ("ledger", "api", "workers")
             for p in (ROOT / d).rglob("*.py")
             if p.name != "actor.py" and rule.search(p.read_text(encoding="utf-8"))]
    assert found == []
