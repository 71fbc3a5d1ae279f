"""Fixtures: a real database for every test (SQLite always; PostgreSQL when JIFEN_TEST_DB=postgres
or for tests marked `postgres`), an app client, and tokens for each role.

Each test gets a clean database with the whole schema: SQLite copies a template file; PostgreSQL
uses a database made for this test session and empties its tables between tests. The schema is
built from the models (plus the journal's triggers); tests/test_migrations.py proves that the
Alembic head builds the same schema on both backends.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ledger.config import Settings
from ledger.db import Database
from ledger.journal import ddl
from ledger.models import metadata

PG_ADMIN_URL = os.environ.get("JIFEN_TEST_PG_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ON_CI = bool(os.environ.get("CI"))
TEST_DB = os.environ.get("JIFEN_TEST_DB", "sqlite")


def _redis_of_this_process(url: str | None) -> str | None:
    """Under pytest-xdist every test process gets its own Redis database (db N, N-1, …), so the
    user-state cache and the rate limits of one process's scratch database never answer for
    another's. Subprocesses the tests start read the same variable."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker.startswith("gw"):
        return url
    base, _, number = url.rpartition("/")
    if not number.isdigit():
        return url
    mine = f"{base}/{(int(number) - int(worker[2:])) % 16}"
    os.environ["JIFEN_REDIS_URL"] = mine
    return mine


REDIS_URL = _redis_of_this_process(os.environ.get("JIFEN_REDIS_URL")) or None


def _pg_reachable() -> str | None:
    try:
        eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"


DEAD_ROWS_BEFORE_TRUNCATE = 200_000


class PgServer:
    """One scratch database per pytest process, dropped at the end."""

    def __init__(self) -> None:
        self.name = f"jifen_t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.name
        db = Database(self.url)
        build_schema(db)
        self.tables = list(metadata.tables)
        db.dispose()
        self._which_have_rows = " UNION ALL ".join(
            f"SELECT '{t}' WHERE EXISTS (SELECT FROM \"{t}\")" for t in self.tables)

    def clean(self, db: Database) -> None:
        """Empty every table and restart every id. Tests own this scratch database; replica
        mode lets the cleanup pass the journal's append-only triggers, which stay in force for
        everything the tests do. The tables a test wrote to are emptied with DELETE (a TRUNCATE
        of all of them takes about a second, before every test); once the deleted rows pile up
        (autovacuum is off on these machines) one TRUNCATE of everything clears them."""
        with db.engine.begin() as c:
            c.execute(text("SET LOCAL session_replication_role = replica"))
            dead = c.execute(text(
                "SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables")).scalar()
            if dead > DEAD_ROWS_BEFORE_TRUNCATE:
                c.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in self.tables)
                               + " RESTART IDENTITY CASCADE"))
                return
            written = list(c.execute(text(self._which_have_rows)).scalars())
            used = list(c.execute(text("SELECT sequencename FROM pg_sequences WHERE schemaname "
                                       "= 'public' AND last_value IS NOT NULL")).scalars())
            c.exec_driver_sql("; ".join([*(f'DELETE FROM "{t}"' for t in written),
                                         *(f'ALTER SEQUENCE "{q}" RESTART' for q in used)])
                              or "SELECT 1")

    def drop(self) -> None:
        with self.admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def build_schema(db: Database) -> None:
    metadata.create_all(db.engine)
    with db.engine.begin() as c:
        for stmt in ddl.statements(db.engine.dialect.name):
            c.exec_driver_sql(stmt)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    why = _pg_reachable()
    if why:
        if ON_CI:
            pytest.fail(f"PostgreSQL is required on CI and unreachable: {why}")
        pytest.skip(f"PostgreSQL unreachable ({why}); set up PostgreSQL to run this test")
    server = PgServer()
    yield server
    server.drop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    db = Database(f"sqlite:///{path}")
    build_schema(db)
    db.dispose()  # closing the last connection checkpoints the WAL into the file
    return path


def _sqlite_db(template: Path, tmp_path: Path) -> Database:
    path = tmp_path / "jifen.sqlite3"
    shutil.copy(template, path)
    return Database(f"sqlite:///{path}")


@pytest.fixture
def pg_db(pg_server: PgServer) -> Iterator[Database]:
    from ledger import readcache
    from ledger.identity import current
    db = Database(pg_server.url)
    pg_server.clean(db)
    current.forget_all(db)  # user ids start again at 1: no state cached for the last test's
    readcache.clear(db)  # ids and counts start again too: a page's version could repeat
    yield db
    db.dispose()


@pytest.fixture
def sqlite_db(sqlite_template, tmp_path) -> Iterator[Database]:
    """A SQLite database whatever this run's backend (for tests of SQLite's own path)."""
    database = _sqlite_db(sqlite_template, tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def db(request, sqlite_template, tmp_path) -> Iterator[Database]:
    """The database of this test run's backend (JIFEN_TEST_DB=sqlite|postgres)."""
    if TEST_DB == "postgres":
        database = request.getfixturevalue("pg_db")
        yield database
        return
    database = _sqlite_db(sqlite_template, tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def settings(db: Database, tmp_path) -> Settings:
    return Settings(database_url=db.url, redis_url=REDIS_URL, secret_key="t" * 43,
                    data_dir=tmp_path, public_base_url="http://testserver.local",
                    budget_shards=4)


_BUILT_APPS: dict[tuple, object] = {}


@pytest.fixture
def app(settings, db):
    """The app on this test's settings and database. Building its routes takes half a second,
    so one built app per test process is bound to each test's (api.app.bind: a fresh state)."""
    from api.app import bind, built_for, create_app
    from ledger.ratelimit import RateLimiter
    key = built_for(settings)
    if key not in _BUILT_APPS:
        _BUILT_APPS[key] = create_app(settings, db)
    app = _BUILT_APPS[key]
    # Each test counts its own attempts: in Redis the limits outlive a test, and tests of one
    # process send codes to the same phone numbers (three a phone in 15 minutes: the fourth is
    # refused).
    bind(app, settings, db, limiter=RateLimiter(settings.redis_url,
                                                prefix=f"jifen:rl:t{uuid.uuid4().hex[:12]}:"))
    return app


@pytest.fixture
def client(app):
    from litestar.testing import TestClient
    with TestClient(app, base_url="http://testserver.local") as c:
        yield c


@pytest.fixture
def auth(settings, db):
    """auth(role, village_id=None, user_id=…) → request headers carrying a token for it (the
    user is written into the database with exactly these roles: see tests/tokens.py)."""
    from api.auth import Principal
    from tests.tokens import fresh_user_id, token_for
    counter = iter(range(1000, 10**6))

    def make(*roles, village_id: int | None = None, user_id: int | None = None,
             person_id: int | None = None, key: str | None = None) -> dict:
        p = Principal(user_id=user_id or fresh_user_id(db, counter), name="test",
                      roles=tuple((r, village_id) for r in roles), person_id=person_id)
        headers = {"Authorization": f"Bearer {token_for(db, settings, p)}"}
        headers["Idempotency-Key"] = key or uuid.uuid4().hex
        return headers

    return make


def audit_clean(db: Database) -> dict:
    from ledger.journal import service
    report = service.audit(db)
    assert report["ok"], report["violations"]
    return report
