"""Rollups follow the journal exactly (each committed posting once, never a rolled-back one) and
equal a rebuild from the journal; the live boards' rebuild equals their incremental updates."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from ledger.journal import book
from ledger.recognition import leaderboards, rollups
from ledger.recognition.models import DeductionMark, HolderRollup
from ledger.timeutil import utcnow
from tests.conftest import REDIS_URL
from tests.builders.recognition import (
    award,
    deduct,
    make_world,
    months_ago,
    rebuild_equals_live,
    reverse,
    serve,
)


def _net(db, holder_type, holder_id, period, unit="points"):
    with db.sessions() as s:
        return s.scalar(select(HolderRollup.net).where(
            HolderRollup.holder_type == holder_type, HolderRollup.holder_id == holder_id,
            HolderRollup.unit == unit, HolderRollup.period_key == period))


def test_rollups_follow_each_commit_and_equal_a_rebuild(db):
    w = make_world(db)
    v = w.villages[0]
    p, h = w.people[0], w.households[0]
    year = f"year:{utcnow().year}"
    e1 = award(db, v, "person", p, 10)
    assert _net(db, "person", p, year) == 10
    deduct(db, v, "person", p, 3)
    reverse(db, e1)
    award(db, v, "household", h, 7, at=months_ago(13))
    serve(db, w, p, 90)
    assert _net(db, "person", p, year) == -3
    assert _net(db, "person", p, year, unit="minutes") == 90
    with db.sessions() as s:
        row = s.scalars(select(HolderRollup).where(HolderRollup.holder_id == p,
                                                   HolderRollup.period_key == year,
                                                   HolderRollup.unit == "points")).one()
        assert (row.gained, row.lost, row.postings, row.village_id, row.town_id) == \
            (10, 13, 3, v, w.town)
    live, rebuilt = rebuild_equals_live(db)
    assert live == rebuilt and len(live) == 2 + 2 + 2  # person points, minutes, household


def test_a_rolled_back_posting_is_never_counted(db):
    w = make_world(db)
    v, p = w.villages[0], w.people[0]
    award(db, v, "person", p, 5)

    def fail(s):
        book.award(s, village_id=v, holder_type="person", holder_id=p, amount=100, shards=4)
        raise RuntimeError("crash after posting, before commit")

    with pytest.raises(RuntimeError):
        book.write(db, fail)
    award(db, v, "person", p, 1)
    rollups.catch_up(db, mode="full")
    assert _net(db, "person", p, f"year:{utcnow().year}") == 6
    live, rebuilt = rebuild_equals_live(db)
    assert live == rebuilt


def test_the_full_pass_finds_a_posting_the_cursor_passed(db):
    """A posting that committed after the cursor moved past its id (a late commit) is found by
    the full pass, which first compares the sums of posting counts and progress."""
    from sqlalchemy import text

    from ledger import outbox
    w = make_world(db)
    v, p = w.villages[0], w.people[0]
    award(db, v, "person", p, 5)
    outbox.attach(db, lambda engine, ids: None)  # nothing follows the next commit
    award(db, v, "person", p, 2, follow=False)
    with db.transaction() as s:
        s.execute(text("UPDATE rollup_cursor SET last_posting_id = "
                       "(SELECT MAX(id) FROM posting)"))
    assert rollups.catch_up(db, mode="new")["postings"] == 0
    assert _net(db, "person", p, f"year:{utcnow().year}") == 5
    assert rollups.catch_up(db, mode="full")["postings"] == 1
    assert _net(db, "person", p, f"year:{utcnow().year}") == 7
    assert rollups.catch_up(db, mode="full")["postings"] == 0


def test_without_a_worker_commits_are_followed_at_most_once_a_second(db, monkeypatch):
    """The catch-up is an outbox row of the posting's transaction; a burst of commits queues
    one waiting row (dedupe key), run inline at most once per interval."""
    from sqlalchemy import func, select

    from ledger.outbox import COALESCE_S, OutboxRow, _last_inline
    w = make_world(db)
    v, p = w.villages[0], w.people[0]
    year = f"year:{utcnow().year}"
    calls = []
    real = rollups.catch_up
    monkeypatch.setattr(rollups, "catch_up",
                        lambda d, mode: calls.append(mode) or real(d, mode=mode))
    monkeypatch.setitem(COALESCE_S, rollups.CATCH_UP_TASK, 3600.0)
    _last_inline.pop(db.engine, None)
    with db.sessions() as s:
        before = s.scalar(select(func.max(OutboxRow.id))) or 0
    for _ in range(5):
        award(db, v, "person", p, 2, follow=False)
    assert calls == ["new"]  # the first commit of the burst was followed, the others wait
    assert _net(db, "person", p, year) == 2
    with db.sessions() as s:
        rows = s.execute(select(OutboxRow.dedupe_key, OutboxRow.done_at).where(
            OutboxRow.id > before, OutboxRow.task == rollups.CATCH_UP_TASK)
            .order_by(OutboxRow.id)).all()
    # five commits queued at most two rows (the first's, run at once unless an older waiting
    # row took it; then ONE waiting, with its key, for all the others)
    assert len(rows) <= 2 and rows[-1] == ("rollups", None)
    assert all(d is not None for k, d in rows[:-1])
    monkeypatch.setitem(COALESCE_S, rollups.CATCH_UP_TASK, 0.0)
    award(db, v, "person", p, 1, follow=False)  # the next one takes the burst with it
    assert _net(db, "person", p, year) == 11


def test_catch_up_twice_changes_nothing(db):
    w = make_world(db)
    award(db, w.villages[0], "person", w.people[0], 5)
    with db.sessions() as s:
        before = rollups.snapshot(s)
    for mode in ("new", "recent", "full", "full"):
        assert rollups.catch_up(db, mode=mode)["postings"] == 0
    with db.sessions() as s:
        assert rollups.snapshot(s) == before


def test_veto_marks_follow_deductions_and_their_reversals(db):
    w = make_world(db)
    h, v = w.households[0], w.villages[0]
    e = deduct(db, v, "household", h, 5, item="C10")
    deduct(db, v, "household", h, 1, item="C06")
    reverse(db, e)
    with db.sessions() as s:
        marks = {(m.item_code, m.reversed_by is not None) for m in s.scalars(
            select(DeductionMark))}
    assert marks == {("C10", True), ("C06", False)}

    def every_mark():
        with db.sessions() as s:
            return {(m.entry_id, m.account_id, m.holder_type, m.holder_id, m.item_code, m.amount,
                     m.created_at, m.reversed_by) for m in s.scalars(select(DeductionMark))}
    live = every_mark()
    rollups.rebuild(db)  # set-based SQL: the same marks, to the microsecond
    assert every_mark() == live


@pytest.mark.postgres
def test_parallel_writers_and_tailers_count_every_posting_once(pg_db):
    """8 writers post while 3 tailers run against them; at the end the rollups equal a rebuild
    and each holder's rollup equals its balance."""
    from ledger import outbox
    w = make_world(pg_db, people=6)
    outbox.attach(pg_db, lambda engine, ids: None)  # production-like: no catch-up on commit
    stop = threading.Event()
    errors = []

    def writer(i):
        try:
            for n in range(25):
                award(pg_db, w.village_of_person(i), "person", w.people[i % 6], 1 + n % 3,
                      follow=False)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    def tailer():
        try:
            while not stop.is_set():
                rollups.catch_up(pg_db, mode="recent")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    tailers = [threading.Thread(target=tailer) for _ in range(3)]
    writers = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in tailers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in tailers:
        t.join()
    assert not errors, errors
    live, rebuilt = rebuild_equals_live(pg_db)
    assert live == rebuilt
    year = f"year:{utcnow().year}"
    total = sum(v[7] for k, v in rebuilt.items() if k[1] == year)
    assert total == 8 * sum(1 + n % 3 for n in range(25))


def _boards_case(db):
    w = make_world(db, people=8, households=4)
    if REDIS_URL:
        leaderboards.configure(db.engine, REDIS_URL)  # production: Redis sorted sets
    with db.sessions() as s:
        leaderboards.clear(s)
    for i, p in enumerate(w.people):
        award(db, w.village_of_person(i), "person", p, 3 + i % 4)
        serve(db, w, p, 30 * (i % 3 + 1))
    e = award(db, w.villages[0], "person", w.people[0], 9)
    deduct(db, w.villages[1], "person", w.people[1], 2)
    reverse(db, e)
    for i, h in enumerate(w.households):
        award(db, w.villages[i % 2], "household", h, 5 * (i + 1))
    return w


def test_board_rebuild_equals_incremental(db):
    w = _boards_case(db)
    with db.sessions() as s:
        incremental = leaderboards.dump(s)
        leaderboards.clear(s)
        assert leaderboards.dump(s) == {}
    rollups.rebuild(db)  # from the journal …
    with db.sessions() as s:
        leaderboards.rebuild(s)  # … and the boards from the rollups
        rebuilt = leaderboards.dump(s)
    assert rebuilt == incremental
    month = leaderboards.live_periods()[0]
    assert any(f":points:person:{month}:town:{w.town}" in k for k in rebuilt)
    assert any(f":minutes:person:{month}:village:{w.villages[1]}" in k for k in rebuilt)


def test_board_top_shares_ranks_on_ties(db):
    w = _boards_case(db)
    month = leaderboards.live_periods()[0]
    with db.sessions() as s:
        top = leaderboards.top(s, unit="points", holder_type="person", period_key=month,
                               scope="town", scope_id=w.town, n=8)
    values = [r["value"] for r in top]
    assert values == sorted(values, reverse=True)
    for a, b in zip(top, top[1:]):
        assert (b["rank"] == a["rank"]) == (a["value"] == b["value"])


def test_rebuild_equals_live_with_deeds_counted_for_and_held_by_the_household(db, settings):
    """The rebuild's map of holder accounts sends a member's deed counted for the household
    (its `score` account) and one held in the household's wallet to the household's row; a
    rule deduction of a deed time across months, and its reversal (the reversed kind staged
    from the reversals' index): the rebuilt rows and veto marks equal the live ones."""
    from ledger.rules import service as svc
    from tests.builders.rules import T0, family, staff
    from tests.builders.rules import make_world as rules_world
    from tests.test_rules_wallets import ROLLUP, _load

    w = rules_world(db)
    _load(db, ROLLUP)
    h, p = family(db, w)
    who = staff(50, "village_admin", "inspector", village_id=w.villages["塘后村"])

    def deed(item, at):
        return svc.record_award(db, settings, item_code=item, holder=("person", p),
                                recorder=who, context={"occurred_at": at.isoformat(),
                                                       "channel": "admin"}, now=at)

    deed("R", T0)
    deed("W", T0)
    d = deed("D", T0 - timedelta(days=40))
    deed("D", T0)
    reverse(db, d.entry_id)
    live, rebuilt = rebuild_equals_live(db)
    assert live == rebuilt
    assert {k[1] for k in live} >= {f"year:{T0.year}", f"month:{T0:%Y-%m}"}
    assert any(v[1] == "household" and v[7] == 2 + 3 - 1 for k, v in live.items()
               if k[1] == f"year:{T0.year}")
    with db.sessions() as s:
        marks = {(m.item_code, m.reversed_by is not None) for m in s.scalars(
            select(DeductionMark))}
    assert ("D", True) in marks and ("D", False) in marks


def _plan_nodes(node):
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def test_the_rebuilds_account_ranking_is_computed_once_whatever_the_plan(pg_db):
    """The rebuild's statement of the rollup accounts ranks (unit, holder type) and villages
    once, even when the planner joins them to the accounts by nested loop, as it does when the
    tables have no statistics yet (a history just loaded, autovacuum off): an inlined ranking
    was sorted and ranked again for every account, 12 s for 9,000 accounts."""
    from sqlalchemy import text
    w = make_world(pg_db, people=12)
    for i, person in enumerate(w.people):
        award(pg_db, w.village_of_person(i), "person", person, 1)
    with pg_db.engine.connect() as c, c.begin():
        for k in ("enable_hashjoin", "enable_mergejoin"):  # the plan the planner took
            c.execute(text(f"SET LOCAL {k} = off"))
        plan = c.execute(text(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {rollups._accounts_sql(True)}")).scalar()
        accounts = c.execute(text(
            f"SELECT count(*) FROM ({rollups._accounts_sql(False)}) a")).scalar()
    nodes = list(_plan_nodes(plan[0]["Plan"]))
    assert plan[0]["Plan"]["Actual Rows"] == accounts >= 12
    ranks = [n for n in nodes if n["Node Type"] == "WindowAgg"]
    assert len(ranks) == 2
    assert [n["Actual Loops"] for n in ranks] == [1, 1]


def test_the_catch_ups_statements_reach_postings_by_index_while_the_tables_are_small(
        pg_db, monkeypatch):
    """The catch-up's read (its postings, their entries, accounts and progress) is prepared;
    its generic plan, kept for the connection's life, was made on the tables' first rows and
    scanned all four whole on every later catch-up (114 ms a read in the minute of 2,000
    volunteers: docs/ledger.md, "Morning of 2026-12-07 (third)"). Inside the catch-up it is
    planned as lookups by key whatever the statistics say; after it, the star refresh's
    statements plan freely again."""
    from sqlalchemy import text
    w = make_world(pg_db, people=3)
    with pg_db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE"))  # statistics of nearly empty tables, as a new town's
    plans, after = [], []
    real_lock, real_stars = rollups._lock_progress, rollups._refresh_stars

    def lock(raw, ids):
        got = real_lock(raw, ids)
        body = rollups._READ.pg_raw
        raw.cur.execute(f"PREPARE jifen_t_read (bigint[]) AS {body}")
        raw.cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        plans.append("\n".join(r[0] for r in raw.cur.execute(
            "EXPLAIN EXECUTE jifen_t_read ('{1}')").fetchall()))
        raw.cur.execute("DEALLOCATE jifen_t_read")
        raw.cur.execute("RESET plan_cache_mode")
        return got

    def stars(s, last, changes):
        after.append(s.execute(text("SELECT current_setting('enable_hashjoin')")).scalar())
        return real_stars(s, last, changes)

    monkeypatch.setattr(rollups, "_lock_progress", lock)
    monkeypatch.setattr(rollups, "_refresh_stars", stars)
    award(pg_db, w.villages[0], "person", w.people[0], 5)
    assert plans and after == ["on"] * len(after) and after
    for plan in plans:
        assert "Index Scan" in plan, plan
        for whole_table in ("Seq Scan", "Hash Join", "Merge Join"):
            assert whole_table not in plan, plan
    assert _net(pg_db, "person", w.people[0], f"year:{utcnow().year}") == 5
