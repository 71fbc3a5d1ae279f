"""An amount belongs to the period its deed happened in (DESIGN guarantee 9): a −20 found on
30 December whose 公示 ends on 5 January counts in the old year (yearly score, rankings,
清零 and the opening grant), while its posting keeps its own date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from ledger.journal.models import JournalEntry
from ledger.recognition import rollups, stars
from ledger.recognition.models import HolderRollup, StarKind
from ledger.rules import service as svc
from ledger.rules.expiry import expire_due, post_opening_grants
from ledger.rules.periods import local_date
from ledger.rules.workflow import post_due_notices
from tests.conftest import audit_clean
from tests.builders.rules import add_household, balance, load, make_world, staff

JAN1_2026 = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # local midnight
DEC30 = datetime(2026, 12, 30, 2, 0, tzinfo=UTC)
NEW_YEAR = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
JAN5 = datetime(2027, 1, 5, 2, 0, tzinfo=UTC)


def year_net(db, h: int, year: int) -> int:
    rollups.catch_up(db, mode="full")
    with db.sessions() as s:
        return s.scalar(select(HolderRollup.net).where(
            HolderRollup.holder_type == "household", HolderRollup.holder_id == h,
            HolderRollup.unit == "points", HolderRollup.period_key == f"year:{year}")) or 0


def test_a_finding_on_notice_over_new_year_counts_in_the_old_year(db, settings):
    w = make_world(db, villages=("坑东村",))
    load(db, "household_1000")
    h = add_household(db, w, "林家", "坑东村")
    post_opening_grants(db, settings, JAN1_2026 + timedelta(hours=1))
    assert balance(db, "household", h) == 1000
    r = svc.record_award(db, settings, item_code="H102", holder=("household", h),
                         recorder=staff(50, "inspector", village_id=w.villages["坑东村"]),
                         context={"occurred_at": DEC30.isoformat(), "note": "调解不履行"},
                         now=DEC30)
    assert r.status == "on_notice"
    expire_due(db, NEW_YEAR)  # 清零 of 2026: the finding is still on notice
    post_opening_grants(db, settings, NEW_YEAR + timedelta(hours=1))
    assert post_due_notices(db, JAN5) == 1
    expire_due(db, JAN5)  # the old year closes again with the finding in it
    assert balance(db, "household", h) == 1000  # 2027 starts at 1000, not 980
    assert year_net(db, h, 2026) == 980 and year_net(db, h, 2027) == 1000
    with db.sessions() as s:
        posted = s.scalar(select(JournalEntry.created_at).where(
            JournalEntry.kind == "deduct", JournalEntry.source_ref == str(r.award_id)))
        assert local_date(posted) == date(2027, 1, 5)  # the posting keeps its own date
        cfg = stars.get_config(s, w.town, StarKind.HOUSEHOLD)
        assert stars.household_figures(s, cfg, h, date(2026, 1, 1), date(2027, 1, 1))[0] == 980
    audit_clean(db)
