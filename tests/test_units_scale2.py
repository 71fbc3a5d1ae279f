"""With a catalog of scale 2 (half points, Baogai's), every amount that leaves the core is in
points as people read them: the honor list's content and its PDF and PNG poster, the shop
settlement and its CSV, the public door-plate JSON and household star thresholds. Each is
compared with the points the ledger holds (its steps / 2)."""

from __future__ import annotations

import csv
import io

from ledger.journal import service as journal
from ledger.recognition import honor, poster, stars
from ledger.recognition.models import HonorList
from ledger.redemption.service import fulfil, redeem
from ledger.redemption.settlement import settlement_csv, settlement_report
from ledger.registry import lookup
from ledger.registry.models import Household
from ledger.rules import store
from ledger.timeutil import LOCAL_TZ, utcnow
from ledger.units import points_of, points_text, steps_of
from tests.builders.recognition import award, make_world
from tests.builders.redemption import give_points, make_reward, make_shop

CLERK = 811


def _scale2(db) -> int:
    store.load_shipped(db)  # Baogai's catalog: scale 2
    with db.sessions() as s:
        scale = store.scale_in_force(s)
    assert scale == 2
    return scale


def test_units_turn_steps_into_points_and_back():
    assert (points_of(46, 2), points_of(7, 2), points_text(-7, 2), points_text(3, 2, True)) \
        == (23, 3.5, "-3.5", "+1.5")
    assert steps_of("2.5", 2) == 5 and steps_of(23, 2) == 46


def test_poster_and_published_list_print_points_not_steps(db):
    scale = _scale2(db)
    w = make_world(db, people=2)
    award(db, w.villages[0], "person", w.people[0], 46)  # 23 points
    award(db, w.villages[1], "person", w.people[1], 7)  # 3.5 points
    with db.transaction() as s:
        d = honor.create_definition(s, {"name": "年度积分光荣榜", "scope": "town",
                                        "scope_id": w.town, "period": "year",
                                        "metric": "points", "size": 3, "minimum": 1},
                                    actor_id=1)
        list_id = honor.request_draft(s, d.id, str(utcnow().year), None, actor_id=1).id
    journal.checkpoint(db)
    with db.transaction() as s:
        assert s.get(HonorList, list_id).status == "draft"
        honor.start_review(s, list_id, actor_id=1)
        pub = honor.publish(s, list_id, actor_id=1)
        content, digest = pub.content, pub.content_sha256
    assert content["unit"] == "points"
    assert [e["value"] for e in content["entries"]] == [points_of(46, scale), 3.5] == [23, 3.5]
    pdf = poster.poster_bytes(content, digest, "https://jifen.example", "pdf")
    import pypdfium2 as pdfium
    text = pdfium.PdfDocument(pdf)[0].get_textpage().get_text_range()
    rows = [line.split() for line in text.splitlines() if line.startswith("第")]
    assert [r[-1] for r in rows] == ["23", "3.5"]  # the figures printed, not the time or hash
    png_rows = poster._lines(content)[2]  # the rows the PNG draws
    assert [r[3] for r in png_rows] == ["23", "3.5"]
    from ledger.recognition import service as recognition
    live = recognition.ranking(db, scope="town", scope_id=w.town, metric="points",
                               period="year", n=5)  # the live board, as the API gives it
    assert [(e.points, e.value) for e in live.entries] == [(23, 46), (3.5, 7)]


def test_settlement_page_figures_and_csv_are_points_and_their_value(db):
    scale = _scale2(db)
    w = make_world(db, people=1)
    shop = make_shop(db, w.town, clerks=(CLERK,))  # 100 fen per point
    ticket = make_reward(db, shop, cost_points=steps_of(10, scale))  # a 10-point ticket
    give_points(db, "person", w.people[0], w.villages[0], steps_of(30, scale))
    order = redeem(db, reward_id=ticket.id, holder_type="person", holder_id=w.people[0],
                   quantity=1, actor_id=w.people[0], key=None)
    fulfil(db, code=order.voucher.code, clerk_user_id=CLERK, key=None)
    today = utcnow().astimezone(LOCAL_TZ).date()
    with db.sessions() as s:
        report = settlement_report(s, start=today, end=today, provider_id=shop)
    p = report["providers"][0]
    assert (p["points"], p["amount_steps"], p["amount_fen"]) == (10, 20, 1000)
    assert (report["total_points"], report["total_fen"]) == (10, 1000)
    rows = list(csv.DictReader(io.StringIO(settlement_csv(report).lstrip("\ufeff"))))
    assert [(r["积分"], r["金额（分）"]) for r in rows] == [("10", "1000"), ("10", "1000")]


def test_public_plate_json_and_household_star_thresholds_are_points(db):
    scale = _scale2(db)
    w = make_world(db, people=0, households=1)
    h = w.households[0]
    award(db, w.villages[0], "household", h, steps_of(5, scale))  # 5 points = 10 steps
    with db.sessions() as s:
        plate = s.get(Household, h).plate_code
    body = lookup.public_summary(db, plate)
    assert (body.balance_points, body.balance_steps) == (5, 10)
    assert body.score_this_year_points == 5
    with db.transaction() as s:  # the town admin types points: 5 points is one star
        stars.set_config(s, w.town, "household", {"thresholds": [5, 10, 20, 30, 40]}, 1)
    with db.sessions() as s:
        sm = stars.summary(s, "household", h)
    assert sm["current"]["level"] == 1
    assert (sm["current"]["points"], sm["current"]["next_threshold_points"]) == (5, 10)
