"""Engine, sessions and transactions for SQLite (embedded) and PostgreSQL (production).

SQLite runs with one writer at a time: every transaction starts with BEGIN IMMEDIATE, so two
writers never interleave and a balance check cannot go stale between read and write.
PostgreSQL runs READ COMMITTED; the journal takes row locks through guarded UPDATEs.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import MetaData, Table, bindparam, create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def bound(table: Table, *columns: str) -> dict:
    """column → a parameter `v_<column>` of the column's type: the values of an INSERT or an
    UPDATE built once, at import, for a path that runs it on every request (building it per
    call costs more client CPU than the database spends on it). `v_` keeps the names apart from
    the columns' own, which SQLAlchemy reserves in a SET clause."""
    return {c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns}


def scalar_defaults(table: Table) -> dict:
    """column → the value its `default=` gives a row that leaves it out (columns with a scalar
    default only): what a row written by a prebuilt INSERT holds beside the values it binds."""
    return {c.name: c.default.arg for c in table.c
            if c.default is not None and c.default.is_scalar}


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        dbapi_conn.create_function("jifen_sha256", 1, sha256_hex, deterministic=True)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kw) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)
        _sqlite_setup(engine)
        return engine
    kw.setdefault("pool_size", 16)
    kw.setdefault("max_overflow", 16)
    ping_idle_s = kw.pop("ping_idle_s", PING_IDLE_S)
    engine = create_engine(url, **kw)
    if engine.dialect.driver == "psycopg":
        @event.listens_for(engine, "do_connect")
        def _connect(_dialect, _record, cargs, cparams):  # noqa: ANN001, ANN202
            return _keeping_prepared().connect(*cargs, **cparams)
    if not kw.get("pool_pre_ping"):
        _ping_after_idle(engine, ping_idle_s)
    return engine


@functools.cache
def _keeping_prepared() -> type:
    """psycopg's Connection, except that a ROLLBACK keeps the statements it has prepared.

    psycopg forgets every prepared statement on ROLLBACK and sends DEALLOCATE ALL (in case the
    transaction dropped or altered what they use). SQLAlchemy ends every read-only session
    with a ROLLBACK when it hands the connection back, and nearly every request has one, so the
    service's statements were parsed and planned again on nearly every use: a check-out's award
    sent its three statements through PARSE every time, 2.5 ms of the server's CPU for the
    posting statement against 1.2 ms kept (docs/ledger.md, "The prepared statements").
    PostgreSQL itself keeps prepared statements across a ROLLBACK; one whose table changed is
    planned again by the server. The service's transactions change no schema (migrations run
    apart and commit), and psycopg still forgets them all after any ALTER, DROP or DISCARD ALL
    it runs. Inside psycopg's own transaction blocks, two-phase commits or a pipeline, its own
    rollback runs unchanged. Tested: `tests/test_db_pool.py`."""
    import psycopg
    from psycopg.pq import TransactionStatus

    class KeepingPrepared(psycopg.Connection):
        def _rollback_gen(self):  # noqa: ANN202 - psycopg's generator protocol
            if self._num_transactions or self._tpc or self._pipeline:
                return (yield from super()._rollback_gen())
            if self.pgconn.transaction_status == TransactionStatus.IDLE:
                return None
            yield from self._exec_command(b"ROLLBACK")
            return None

    return KeepingPrepared


# A pooled connection idle longer than this is checked (SELECT 1) before it is handed out; one
# used more recently is handed out as is. Pinging on every checkout (pool_pre_ping) cost a
# round trip and about a fifth of a posting's client CPU (docs/ledger.md, "measurements"); a
# connection that was fine a moment ago rarely is not, and if the server went away in that
# moment the transaction fails like any other in flight and is retried by the caller. The same
# rule as HikariCP's aliveBypassWindowMs.
PING_IDLE_S = 1.0


def _ping_after_idle(engine: Engine, idle_s: float) -> None:
    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn, record) -> None:  # noqa: ANN001
        record.info["jifen_used_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy) -> None:  # noqa: ANN001
        used = record.info.get("jifen_used_at")
        if used is None or time.monotonic() - used <= idle_s:
            return  # new (just connected) or recently used
        try:
            autocommit = dbapi_conn.autocommit
            dbapi_conn.autocommit = True
            dbapi_conn.execute("SELECT 1")
            dbapi_conn.autocommit = autocommit
        except Exception as exc:  # noqa: BLE001 - any failure: this connection is gone
            # The pool discards it and tries another (SQLAlchemy's documented custom pre-ping).
            raise DisconnectionError(f"pooled connection failed its check: {exc}") from exc


class Database:
    """One engine and its session factory; passed to services explicitly, never a global."""

    def __init__(self, url: str, **engine_kw) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kw)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block or rolls back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def drop_secondary(s: Session | Connection, tables: tuple[str, ...]) -> list[str]:
    """PostgreSQL: drop the tables' foreign keys and secondary indexes for a bulk load (the
    rollups' rebuild, a big history in journal.bulk, the benchmarks' seeding); returns the statements that put them back (run
    after the load, in the same transaction)."""
    back: list[str] = []
    for t in tables:
        for name, definition in s.execute(text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('f', 'u')"), {"t": t}):
            s.execute(text(f'ALTER TABLE {t} DROP CONSTRAINT "{name}"'))
            back.append(f'ALTER TABLE {t} ADD CONSTRAINT "{name}" {definition}')
        for name, definition in s.execute(text(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = CAST(:t AS regclass) "
                "AND NOT x.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint k "
                "WHERE k.conindid = i.oid)"), {"t": t}):
            s.execute(text(f'DROP INDEX "{name}"'))
            back.append(definition)
    return back
