"""PostgreSQL: the rollup tables rebuilt beside the live ones and swapped in, so that readers
and tailers keep the old tables (whole, and still followed) for the length of a rebuild.

The rebuild (ledger/recognition/rollups.py, `rebuild`) fills shadow tables (`<table>_rebuild`,
the live ones' columns and checks, no index) in one snapshot; here their indexes are built
after the load, on several connections at once, their foreign keys added and validated, and
the shadows swapped in by renaming, in one short transaction that waits for the tables' lock
(bounded: `SWAP_LOCK_TIMEOUT_S` an attempt, `SWAP_ATTEMPTS` attempts). A reader sees the old
tables or the new ones, never a half-built one. (A REPEATABLE READ transaction that read
nothing of these tables before the swap and reads them after sees the new tables through its
old snapshot: empty. Nothing in the service reads the rollups that way; TRUNCATE, which the
rebuild used before, has the same caveat.)
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

# The swap locks these in the tailer's order (progress rows, then rollups, then marks), so that
# a tailer part-way through its transaction and the swap never wait on each other in a cycle.
TABLES = ("rollup_progress", "holder_rollup", "deduction_mark")
SHADOW_SUFFIX = "_rebuild"
SHADOW_INDEX_SUFFIX = "_rb"
# Index builds and foreign-key checks run on this many connections at once (measured on the
# 2-core machine: see bench/README.md, "bench/recognition.py").
BUILD_CONNECTIONS = 3
BUILD_SETTINGS = {"maintenance_work_mem": "1GB", "work_mem": "256MB", "jit": "off"}
SWAP_LOCK_TIMEOUT_S = 2
SWAP_ATTEMPTS = 30
_LOCK_FAILED = ("55P03", "40P01")  # lock_not_available, deadlock_detected
_INDEX_DEF = re.compile(r"^CREATE (UNIQUE )?INDEX (\S+) ON (\S+) (USING .+)$")
log = logging.getLogger("jifen.rollups")


def shadow(table: str) -> str:
    assert table in TABLES, table
    return table + SHADOW_SUFFIX


@dataclass(frozen=True)
class IndexPlan:
    """One live index: its name, the constraint it backs (primary key or unique), and the
    statement that builds its twin on the shadow table under a temporary name."""

    table: str
    name: str
    constraint: str | None  # 'PRIMARY KEY' | 'UNIQUE' | None
    build: str

    @property
    def temp_name(self) -> str:
        return self.name + SHADOW_INDEX_SUFFIX

    @property
    def key_columns(self) -> int:
        return self.build[self.build.index("(") + 1:self.build.rindex(")")].count(",") + 1


@dataclass(frozen=True)
class ForeignKey:
    table: str
    name: str
    definition: str


@dataclass(frozen=True)
class Plan:
    indexes: tuple[IndexPlan, ...]
    foreign_keys: tuple[ForeignKey, ...]


def plan(c: Connection) -> Plan:
    """The live tables' indexes and foreign keys (read from the catalog, so the shadows get
    exactly what the migrations made)."""
    indexes, fks = [], []
    for t in TABLES:
        for name, definition, primary, unique_con in c.execute(text(
                "SELECT i.relname, pg_get_indexdef(i.oid), x.indisprimary, "
                "EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid "
                "AND k.contype = 'u') FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indrelid = CAST(:t AS regclass) ORDER BY i.relname"), {"t": t}):
            m = _INDEX_DEF.match(definition)
            assert m, definition
            constraint = "PRIMARY KEY" if primary else ("UNIQUE" if unique_con else None)
            indexes.append(IndexPlan(t, name, constraint,
                                     f"CREATE {m.group(1) or ''}INDEX {name}{SHADOW_INDEX_SUFFIX}"
                                     f" ON {shadow(t)} {m.group(4)}"))
        for name, definition in c.execute(text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f' ORDER BY conname"),
                {"t": t}):
            fks.append(ForeignKey(t, name, definition))
    return Plan(tuple(indexes), tuple(fks))


def drop_shadows(c: Connection) -> None:
    """Leftovers of a rebuild that failed part-way."""
    for t in TABLES:
        c.execute(text(f"DROP TABLE IF EXISTS {shadow(t)}"))


def create_shadows(c: Connection) -> None:
    """Empty twins of the live tables: columns, defaults, NOT NULL and checks; no index, no
    foreign key (both come after the load)."""
    for t in TABLES:
        c.execute(text(f"CREATE TABLE {shadow(t)} (LIKE {t} INCLUDING DEFAULTS "
                       "INCLUDING CONSTRAINTS INCLUDING STORAGE)"))


def _run_each(engine: Engine, statements: list[str], settings: dict[str, str]) -> None:
    """Each statement in its own transaction, up to BUILD_CONNECTIONS at once, in the order
    given (largest first, so the longest build starts first)."""
    def one(stmt: str) -> None:
        t0 = time.monotonic()
        with engine.begin() as c:
            for k, v in settings.items():
                c.execute(text(f"SET LOCAL {k} = '{v}'"))
            c.execute(text(stmt))
        log.info("rebuild: %s (%.1f s)", stmt[:80], time.monotonic() - t0)

    with ThreadPoolExecutor(min(BUILD_CONNECTIONS, max(1, len(statements)))) as pool:
        for f in [pool.submit(one, s) for s in statements]:
            f.result()


def build_indexes(engine: Engine, p: Plan) -> None:
    """The shadows' indexes, built once over all their rows, several at a time, the longest
    first: those of the largest table, and of a table those of the most key columns (a
    ranking index sorts its rows on four or five columns, the first three nearly all ties:
    measured 15 s against the primary key's 2.4 s for 4 M rows)."""
    with engine.connect() as c:
        size = {t: c.execute(text(f"SELECT pg_relation_size('{shadow(t)}')")).scalar()
                for t in TABLES}
    _run_each(engine, [i.build for i in sorted(
        p.indexes, key=lambda i: (-size[i.table], -i.key_columns, i.name))], BUILD_SETTINGS)


def add_foreign_keys(engine: Engine, p: Plan) -> None:
    """The foreign keys, under their live names (a constraint's name is per table), added NOT
    VALID in one short transaction (it takes the referenced tables' SHARE ROW EXCLUSIVE lock:
    writers wait for its commit, milliseconds), then validated each in its own transaction
    (that takes only SHARE UPDATE EXCLUSIVE on the shadow and ROW SHARE on the referenced
    table: awards go on)."""
    with engine.begin() as c:
        for fk in p.foreign_keys:
            c.execute(text(f'ALTER TABLE {shadow(fk.table)} ADD CONSTRAINT "{fk.name}" '
                           f"{fk.definition} NOT VALID"))
    _run_each(engine, [f'ALTER TABLE {shadow(fk.table)} VALIDATE CONSTRAINT "{fk.name}"'
                       for fk in p.foreign_keys], BUILD_SETTINGS)


def _swap_once(engine: Engine, p: Plan, cursor_name: str, top: int) -> None:
    with engine.begin() as c:
        c.execute(text(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT_S}s'"))
        c.execute(text(f"LOCK TABLE {', '.join(TABLES)} IN ACCESS EXCLUSIVE MODE"))
        c.execute(text(f"DROP TABLE {', '.join(TABLES)}"))
        for t in TABLES:
            c.execute(text(f"ALTER TABLE {shadow(t)} RENAME TO {t}"))
        for i in p.indexes:
            if i.constraint:  # the index is renamed to the constraint's name
                c.execute(text(f'ALTER TABLE {i.table} ADD CONSTRAINT "{i.name}" '
                               f"{i.constraint} USING INDEX {i.temp_name}"))
            else:
                c.execute(text(f'ALTER INDEX {i.temp_name} RENAME TO "{i.name}"'))
        # The tailers' hint of where to look next goes back to the rebuild's snapshot: what
        # they applied to the old tables after it is not in the new ones.
        c.execute(text("UPDATE rollup_cursor SET last_posting_id = :top WHERE name = :n"),
                  {"top": top, "n": cursor_name})


def swap(engine: Engine, p: Plan, cursor_name: str, top: int) -> int:
    """Drop the live tables and rename the shadows into their place, in one transaction;
    returns the attempts it took. A reader or tailer holding a table makes an attempt wait at
    most SWAP_LOCK_TIMEOUT_S (and everything queued behind the attempt with it), then the
    attempt gives way and is tried again."""
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            _swap_once(engine, p, cursor_name, top)
            return attempt
        except OperationalError as exc:
            code = getattr(exc.orig, "sqlstate", None)
            if code not in _LOCK_FAILED or attempt == SWAP_ATTEMPTS:
                raise
            log.info("rebuild: swap attempt %d gave way (%s)", attempt, code)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")
