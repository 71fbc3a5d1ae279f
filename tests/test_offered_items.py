"""Forms offer exactly what the engine accepts from the person: the inspection form on a door
plate lists the items the engine's own permission check lets this person record for the
household, and an activity pays only with an earning item (a deduction item is refused by the
planner and by the engine, with a code)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from ledger.activities import planning
from ledger.activities.awards import inspection_channel
from ledger.errors import InvalidInput
from ledger.registry.models import Household
from ledger.rules import service as rules
from ledger.rules import store
from ledger.timeutil import utcnow
from tests.builders.pages import sign_in
from tests.builders.redemption import make_household, make_person, make_town


def _options(html: str, name: str) -> list[str]:
    m = re.search(r'<select[^>]*name="' + name + r'"[^>]*>(.*?)</select>', html, re.DOTALL)
    assert m, f"no select {name}"
    return [v for v in re.findall(r'<option value="([^"]*)"', m.group(1)) if v]


@pytest.mark.parametrize("role", ["village_admin", "inspector"])
def test_inspection_form_offers_what_the_engine_accepts_from_this_person(client, db, settings,
                                                                         role):
    store.load_shipped(db)
    village = make_town(db, villages=1)["villages"][0]
    hh = make_household(db, village)
    with db.sessions() as s:
        plate = s.get(Household, hh).plate_code
    p = sign_in(client, settings, role, village_id=village, user_id=4242)
    offered = _options(client.get(f"/h/{plate}").text, "item_code")
    assert offered
    actor = p  # the signed-in Principal is the engine's Actor
    channel = inspection_channel(p.roles)
    for code in offered:
        dec = rules.evaluate(db, settings, item_code=code, holder=("household", hh),
                             recorder=actor, context={"channel": channel, "note": "核查记录"})
        assert dec.reason not in ("not_permitted", "subject_not_allowed"), (code, dec)
    if role == "village_admin":  # C01 is recorded by inspectors only; C04 by admins
        assert "C01" not in offered and "C04" in offered
    else:
        assert "C01" in offered and "C04" not in offered
    # every household item the engine would accept through this channel is on the form
    with db.sessions() as s:
        c = store.catalog(s, "baogai", on=utcnow().date())
    accepted = {it.code for it in c.items.values()
                if "household" in (it.subjects or c.subjects)
                and channel in (it.recorders if it.recorders is not None else c.recorders)}
    assert accepted == set(offered)


def test_activities_pay_only_with_earning_items(client, db, settings):
    store.load_shipped(db)
    village = make_town(db, villages=1)["villages"][0]
    sign_in(client, settings, "organizer", village_id=village, user_id=4343)
    offered = _options(client.get("/org/new").text, "rule_item_code")
    with db.sessions() as s:
        c = store.catalog(s, "baogai", on=utcnow().date())
    assert offered and all(c.items[code].sign > 0 for code in offered)
    assert "B11" not in offered and "C08" not in offered  # 参与赌博, 乱扔垃圾
    organizer = planning.Actor(user_id=4343, roles=(("organizer", village),))
    now = utcnow()
    with pytest.raises(InvalidInput) as e:
        planning.create_activity(db, organizer, planning.ActivityDraft(
            village_id=village, title="河道清理", rule_item_code="C08", starts_at=now,
            ends_at=now + timedelta(hours=2)))
    assert e.value.code == "rule_item_not_for_activity"
    assert e.value.extra["reason"] == "activity_item_deduction"
    # and the engine itself refuses a deduction that names an activity
    person = make_person(db, village)
    dec = rules.evaluate(db, settings, item_code="C08", holder=("person", person),
                         recorder=4343, context={"channel": "organizer", "activity_id": 1})
    assert (dec.ok, dec.reason) == (False, "activity_item_deduction")
