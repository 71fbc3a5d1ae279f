"""Driver-level execution for the journal's hot statements.

Every award runs a handful of statements; built and compiled by SQLAlchemy on each call they
cost more client CPU than the database spends on them (docs/ledger.md, "measurements"). Here
each statement is a fixed text per backend, sent on the session's own DBAPI connection (so it
is part of the session's transaction); psycopg prepares it server-side after a few uses.
Parameters are written `:name` and converted to psycopg's `%(name)s` once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DateTime on SQLite


@dataclass(frozen=True)
class Sql:
    """One statement in both dialects; `pg` defaults to `sqlite` with psycopg placeholders."""

    sqlite: str
    pg: str

    @classmethod
    def of(cls, sqlite: str, pg: str | None = None) -> Sql:
        return cls(sqlite, _PARAM.sub(r"%(\1)s", pg if pg is not None else sqlite))


_CURSOR = "jifen_cursor"
_RAW = "journal_raw"


class Raw:
    """The session's DBAPI connection inside its current transaction."""

    __slots__ = ("conn", "cur", "pg")

    def __init__(self, session: Session) -> None:
        if session.new or session.dirty or session.deleted:
            session.flush()  # raw statements bypass autoflush; keep the ORM's writes first
        txn = session.get_transaction()
        cached = session.info.get(_RAW)
        if txn is not None and cached is not None and cached[0] is txn:
            self.pg, self.conn, self.cur = cached[1]
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
        # The same connection serves the rest of this transaction: remember it for it.
        session.info[_RAW] = (session.get_transaction(), (self.pg, self.conn, self.cur))

    def execute(self, sql: Sql, params: dict | None = None):
        if self.pg:
            return self.cur.execute(sql.pg, params, prepare=True)
        return self.cur.execute(sql.sqlite, params or {})

    def first(self, sql: Sql, params: dict | None = None):
        return self.execute(sql, params).fetchone()

    def all(self, sql: Sql, params: dict | None = None) -> list:
        return self.execute(sql, params).fetchall()

    def time(self, value: datetime) -> Any:
        """A UTC instant as the UTCDateTime column stores it (naive UTC)."""
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive if self.pg else naive.strftime(_SQLITE_TIME)

    def json_out(self, value: Any) -> Any:
        """A JSON column read back: psycopg parses it, SQLite gives the text."""
        if self.pg or value is None or not isinstance(value, str):
            return value
        return json.loads(value)


def dumps(value: Any) -> str:
    """JSON text as SQLAlchemy's JSON type writes it."""
    return json.dumps(value)


def pg_array(values) -> str:  # noqa: ANN001 - ints or strings
    """A PostgreSQL array literal (`'{1,2,3}'`, cast in the statement: `%(ids)s::bigint[]`):
    one text parameter the server parses, where psycopg's array adapter spends several µs of
    client CPU on each element (measured: 2.4 s for a history's 27,000 accounts)."""
    return "{" + ",".join(
        str(v) if isinstance(v, int) else
        '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"
