"""The per-station reports against a generated quarter of work: every figure the report shows
equals what the generator made (counted on its own), the hours equal the journal's minutes
book, the 挂牌-only stations are the ones that did nothing, and the standing teams' collective
services are counted month by month. The quarterly PDF and .xlsx carry the same figures."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import func, select

from ledger import demo
from ledger.activities.planning import Actor
from ledger.journal import service as journal
from ledger.journal.models import Account, HolderType, Purpose, Unit
from ledger.rules import store
from ledger.stations import demo as stations_demo
from ledger.stations import export, generate, reports
from ledger.stations.service import team_progress
from tests.conftest import audit_clean

QUARTER = reports.quarter(2026, 3)
# Five of the twenty (塘边村 and 坑东村: the demo's staff work there; the fifth does nothing).
STATIONS = ("宝源社区", "杆头村", "坑东村", "塘边村", "前园村")


def small_baogai(db, settings) -> tuple[int, dict[str, int]]:
    """Baogai's institute, points and its first stations, through the demo's own builders."""
    f = demo.facts()
    f["stations"] = list(STATIONS)
    town_id = demo._town(db, f)
    villages = demo._villages(db, town_id, f)
    for i, name in enumerate(f["stations"]):
        demo._people(db, villages[name], name, i + 1)
    demo._teams(db, town_id, f)
    demo._users(db, villages)
    for vid in villages.values():
        journal.allocate(db, shards=settings.budget_shards, town_id=town_id, village_id=vid,
                         amount=demo.DEMO_VILLAGE_BUDGET, actor_id=None, key=None)
    store.load_shipped(db)
    stations_demo.load(db, settings, town_id, villages, quarter=False)
    return town_id, villages


@pytest.fixture
def quarter(db, settings):
    town_id, villages = small_baogai(db, settings)
    made = generate.generate_quarter(db, settings, town_id, QUARTER,
                                     actor=Actor(1, roles=(("town_admin", None),)))
    return town_id, villages, made


def test_report_figures_and_the_summary_files_equal_the_generated_quarter(db, settings,
                                                                         quarter):
    town_id, villages, made = quarter
    with db.sessions() as s:
        r = reports.report(s, town_id, QUARTER)
    assert len(r["stations"]) == len(villages)
    for row in r["stations"]:
        want = made["stations"][row["station_id"]]
        for k in ("activities", "participations", "people", "minutes", "orders_placed",
                  "orders_done", "orders_overdue", "orders_rated", "rating_sum", "themes"):
            assert row[k] == want[k], (row["name"], k, row[k], want[k])
    names = {v: n for n, v in villages.items()}
    assert r["sign_only"] == [names[v] for v in made["sign_only"]] != []
    assert sum(x["activities"] for x in made["stations"].values()) == r["totals"]["activities"]
    # the hours are the journal's: certified service minutes booked to people in the quarter
    with db.sessions() as s:
        booked = s.scalar(select(func.sum(Account.balance)).where(
            Account.unit == Unit.MINUTES, Account.holder_type == HolderType.PERSON,
            Account.purpose == Purpose.POINTS))
    assert booked == r["totals"]["minutes"] > 0
    services = r["quality"]["services"]  # the menu's quality figures, from the same ratings
    assert sum(q["rated"] for q in services) == r["totals"]["orders_rated"]
    assert sum(q["rating_sum"] for q in services) == r["totals"]["rating_sum"]
    audit_clean(db)
    _check_summary_files(db, town_id, villages, made)


def test_months_add_up_to_the_quarter_and_teams_are_counted_by_month(db, settings, quarter):
    town_id, _, made = quarter
    with db.sessions() as s:
        q = reports.report(s, town_id, QUARTER)
        months = [reports.report(s, town_id, m) for m in QUARTER.months()]
        teams = team_progress(s, town_id, 2026, today=date(2026, 10, 1))
    for k in ("activities", "participations", "minutes", "orders_placed", "orders_done"):
        assert sum(m["totals"][k] for m in months) == q["totals"][k], k
    want = {}
    for st in made["stations"].values():
        for team, n in st["team_services"].items():
            want[team] = want.get(team, 0) + n
    assert {t["team_id"]: sum(t["by_month"][6:9]) for t in teams if t["done"]} == want
    # nothing before July: every team is behind from January; by September most still are
    assert all(1 in t["behind_months"] for t in teams)
    assert {t["team_id"] for t in q["teams_behind"]} == {t["team_id"] for t in teams}


def _check_summary_files(db, town_id, villages, made) -> None:
    from openpyxl import load_workbook
    sid = villages["宝源社区"]
    with db.sessions() as s:
        summary = reports.station_quarter(s, town_id, sid, QUARTER)
    total = summary["total"]
    assert total["activities"] == made["stations"][sid]["activities"] > 0
    assert len(summary["liaisons"]) == 2 and len(summary["months"]) == 3
    pdf = export.render_pdf(summary, "宝盖镇")
    assert pdf.startswith(b"%PDF") and len(pdf) < 200_000
    import pypdfium2
    doc = pypdfium2.PdfDocument(pdf)
    page = doc[0]
    assert page.get_size() == pytest.approx((595.27, 841.89), abs=1)  # A4
    text = page.get_textpage().get_text_range()
    assert f"开展活动 {total['activities']} 场" in text and "宝源社区" in text
    wb = load_workbook(io.BytesIO(export.render_xlsx(summary, "宝盖镇")))
    rows = list(wb["季度汇总"].iter_rows(values_only=True))
    totals = next(r for r in rows if r and r[0] == "合计")
    assert totals[1] == total["activities"] and totals[2] == total["participations"]
    assert wb["活动明细"].max_row == 1 + len(summary["activities"])


def test_honour_candidates_come_from_the_same_figures(db, settings, quarter):
    from ledger.stations import honours
    town_id, _, made = quarter
    with db.sessions() as s:
        c = honours.candidates(s, town_id, QUARTER)
        r = reports.report(s, town_id, QUARTER)
    team_services = {}
    for st in made["stations"].values():
        for team, n in st["team_services"].items():
            team_services[team] = team_services.get(team, 0) + n
    assert {o["team_id"]: o["services"] for o in c["organisations"]
            if o["services"]} == team_services
    services = [o["services"] for o in c["organisations"]]
    assert services == sorted(services, reverse=True)
    # the demo's town admin organised every generated activity
    assert c["organisers"][0]["activities"] == r["totals"]["activities"]
    assert c["organisers"][0]["participations"] == r["totals"]["participations"]
    assert sum(p["orders_done"] for p in c["projects"]) <= r["totals"]["orders_done"]


def test_period_codes_are_checked():
    assert reports.parse_period("2026Q3").months()[0].code == "2026-07"
    assert reports.parse_period("2026-02").end == date(2026, 3, 1)
    for bad in ("2026Q5", "2026-13", "26Q1", ""):
        with pytest.raises(Exception) as exc:
            reports.parse_period(bad)
        assert exc.value.code == "period_invalid"
