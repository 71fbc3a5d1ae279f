"""Reads scoped to the reader's village (issue 16, break 6): any staff member, a shop clerk
included, read award details and entry explanations of every village by walking ids; the
budgets page showed every village's budget to a village admin."""

from __future__ import annotations

import pytest

from tests.builders.pages import sign_in
from tests.builders.rules import add_household, add_person, load, make_world

BASE = "/api/v1/rules"


@pytest.fixture
def awarded(client, auth, db):
    """An inspection award in 塘后村 and its journal entry."""
    w = make_world(db)
    load(db, "baogai")
    add_household(db, w, "陈家")
    p = add_person(db, w, "陈一", household="陈家")
    v = w.villages["塘后村"]
    r = client.post(f"{BASE}/awards", json={"item": "D08", "holder_type": "person",
                                            "holder_id": p},
                    headers=auth("village_admin", village_id=v))
    assert r.status_code == 201, r.text
    award = r.json()
    entry = award.get("entry_id")
    if entry is None:  # on notice: post it now
        client.post(f"{BASE}/sweeps/notices", headers=auth("town_admin"))
        entry = client.get(f"{BASE}/awards/{award['award_id']}",
                           headers=auth("town_admin")).json().get("entry_id")
    return w, v, w.villages["坑东村"], award["award_id"], entry


@pytest.mark.parametrize("role,where,ok", [
    ("town_admin", None, True), ("village_admin", "own", True), ("inspector", "own", True),
    ("organizer", "own", True), ("village_admin", "other", False),
    ("inspector", "other", False), ("organizer", "other", False), ("clerk", None, False),
    ("clerk", "own", False), ("volunteer", "own", False)])
def test_award_detail_is_for_staff_of_its_village(client, auth, awarded, role, where, ok):
    w, own, other, award_id, _ = awarded
    village = {"own": own, "other": other, None: None}[where]
    r = client.get(f"{BASE}/awards/{award_id}", headers=auth(role, village_id=village))
    assert r.status_code == (200 if ok else 403), r.text[:200]


@pytest.mark.parametrize("role,where,ok", [
    ("town_admin", None, True), ("village_admin", "own", True),
    ("village_admin", "other", False), ("inspector", "other", False), ("clerk", None, False)])
def test_entry_explanation_is_for_staff_of_its_village(client, auth, awarded, role, where, ok):
    w, own, other, _, entry = awarded
    assert entry is not None
    village = {"own": own, "other": other, None: None}[where]
    r = client.get(f"{BASE}/entries/{entry}/explanation", headers=auth(role, village_id=village))
    assert r.status_code == (200 if ok else 403), r.text[:200]


def test_budgets_page_shows_a_village_admin_only_their_village(client, db, settings):
    w = make_world(db)
    own = w.villages["塘后村"]
    sign_in(client, settings, "village_admin", village_id=own, user_id=77)
    html = client.get("/admin/budgets").text
    assert "塘后村" in html and "坑东村" not in html and "塘边村" not in html
    sign_in(client, settings, "town_admin", user_id=78)
    html = client.get("/admin/budgets").text
    assert "塘后村" in html and "坑东村" in html
