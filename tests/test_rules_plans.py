"""The award's statements reach their rows by key whatever the tables' size when first planned
(rules/direct.py, _GENERIC_PLANS). Generic plans are kept for the connection's life: one made
while `rule_counter` or `journal_entry` is small scans the whole table on every later award
(docs/ledger.md, "Morning of 2026-12-07 (second)")."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ledger.config import Settings
from ledger.rules import service as svc
from ledger.rules import store
from tests.builders.rules import T0, add_person, make_world, staff
from tests.conftest import audit_clean

CATALOG = """
catalog:
  code: plans
  name: 计划测试
  effective_from: 2024-01-01
  approval: {approved_by: 测试, decision: A-1}
categories:
  - code: A
    name: 计划
    items:
      - {code: CAP, name: 有上限, points: 3, caps: {points: {month: 100}}}
"""

# The shapes of the award's lookups by key, prepared as the award's statements are: the
# counters' update (a join of the deltas to their rows) and the foreign key check of a
# posting's entry (PostgreSQL's RI trigger runs that query through its own plan cache).
_SHAPES = {
    "jifen_t_counters": (
        ("(bigint[], bigint[]) AS UPDATE rule_counter r SET times = r.times + d.t "
         "FROM unnest($1, $2) AS d(id, t) WHERE r.id = d.id"), "('{1}', '{1}')"),
    "jifen_t_entry_key": (("(bigint) AS SELECT 1 FROM ONLY journal_entry x WHERE id = $1 "
                           "FOR KEY SHARE OF x"), "(1)")}


@pytest.mark.postgres
def test_an_award_reaches_counters_and_entries_by_index_while_the_tables_are_small(
        pg_db, tmp_path):
    settings = Settings(database_url=pg_db.url, redis_url=None, secret_key="t" * 43,
                        data_dir=tmp_path, budget_shards=4)
    w = make_world(pg_db, villages=("塘后村",))
    store.import_catalog(pg_db, CATALOG, actor_id=1)
    pid = add_person(pg_db, w, "陈一")
    admin = staff(50, "village_admin", village_id=w.villages["塘后村"])
    plans: list[str] = []

    def explain(s, _view):  # in the award's own transaction, after its statements
        for name, (body, args) in _SHAPES.items():
            s.execute(text(f"PREPARE {name} {body}"))
            plans.append("\n".join(s.execute(text(f"EXPLAIN EXECUTE {name} {args}")).scalars()))
            s.execute(text(f"DEALLOCATE {name}"))

    with pg_db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE rule_counter, journal_entry"))  # as a new town's autovacuum

    got = svc.record_award(pg_db, settings, item_code="CAP", holder=("person", pid),
                           recorder=admin, context={"occurred_at": T0.isoformat()}, now=T0,
                           then=explain)
    assert got.steps == 3 and len(plans) == 2
    for plan in plans:
        assert "Index Scan" in plan, plan
        for whole_table in ("Seq Scan", "Hash Join", "Merge Join"):
            assert whole_table not in plan, plan
    audit_clean(pg_db)
