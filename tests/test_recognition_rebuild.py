"""The rollups' rebuild on PostgreSQL builds beside the live tables and swaps them in: readers
keep the old rows (whole, unblocked) while it runs, and awards posted during it are counted in
the new tables exactly once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from ledger.recognition import rollup_tables, rollups
from ledger.recognition.models import HolderRollup
from ledger.timeutil import utcnow
from tests.builders.recognition import (
    award,
    deduct,
    make_world,
    rebuild_equals_live,
)

pytestmark = pytest.mark.postgres


def _year_total(db, holder_type="person") -> int:
    year = f"year:{utcnow().year}"
    with db.sessions() as s:
        return sum(s.scalars(select(HolderRollup.net).where(
            HolderRollup.holder_type == holder_type, HolderRollup.unit == "points",
            HolderRollup.period_key == year)))


def test_readers_see_the_old_rows_and_awards_during_a_rebuild_are_counted(pg_db, monkeypatch):
    w = make_world(pg_db, people=4)
    for i, p in enumerate(w.people):
        award(pg_db, w.village_of_person(i), "person", p, 5)
    deduct(pg_db, w.villages[0], "person", w.people[0], 2, item="C10")
    before = _year_total(pg_db)
    assert before == 4 * 5 - 2
    seen = {}
    real_build = rollup_tables.build_indexes

    def build_while_in_use(engine, plan):
        # The new rows are loaded (their snapshot taken): a reader that will not wait for a
        # lock still reads the old, whole rows …
        with pg_db.engine.begin() as c:
            c.execute(text("SET LOCAL lock_timeout = '1s'"))
            seen["reader"] = c.execute(text(
                "SELECT COALESCE(SUM(net), 0) FROM holder_rollup WHERE holder_type = 'person' "
                "AND unit = 'points' AND period_key LIKE 'year:%'")).scalar()
        # … and awards go on, followed into the old tables by the tailer (which moves its
        # cursor past them): the new tables must still get them.
        for i, p in enumerate(w.people):
            award(pg_db, w.village_of_person(i), "person", p, 3)
        seen["old_after_awards"] = _year_total(pg_db)
        real_build(engine, plan)

    monkeypatch.setattr(rollup_tables, "build_indexes", build_while_in_use)
    out = rollups.rebuild(pg_db)
    assert seen == {"reader": before, "old_after_awards": before + 4 * 3}
    assert out["deduction_marks"] == 1
    assert _year_total(pg_db) == before + 4 * 3
    monkeypatch.setattr(rollup_tables, "build_indexes", real_build)
    live, rebuilt = rebuild_equals_live(pg_db)
    assert live == rebuilt
    with pg_db.engine.connect() as c:  # the swapped-in tables are the migrations' tables
        names = set(c.execute(text(
            "SELECT conname FROM pg_constraint WHERE conrelid IN ('holder_rollup'::regclass, "
            "'deduction_mark'::regclass, 'rollup_progress'::regclass) AND convalidated")
        ).scalars())
        indexes = set(c.execute(text(
            "SELECT indexname FROM pg_indexes WHERE tablename IN ('holder_rollup', "
            "'deduction_mark', 'rollup_progress')")).scalars())
        leftovers = c.execute(text(
            "SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_rebuild%'")).scalar()
    assert names >= {"pk_holder_rollup", "fk_holder_rollup_account_id_account",
                     "pk_deduction_mark", "fk_deduction_mark_entry_id_journal_entry",
                     "fk_deduction_mark_account_id_account", "pk_rollup_progress",
                     "fk_rollup_progress_account_id_account"}
    assert indexes == {"pk_holder_rollup", "ix_holder_rollup_rank",
                       "ix_holder_rollup_village_rank", "ix_holder_rollup_holder",
                       "pk_deduction_mark", "ix_deduction_mark_holder", "pk_rollup_progress"}
    assert leftovers == 0


def test_a_failed_rebuild_leaves_the_live_tables_and_no_shadow(pg_db, monkeypatch):
    w = make_world(pg_db, people=2)
    award(pg_db, w.villages[0], "person", w.people[0], 7)
    with pg_db.sessions() as s:
        before = rollups.snapshot(s)

    def fail(engine, plan):
        raise RuntimeError("index build failed")

    monkeypatch.setattr(rollup_tables, "build_indexes", fail)
    with pytest.raises(RuntimeError):
        rollups.rebuild(pg_db)
    with pg_db.sessions() as s:
        assert rollups.snapshot(s) == before
        assert s.scalar(text("SELECT count(*) FROM pg_class WHERE relname LIKE "
                             "'%\\_rebuild%'")) == 0
    monkeypatch.undo()
    award(pg_db, w.villages[0], "person", w.people[0], 1)  # the tailer still follows
    assert _year_total(pg_db) == 8


def test_writers_tailers_and_rebuilds_at_once_count_every_posting_once(pg_db):
    """6 writers post while 2 tailers follow and rebuilds run back to back; at the end the
    rollups equal a rebuild and hold every award once."""
    from ledger import outbox
    w = make_world(pg_db, people=6)
    outbox.attach(pg_db, lambda engine, ids: None)  # production-like: no catch-up on commit
    stop = threading.Event()
    errors: list[BaseException] = []
    rebuilds = [0]

    def guarded(fn):
        def run(*a):
            try:
                fn(*a)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
        return run

    @guarded
    def writer(i):
        for n in range(20):
            award(pg_db, w.village_of_person(i), "person", w.people[i], 1 + n % 3, follow=False)

    @guarded
    def tailer():
        while not stop.is_set():
            rollups.catch_up(pg_db, mode="new")

    @guarded
    def rebuilder():
        while not stop.is_set() or rebuilds[0] == 0:
            rollups.rebuild(pg_db)
            rebuilds[0] += 1

    others = [threading.Thread(target=tailer) for _ in range(2)]
    others.append(threading.Thread(target=rebuilder))
    writers = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in others + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in others:
        t.join()
    assert not errors, errors
    assert rebuilds[0] >= 1
    rollups.catch_up(pg_db, mode="full")  # what the tailers had not reached yet
    assert _year_total(pg_db) == 6 * sum(1 + n % 3 for n in range(20))
    live, rebuilt = rebuild_equals_live(pg_db)
    assert live == rebuilt


@pytest.mark.parametrize("parts", [1, 3])
def test_a_rebuild_split_over_any_number_of_connections_equals_the_live_rows(
        pg_db, settings, monkeypatch, parts):
    """Each part loads the accounts whose id is its number modulo the parts, in the first
    part's exported snapshot, a member's deed counted for the household (its `score` account,
    another id than the household's row) with the row it rolls into: split one way or three,
    the rows, progress and veto marks are the live ones (two, the default, is what every
    other rebuild test runs)."""
    from datetime import timedelta

    from ledger.recognition.models import DeductionMark, RollupProgress
    from ledger.rules import service as svc
    from tests.builders.rules import T0, family, staff
    from tests.builders.rules import make_world as rules_world
    from tests.test_rules_wallets import ROLLUP, _load

    w = rules_world(pg_db)
    _load(pg_db, ROLLUP)
    who = staff(50, "village_admin", "inspector", village_id=w.villages["塘后村"])
    for tag in ("陈", "林", "黄", "王", "李"):
        _, p = family(pg_db, w, tag=tag)
        for item, at in (("R", T0), ("W", T0 - timedelta(days=40)), ("D", T0)):
            svc.record_award(pg_db, settings, item_code=item, holder=("person", p),
                             recorder=who, context={"occurred_at": at.isoformat(),
                                                    "channel": "admin"}, now=at)

    def marks_and_progress():
        with pg_db.sessions() as s:
            return ({(m.entry_id, m.account_id, m.item_code, m.amount, m.created_at,
                      m.reversed_by) for m in s.scalars(select(DeductionMark))},
                    {(g.account_id, g.applied_seq) for g in s.scalars(select(RollupProgress))})

    rollups.catch_up(pg_db, mode="full")
    before = marks_and_progress()
    monkeypatch.setattr(rollups, "REBUILD_PARTS", parts)
    live, rebuilt = rebuild_equals_live(pg_db)
    assert live == rebuilt
    assert {k[0] % 3 for k in live} == {0, 1, 2}  # every part had rows to load
    assert {v[1] for v in live.values()} == {"person", "household"}
    assert marks_and_progress() == before
    assert len(before[0]) == 10  # each deduction: the member's account and the score account
