"""One civility score (ledger/recognition/scores.py): the door-plate page, the village ranking,
household stars and honor lists read it from the rollups, and a straight scan of the journal
gives the same figure for every household, village and year — reversals counted as what they
reverse (a reversed sanction is not civility), each amount in the year of its deed."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import aliased

from ledger.journal import book
from ledger.journal.accounts import award_accounts
from ledger.journal.models import Account, JournalEntry, Posting
from ledger.journal.posting import Line, post_entry
from ledger.recognition import honor, public, rollups, stars
from ledger.recognition.models import HonorList, StarKind
from ledger.rules.periods import local_date
from ledger.timeutil import utcnow
from tests.builders.recognition import SHARDS, award, deduct, make_world, reverse

NOT_CIVILITY = {"redeem", "expire", "sanction", "reset"}  # written out here on purpose


def _sanction(db, village: int, household: int, amount: int) -> int:
    """A balance zeroed as a sanction: not civility, nor is its reversal."""
    def work(s):
        points, budget = award_accounts(s, holder_type="household", holder_id=household,
                                        village_id=village, shards=SHARDS)
        return post_entry(s, unit="points", kind="sanction", lines=[
            Line.of(points, -amount), Line(budget, amount, hot=True)], neg_ok=True).as_dict()
    return book.write(db, work).result["entry_id"]


def _from_the_journal(db) -> dict[tuple[int, int], int]:
    """(household id, year) → score, by scanning every posting: the other way."""
    out: dict[tuple[int, int], int] = defaultdict(int)
    r = aliased(JournalEntry)
    with db.sessions() as s:
        rows = s.execute(
            select(Account.holder_id, Posting.amount, Posting.created_at, JournalEntry.kind,
                   r.kind, JournalEntry.details)
            .join(Posting, Posting.account_id == Account.id)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .outerjoin(r, r.id == JournalEntry.reverses_id)
            .where(Account.holder_type == "household", Account.unit == "points",
                   Account.purpose.in_(("points", "score")))).all()
    for hid, amount, at, kind, rkind, details in rows:
        if (rkind if kind == "reverse" else kind) in NOT_CIVILITY:
            continue
        deed = (details or {}).get("period_at")
        when = datetime.fromisoformat(deed) if deed else at
        out[(hid, local_date(when).year)] += amount
    return out


def test_every_score_is_the_same_both_ways(db):
    w = make_world(db, households=4, villages=2)
    h1, h2, h3, h4 = w.households
    v_of = {h: w.villages[i % 2] for i, h in enumerate(w.households)}
    year = local_date(utcnow()).year
    last_dec30 = datetime(year - 1, 12, 30, 2, 0, tzinfo=UTC).isoformat()
    award(db, v_of[h1], "household", h1, 30)
    award(db, v_of[h1], "household", h1, 7, item="A02")
    d = deduct(db, v_of[h1], "household", h1, 5, item="C10")
    reverse(db, d)  # a reversed deduction gives the points back to the score
    award(db, v_of[h2], "household", h2, 50)
    reverse(db, _sanction(db, v_of[h2], h2, 40))  # neither the sanction nor its reversal count
    award(db, v_of[h3], "household", h3, 12)
    # a finding of 30 December posted now (its 公示 ended after New Year): last year's
    book.write(db, lambda s: book.deduct(
        s, village_id=v_of[h3], holder_type="household", holder_id=h3, amount=9,
        shards=SHARDS, source="rule", details={"item": "C06", "period_at": last_dec30}
    ).as_dict())
    award(db, v_of[h4], "household", h4, 3)
    deduct(db, v_of[h4], "household", h4, 8)
    journal = _from_the_journal(db)
    assert journal[(h1, year)] == 37 and journal[(h2, year)] == 50
    assert journal[(h3, year)] == 12 and journal[(h3, year - 1)] == -9

    for yr in (year - 1, year):
        for h in w.households:  # the door plate, each in its own session (as the page reads)
            page = public.household_public(db, h, year=yr)
            assert page.score == journal.get((h, yr), 0), (h, yr)
            assert sum(i.amount for i in page.by_item) == page.score
        ranking = {r.village_id: r.total
                   for r in public.village_ranking(db, w.town, year=yr).villages}
        with db.sessions() as s:
            for h in w.households:
                cfg = stars.get_config(s, w.town, StarKind.HOUSEHOLD)
                assert stars.rate(s, StarKind.HOUSEHOLD, h, on=date(yr, 6, 30)).value == \
                    journal.get((h, yr), 0)
                assert stars.household_figures(s, cfg, h, date(yr, 1, 1),
                                               date(yr + 1, 1, 1))[0] == journal.get((h, yr), 0)
        for v in w.villages:
            assert ranking[v] == sum(journal.get((h, yr), 0) for h in w.households
                                     if v_of[h] == v)
        with db.transaction() as s:
            d_ = honor.create_definition(s, {
                "name": "星级文明户", "scope": "town", "scope_id": w.town, "period": "year",
                "metric": "household_score", "size": 10, "minimum": 0}, actor_id=1)
            list_id = honor.request_draft(s, d_.id, str(yr), None, actor_id=1).id
        with db.transaction() as s:
            honor.compute_draft(s, list_id)
        with db.sessions() as s:
            got = {c["holder_id"]: c["value"] for c in s.get(HonorList, list_id).candidates}
        assert got == {h: n for (h, y), n in journal.items() if y == yr and n >= 0}
    # and the rollups themselves are what a rebuild from the journal makes
    rollups.catch_up(db, mode="full")
    with db.sessions() as s:
        live = rollups.snapshot(s)
    rollups.rebuild(db)
    with db.sessions() as s:
        assert rollups.snapshot(s) == live
