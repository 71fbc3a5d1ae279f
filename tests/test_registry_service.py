"""The registry's service functions: holders get their points accounts on creation, plates are
unguessable and permanent, input is validated with distinct codes, lookups name the village."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from ledger.registry import commands, lookup
from ledger.registry import service as registry
from ledger.registry.models import Person
from ledger.registry.privacy import mask_id_number, mask_phone, normalize_id_number
from ledger.errors import Conflict, Forbidden, InvalidInput
from ledger.journal.models import Account
from tests.conftest import audit_clean
from tests.builders.registry import fake_id, fake_phone, make_household, make_person, make_world


class Admin:
    user_id = 1
    person_id = None

    def __init__(self, *roles) -> None:
        self.roles = roles


TOWN = Admin(("town_admin", None))


def _accounts(db, holder_type: str, holder_id: int) -> list[tuple[str, str, int]]:
    with db.sessions() as s:
        return [(a.unit, a.purpose, a.balance) for a in s.scalars(select(Account).where(
            Account.holder_type == holder_type, Account.holder_id == holder_id))]


def test_household_and_people_get_points_accounts_when_created(db):
    w = make_world(db)
    h = make_household(db, w.own, members=3)
    assert _accounts(db, "household", h["id"]) == [("points", "points", 0)]
    for pid in h["people"]:
        assert _accounts(db, "person", pid) == [("points", "points", 0)]
    with db.transaction() as s:
        team = registry.add_team(s, town_id=w.town_id, kind="法律服务", name="法律服务队")
    assert _accounts(db, "team", team.id) == [("points", "points", 0)]
    audit_clean(db)


def test_plate_codes_are_long_random_and_distinct(db):
    w = make_world(db)
    codes = {make_household(db, w.own, members=1)["plate_code"] for _ in range(20)}
    assert len(codes) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{16}", c) for c in codes)


def test_holder_ref_names_village_and_household_for_rule_checks(db):
    w = make_world(db)
    h = make_household(db, w.own)
    with db.sessions() as s:
        ref = lookup.holder_ref(s, "person", h["people"][1])
        assert (ref.village_id, ref.household_id, ref.town_id) == (w.own, h["id"], w.town_id)
        assert ref.village_name == w.own_name
        assert lookup.holder_ref(s, "household", h["id"]).household_id == h["id"]
        p, v = lookup.person_with_village(s, h["people"][0])
        assert v.id == w.own and p.household_id == h["id"]
        hh, v2 = lookup.household_by_plate(s, h["plate_code"])
        assert hh.id == h["id"] and v2.id == w.own


@pytest.mark.parametrize("field,value,code", [
    ("name", "  ", "name_required"),
    ("phone", "12345", "phone_invalid"),
    ("phone", "23812345678", "phone_invalid"),
    ("id_number", "350581199001011236", "id_number_invalid"),  # wrong check digit (5)
    ("id_number", "35058119901301123X", "id_number_invalid"),  # month 13
    ("id_number", "3505811990", "id_number_invalid"),
])
def test_bad_person_input_is_refused_with_its_code(db, field, value, code):
    w = make_world(db, fund=False)
    d = {"name": "林某乙", field: value}
    with pytest.raises(InvalidInput) as e, db.transaction() as s:
        registry.add_person(s, registry.PersonDraft(w.own, **d))
    assert e.value.code == code


def test_duplicate_id_number_and_shared_volunteer_phone_are_conflicts(db):
    w = make_world(db, fund=False)
    id_number, phone = fake_id(), fake_phone()
    make_person(db, w.own, id_number=id_number, phone=phone, is_volunteer=True)
    with pytest.raises(Conflict) as e, db.transaction() as s:
        registry.add_person(s, registry.PersonDraft(w.other, "王某丙", id_number=id_number))
    assert e.value.code == "id_number_taken"
    with pytest.raises(Conflict) as e, db.transaction() as s:
        registry.add_person(s, registry.PersonDraft(w.own, "王某丙", phone=phone,
                                                    is_volunteer=True))
    assert e.value.code == "phone_taken"
    make_person(db, w.own, phone=phone)  # a family member without volunteering may share it


def test_phone_and_id_normalisation_and_masks():
    assert registry.check_phone("+86 138-1234-5678") == "13812345678"
    assert mask_phone("13812345678") == "138****5678"
    good = fake_id(7)
    assert normalize_id_number(good.lower()) == good
    assert mask_id_number("350581199001011234") == "3505**********1234"


def test_keyed_create_returns_first_result_on_retry(db):
    w = make_world(db, fund=False)
    d = registry.PersonDraft(w.own, "黄某丁", id_number=fake_id())
    first = commands.create_person(db, TOWN, d, key="k1")
    again = commands.create_person(db, TOWN, d, key="k1")
    assert again == first
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 1


def test_village_admin_cannot_touch_another_village_through_the_service(db):
    w = make_world(db, fund=False)
    admin = Admin(("village_admin", w.own))
    with pytest.raises(Forbidden) as e:
        commands.create_person(db, admin, registry.PersonDraft(w.other, "蔡某戊"), key=None)
    assert e.value.code == "forbidden_village"
    pid = make_person(db, w.other)
    with pytest.raises(Forbidden):
        commands.update_person(db, admin, pid, {"name": "改名"}, key=None)


def test_person_joins_household_only_in_its_own_village(db):
    w = make_world(db, fund=False)
    h = make_household(db, w.own, members=1)
    with pytest.raises(InvalidInput) as e, db.transaction() as s:
        registry.add_person(s, registry.PersonDraft(w.other, "许某己", h["id"]))
    assert e.value.code == "household_village_mismatch"


def test_require_holder_in_village_refuses_a_holder_of_another_village(db):
    w = make_world(db, fund=False)
    h = make_household(db, w.other, members=1)
    with db.sessions() as s:
        assert lookup.require_holder_in_village(s, "household", h["id"], w.other).village_id \
            == w.other
        with pytest.raises(Forbidden) as e:
            lookup.require_holder_in_village(s, "person", h["people"][0], w.own)
        assert e.value.code == "forbidden_village"
