"""Privacy: phone numbers in full only for the roles that call residents, ID numbers masked in
every response, nothing personal on public pages, and a complete personal data export."""

from __future__ import annotations

from ledger.identity import otp
from ledger.ratelimit import RateLimiter
from tests.builders.registry import fake_id, fake_phone, make_household, make_person, make_world


def test_phone_in_full_for_admins_masked_for_field_roles_id_always_masked(client, db, auth):
    w = make_world(db, fund=False)
    phone, id_number = fake_phone(), fake_id()
    pid = make_person(db, w.own, phone=phone, id_number=id_number)
    masked_phone = phone[:3] + "****" + phone[-4:]
    masked_id = id_number[:4] + "*" * 10 + id_number[-4:]
    for role, scope, want in (("town_admin", None, phone), ("village_admin", w.own, phone),
                              ("organizer", w.own, masked_phone),
                              ("inspector", w.own, masked_phone)):
        r = client.get(f"/api/v1/people/{pid}", headers=auth(role, village_id=scope))
        assert r.status_code == 200, (role, r.text)
        assert (r.json()["phone"], r.json()["id_number"]) == (want, masked_id), role
        assert id_number not in r.text
        listing = client.get(f"/api/v1/villages/{w.own}/people",
                             headers=auth(role, village_id=scope))
        assert listing.json()["items"][0]["phone"] == want and id_number not in listing.text


def test_household_members_are_masked_for_an_inspector(client, db, auth):
    w = make_world(db, fund=False)
    phone = fake_phone()
    h = make_household(db, w.own, members=2, volunteer_phone=phone)
    r = client.get(f"/api/v1/households/{h['id']}", headers=auth("inspector", village_id=w.own))
    assert r.status_code == 200
    assert phone not in r.text and r.json()["members"][0]["phone"] == phone[:3] + "****" + \
        phone[-4:]


def test_volunteer_reads_own_record_but_not_a_neighbours(client, db, auth):
    w = make_world(db, fund=False)
    me, neighbour = make_person(db, w.own), make_person(db, w.own)
    h = auth("volunteer", village_id=w.own, person_id=me)
    assert client.get(f"/api/v1/people/{me}", headers=h).status_code == 200
    r = client.get(f"/api/v1/people/{neighbour}", headers=h)
    assert r.status_code == 403 and r.json()["code"] == "forbidden_village"


def test_personal_data_export_holds_everything_and_no_secrets(client, db, auth, settings):
    w = make_world(db)
    phone, id_number = fake_phone(), fake_id()
    h = make_household(db, w.own, members=1, volunteer_phone=phone)
    pid = h["people"][0]
    with db.transaction() as s:
        from sqlalchemy import update

        from ledger.registry.models import Person
        s.execute(update(Person).where(Person.id == pid).values(id_number=id_number))
    r = client.post("/api/v1/ledger/adjustments", headers=auth("village_admin", village_id=w.own),
                    json={"village_id": w.own, "holder_type": "person", "holder_id": pid,
                          "amount": 8, "memo": "帮扶孤寡老人"})
    assert r.status_code == 201
    limiter, sent = RateLimiter(None), []

    class Outbox:
        def send(self, phone, code, ttl_s):
            sent.append(code)

    otp.request_code(db, limiter, Outbox(), phone=phone, secret=settings.secret_key)
    who = otp.verify_code(db, limiter, phone=phone, code=sent[0], secret=settings.secret_key)
    r = client.get("/api/v1/me/export", headers=auth("volunteer", village_id=w.own,
                                                     person_id=pid, user_id=who.user_id))
    assert r.status_code == 200
    assert r.headers["content-disposition"] == f'attachment; filename="person-{pid}.json"'
    body = r.json()
    assert (body["person"]["phone"], body["person"]["id_number"]) == (phone, id_number)
    assert body["household"]["plate_code"] == h["plate_code"]
    [points] = [a for a in body["accounts"] if a["purpose"] == "points"]
    assert points["balance"] == 8 and points["postings"][0]["memo"] == "帮扶孤寡老人"
    assert body["records"]["role_assignment"]["rows"][0]["role"] == "volunteer"
    assert body["users"][0]["id"] == who.user_id
    assert "argon2" not in r.text and "code_hash" not in r.text and "otp_code" not in r.text
    other = client.get(f"/api/v1/people/{pid}/export",
                       headers=auth("village_admin", village_id=w.other))
    assert other.status_code == 403
