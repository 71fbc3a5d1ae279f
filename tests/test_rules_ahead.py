"""Counters locked ahead (rules/direct.py): a holder's next award predicts its counters from
what the last one read and locks them in the round trip that reads. A prediction that no longer
holds (the person moved to another household) changes nothing: the right counters are
locked and counted, and caps stay exact."""

from __future__ import annotations

from sqlalchemy import select

from ledger.config import Settings
from ledger.db import Database
from ledger.errors import DomainError
from ledger.journal import accounts
from ledger.journal.models import Account
from ledger.registry.models import Person
from ledger.rules import service as svc
from ledger.rules import store
from ledger.rules.models import RuleCounter
from tests.builders.rules import T0, add_household, add_person, balance, make_world, staff
from tests.conftest import audit_clean

CATALOG = """
catalog:
  code: ahead
  name: 预锁测试
  effective_from: 2024-01-01
  approval: {approved_by: 测试, decision: A-1}
categories:
  - code: A
    name: 预锁
    items:
      - {code: CAP, name: 有上限, points: 3, caps: {points: {month: 10}}}
      - {code: ROLL, name: 计入家庭, points: 2, rollup: household, caps: {points: {day: 100}}}
"""


def _award(db, settings, item, pid, admin):
    return svc.record_award(db, settings, item_code=item, holder=("person", pid),
                            recorder=admin, context={"occurred_at": T0.isoformat()}, now=T0)


def _score(db, household_id: int) -> int:
    with db.sessions() as s:
        return s.scalar(select(Account.balance).where(
            Account.holder_type == "household", Account.holder_id == household_id,
            Account.purpose == "score")) or 0


def _town(db, tmp_path):
    """Settings (4 budget shards) and a one-village town with the catalog loaded."""
    settings = Settings(database_url=db.url, redis_url=None, secret_key="t" * 43,
                        data_dir=tmp_path, budget_shards=4)
    w = make_world(db, villages=("塘后村",))
    store.import_catalog(db, CATALOG, actor_id=1)
    return settings, w


def test_repeated_awards_keep_a_cap_exact(db, tmp_path):
    settings, w = _town(db, tmp_path)
    pid = add_person(db, w, "陈一")
    admin = staff(50, "village_admin", village_id=w.villages["塘后村"])
    got = []
    for _ in range(5):
        try:
            got.append(_award(db, settings, "CAP", pid, admin).steps)
        except DomainError as exc:
            got.append(exc.code)
    assert got == [3, 3, 3, 1, "cap_reached"]
    assert balance(db, "person", pid) == 10
    audit_clean(db)


def test_a_person_who_moved_household_is_counted_for_the_new_one(db, tmp_path):
    settings, w = _town(db, tmp_path)
    old, new = add_household(db, w, "陈家"), add_household(db, w, "林家")
    pid = add_person(db, w, "陈一", household="陈家")
    admin = staff(50, "village_admin", village_id=w.villages["塘后村"])
    assert [_award(db, settings, "ROLL", pid, admin).steps for _ in range(2)] == [2, 2]
    with db.transaction() as s:  # the process still remembers the old household
        s.get(Person, pid).household_id = new
    assert _award(db, settings, "ROLL", pid, admin).steps == 2
    assert (_score(db, old), _score(db, new)) == (4, 2)
    with db.sessions() as s:
        used = dict(s.execute(select(RuleCounter.holder_id, RuleCounter.award_steps).where(
            RuleCounter.holder_type == "household")).all())
    assert used == {old: 4, new: 2}
    audit_clean(db)


def test_a_holders_first_award_in_a_process_reads_its_account_ids_with_the_holder(
        db, tmp_path, monkeypatch):
    """The read of a holder this process has not seen also gives the ids of the accounts the
    award posts to (direct._ACCOUNTS): none is looked up by a statement of its own."""
    settings, w = _town(db, tmp_path)
    pid = add_person(db, w, "陈一")
    admin = staff(50, "village_admin", village_id=w.villages["塘后村"])
    _award(db, settings, "ROLL", pid, admin)  # opens the person's and the household's accounts
    looked: list[dict] = []

    class Counting(accounts.Raw):
        __slots__ = ()

        def first(self, sql, params=None):
            if sql is accounts._FIND:
                looked.append(params)
            return super().first(sql, params)

    monkeypatch.setattr(accounts, "Raw", Counting)
    fresh = Database(db.url)  # another process: no holder, no account id remembered
    try:
        got = _award(fresh, settings, "ROLL", pid, admin)
    finally:
        fresh.dispose()
    assert looked == [] and got.steps == 2
    audit_clean(db)
