"""Tokens for tests and benchmarks: the user is written into the database first (id, name,
person, exactly the roles given), because every request reads the user's current state. The rows
are written directly, as fixtures: some tests hold roles the grant rules would refuse (a clerk
for the whole town), or in a village that does not exist (written with the foreign key checks
off, as the token alone used to claim it)."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from api.auth import Principal, issue_token
from ledger.db import Database
from ledger.identity import current
from ledger.identity.models import AppUser, RoleAssignment
from ledger.registry.models import Person, Village
from ledger.timeutil import utcnow


def ensure_user(db: Database, p: Principal) -> Principal:
    """Make the user exist as `p` says; the Principal back with its current token version."""
    now = utcnow()
    with db.transaction() as s:
        u = s.get(AppUser, p.user_id)
        ghost_person = p.person_id is not None and s.get(Person, p.person_id) is None
        if p.person_id is not None:
            s.execute(update(AppUser).where(AppUser.person_id == p.person_id,
                                            AppUser.id != p.user_id).values(person_id=None))
        person_id = None if ghost_person else p.person_id
        if u is None:
            u = AppUser(id=p.user_id, login=None, name=p.name or "test", created_at=now,
                        person_id=person_id)
            s.add(u)
        else:
            u.name, u.person_id = p.name or u.name, person_id
        s.flush()
        s.execute(delete(RoleAssignment).where(RoleAssignment.user_id == p.user_id))
        villages = set(s.scalars(select(Village.id)))
        missing = []
        for role, village_id in dict.fromkeys(p.roles):
            if village_id is None or village_id in villages:
                s.add(RoleAssignment(user_id=p.user_id, role=role, village_id=village_id,
                                     created_at=now))
            else:
                missing.append((role, village_id))
        version = int(u.token_version or 0)
    stmts = [("INSERT INTO role_assignment (user_id, role, village_id, created_at)"
              " VALUES (:u, :r, :v, :t)", {"u": p.user_id, "r": r, "v": v, "t": now})
             for r, v in missing]
    if ghost_person:
        stmts.append(("UPDATE app_user SET person_id = :p WHERE id = :u",
                      {"p": p.person_id, "u": p.user_id}))
    if stmts:
        _without_foreign_keys(db, stmts)
    current.forget(db, p.user_id)
    return Principal(p.user_id, p.name, p.roles, p.person_id, version, p.only)


def _without_foreign_keys(db: Database, stmts: list[tuple[str, dict]]) -> None:
    from sqlalchemy import text
    if db.engine.dialect.name == "sqlite":
        raw = db.engine.raw_connection()  # autocommit (isolation_level None): PRAGMA applies
        try:
            cur = raw.cursor()
            cur.execute("PRAGMA foreign_keys=OFF")
            for sql, params in stmts:
                cur.execute(sql, {k: (v.replace(tzinfo=None).isoformat(" ")
                                      if hasattr(v, "tzinfo") else v)
                                  for k, v in params.items()})
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            raw.close()
        return
    with db.engine.begin() as c:
        c.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for sql, params in stmts:
            c.execute(text(sql), {k: (v.replace(tzinfo=None) if hasattr(v, "tzinfo") else v)
                                  for k, v in params.items()})


def fresh_user_id(db: Database, counter) -> int:
    """The next id from `counter` that no user has (users made by the service take max+1)."""
    with db.sessions() as s:
        while True:
            uid = next(counter)
            if s.get(AppUser, uid) is None:
                return uid


def token_for(db: Database, settings, p: Principal) -> str:
    return issue_token(settings, ensure_user(db, p))


def bearer(db: Database, settings, p: Principal) -> dict:
    return {"Authorization": f"Bearer {token_for(db, settings, p)}"}
