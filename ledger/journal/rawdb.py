"""Driver-level execution for the journal's hot statements.

Every award runs a handful of statements; built and compiled by SQLAlchemy on each call they
cost more client CPU than the database spends on them (docs/ledger.md, "measurements"). Here
each statement is a fixed text per backend, sent on the session's own DBAPI connection (so it
is part of the session's transaction) and prepared server-side. Parameters are written
`:name` and converted once to PostgreSQL's own `$1, $2…` (sent by a `psycopg.RawCursor`, which
does not parse the text again: psycopg caches its parse of a `%(name)s` statement only up to
4,096 characters, and the entry's statement is longer, so it was parsed again on every award)
and to psycopg's `%(name)s` for the few callers that run `pg` themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg
from sqlalchemy.orm import Session

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DateTime on SQLite


@dataclass(frozen=True)
class Sql:
    """One statement in both dialects; `pg` defaults to `sqlite` with psycopg placeholders,
    `pg_raw` is it with PostgreSQL's `$n` placeholders for the parameters `names`."""

    sqlite: str
    pg: str
    pg_raw: str = ""
    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, sqlite: str, pg: str | None = None) -> Sql:
        text = pg if pg is not None else sqlite
        names: dict[str, int] = {}

        def number(m: re.Match) -> str:
            return f"${names.setdefault(m.group(1), len(names) + 1)}"
        raw = _PARAM.sub(number, text)
        return cls(sqlite, _PARAM.sub(r"%(\1)s", text), raw, tuple(names))

    def values(self, params: dict | None) -> list:
        """The parameters in `$n` order."""
        return [params[n] for n in self.names] if self.names else []


# PostgreSQL, transaction-local: statements that reach their rows by primary or unique key are
# planned as index probes and nested loops, whatever the tables' size when they were planned. A
# prepared statement's generic plan is kept for the connection's life: made while a table was
# small (a new town's first minutes; and where autovacuum is off, until someone runs ANALYZE),
# it scans that table whole on every later execution (docs/ledger.md, "Morning of 2026-12-07
# (second)": the award's counters and foreign key checks; "Morning of 2026-12-07 (third)": the
# rollups' catch-up). An SQL expression (text), to run inside a statement of the path.
_KEYED_SETTINGS = ("enable_seqscan", "enable_hashjoin", "enable_mergejoin")
KEYED_PLANS = " || ".join(f"set_config('{k}', 'off', true)" for k in _KEYED_SETTINGS)
_KEYED_ON = ("SELECT o.*, " + KEYED_PLANS + " FROM (SELECT "
             + ", ".join(f"current_setting('{k}')" for k in _KEYED_SETTINGS) + " OFFSET 0) o")
_KEYED_OFF = "SELECT " + " || ".join(f"set_config('{k}', %s, true)" for k in _KEYED_SETTINGS)

_CURSOR = "jifen_cursor"
_RAW_CURSOR = "jifen_raw_cursor"
# The class of the cursor that sends `Sql.pg_raw` (bench/awards.py counts statements with a
# subclass of it).
RAW_CURSOR: type = psycopg.RawCursor
_RAW = "journal_raw"


class Raw:
    """The session's DBAPI connection inside its current transaction."""

    __slots__ = ("conn", "cur", "pg", "raw_cur")

    def __init__(self, session: Session) -> None:
        if session.new or session.dirty or session.deleted:
            session.flush()  # raw statements bypass autoflush; keep the ORM's writes first
        txn = session.get_transaction()
        cached = session.info.get(_RAW)
        if txn is not None and cached is not None and cached[0] is txn:
            self.pg, self.conn, self.cur, self.raw_cur = cached[1]
            return
        connection = session.connection()
        self.pg = connection.dialect.name == "postgresql"
        pooled = connection.connection
        self.conn = pooled.driver_connection
        # One cursor per DBAPI connection, kept in the pool's record of it: psycopg's
        # Connection.execute builds a new cursor and its adapters on every call, which costs
        # more client CPU than the statement itself.
        self.cur = pooled.info.get(_CURSOR)
        if self.cur is None:
            self.cur = pooled.info[_CURSOR] = self.conn.cursor()
        self.raw_cur = pooled.info.get(_RAW_CURSOR)
        if self.raw_cur is None and self.pg:
            self.raw_cur = pooled.info[_RAW_CURSOR] = RAW_CURSOR(self.conn)
        # The same connection serves the rest of this transaction: remember it for it.
        session.info[_RAW] = (session.get_transaction(), (self.pg, self.conn, self.cur,
                                                           self.raw_cur))

    def execute(self, sql: Sql, params: dict | None = None):
        if self.pg:
            return self.raw_cur.execute(sql.pg_raw, sql.values(params), prepare=True)
        return self.cur.execute(sql.sqlite, params or {})

    def first(self, sql: Sql, params: dict | None = None):
        return self.execute(sql, params).fetchone()

    def all(self, sql: Sql, params: dict | None = None) -> list:
        return self.execute(sql, params).fetchall()

    @contextmanager
    def keyed_plans(self) -> Iterator[None]:
        """PostgreSQL: the statements inside are planned by KEYED_PLANS, and the settings are
        back as they were after them (so that later statements of the transaction, which may
        aggregate whole tables, plan freely). Not put back when the body raises: the
        transaction is rolled back then, and the settings with it."""
        if not self.pg:
            yield
            return
        before = self.cur.execute(_KEYED_ON).fetchone()[:len(_KEYED_SETTINGS)]
        yield
        self.cur.execute(_KEYED_OFF, before)

    def time(self, value: datetime) -> Any:
        """A UTC instant as the UTCDateTime column stores it (naive UTC)."""
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive if self.pg else naive.strftime(_SQLITE_TIME)

    def json_out(self, value: Any) -> Any:
        """A JSON column read back: psycopg parses it, SQLite gives the text."""
        if self.pg or value is None or not isinstance(value, str):
            return value
        return json.loads(value)


_ENCODER = msgspec.json.Encoder()


def dumps(value: Any) -> str:
    """JSON text of a column or parameter (msgspec: several times faster than json.dumps on
    the award's record, details and answer, which are written on every award; the text is
    read back as JSON, never hashed: digests use posting.canonical_json)."""
    return _ENCODER.encode(value).decode()


def pg_array(values) -> str:  # noqa: ANN001 - ints, strings or None (NULL)
    """A PostgreSQL array literal (`'{1,2,3}'`, cast in the statement: `%(ids)s::bigint[]`):
    one text parameter the server parses, where psycopg's array adapter spends several µs of
    client CPU on each element (measured: 2.4 s for a history's 27,000 accounts)."""
    if not isinstance(values, list | tuple):
        values = list(values)  # read twice below
    if all(type(v) is int for v in values):  # the common case, ids and amounts: no quoting
        return "{" + ",".join(map(str, values)) + "}"
    return "{" + ",".join([
        str(v) if isinstance(v, int) else "NULL" if v is None else
        '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]) + "}"
