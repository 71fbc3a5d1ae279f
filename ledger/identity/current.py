"""Each user's current state (active, token version, roles), as every signed-in request sees it.

A token names its user and the token version it was issued under; every request compares them
with this state, so disabling a user, revoking a role, resetting a password or signing out takes
effect on the next request. The state is read through a small cache: Redis in production (shared
by every process), this process's memory in the embedded default. Every change calls `forget`,
which bumps the user's generation counter after the change has committed; a cached state made
under an older generation is never served (so a reader that loaded the old row just before the
change cannot put it back). The TTL is only a safety net for a process that died between its
commit and its `forget`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine

from ledger.db import Database
from ledger.errors import DomainError
from ledger.stores import PerEngine
from ledger.identity.models import AppUser, RoleAssignment

log = structlog.get_logger("jifen.identity")

USER_STATE_TTL_S = 30  # safety net only: every change is seen on the next request
GENERATION_TTL_S = 7 * 24 * 3600  # far longer than a state lives
MAX_CACHED_USERS = 50_000  # memory store: cleared whole past this (a cache, nothing is lost)
REDIS_TIMEOUT_S = 0.2


class TokenRefused(DomainError):
    """A token whose signature holds but whose user no longer stands behind it."""

    code = "token_revoked"
    status = 401
    title = "Sign-in ended"


@dataclass(frozen=True)
class UserState:
    user_id: int
    name: str
    person_id: int | None
    active: bool
    token_version: int
    roles: tuple[tuple[str, int | None], ...]

    def to_json(self, generation: int) -> str:
        return json.dumps({"g": generation, "u": self.user_id, "n": self.name,
                           "p": self.person_id, "a": self.active, "v": self.token_version,
                           "r": [list(r) for r in self.roles]}, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> tuple[int, UserState]:
        d = json.loads(raw)
        return d["g"], cls(d["u"], d["n"], d["p"], d["a"], d["v"],
                           tuple((r, v) for r, v in d["r"]))


_STATE = (select(AppUser.id, AppUser.name, AppUser.person_id, AppUser.active,
                  AppUser.token_version, RoleAssignment.role, RoleAssignment.village_id)
          .outerjoin(RoleAssignment, RoleAssignment.user_id == AppUser.id)
          .where(AppUser.id == bindparam("user_id")).order_by(RoleAssignment.id))


def load(db: Database, user_id: int) -> UserState | None:
    """The user's state from the database (None: no such user): one statement, a row a role."""
    with db.engine.connect() as c:
        rows = c.execute(_STATE, {"user_id": user_id}).all()
    if not rows:
        return None
    u = rows[0]
    return UserState(u.id, u.name, u.person_id, bool(u.active), int(u.token_version or 0),
                     tuple((r.role, r.village_id) for r in rows if r.role is not None))


class MemoryStates:
    """The embedded default: one process, so a dict under a lock is the whole truth."""

    def __init__(self) -> None:
        self._states: dict[int, tuple[int, float, UserState]] = {}
        self._gens: dict[int, int] = {}
        self._lock = threading.Lock()

    def get(self, db: Database, user_id: int) -> UserState | None:
        now = time.monotonic()
        with self._lock:
            gen = self._gens.get(user_id, 0)
            hit = self._states.get(user_id)
        if hit is not None and hit[0] == gen and hit[1] > now:
            return hit[2]
        state = load(db, user_id)
        if state is not None:
            with self._lock:
                if len(self._states) >= MAX_CACHED_USERS:
                    self._states.clear()
                self._states[user_id] = (gen, now + USER_STATE_TTL_S, state)
        return state

    def forget(self, user_id: int) -> None:
        with self._lock:
            self._gens[user_id] = self._gens.get(user_id, 0) + 1
            self._states.pop(user_id, None)

    def forget_all(self) -> None:
        with self._lock:
            for user_id in list(self._states):
                self._gens[user_id] = self._gens.get(user_id, 0) + 1
            self._states.clear()


class RedisStates:
    """Production: every process reads the same keys, so a change made by one is seen by all."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis
        self._r = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S,
                                       socket_connect_timeout=REDIS_TIMEOUT_S)
        self.prefix = prefix

    def _keys(self, user_id: int) -> tuple[str, str]:
        return f"{self.prefix}g:{user_id}", f"{self.prefix}s:{user_id}"

    def get(self, db: Database, user_id: int) -> UserState | None:
        gen_key, state_key = self._keys(user_id)
        try:
            raw_gen, raw_state = self._r.mget(gen_key, state_key)
        except Exception as exc:  # noqa: BLE001 - Redis down: the database answers every time
            log.warning("user_state_cache_down", error=type(exc).__name__)
            return load(db, user_id)
        gen = int(raw_gen or 0)
        if raw_state is not None:
            cached_gen, state = UserState.from_json(raw_state)
            if cached_gen == gen:
                return state
        state = load(db, user_id)  # read after the generation: a later change bumps it
        if state is not None:
            try:
                self._r.set(state_key, state.to_json(gen), ex=USER_STATE_TTL_S)
            except Exception:  # noqa: BLE001
                pass
        return state

    def forget(self, user_id: int) -> None:
        gen_key, state_key = self._keys(user_id)
        try:
            pipe = self._r.pipeline(transaction=True)
            pipe.incr(gen_key)
            pipe.expire(gen_key, GENERATION_TTL_S)
            pipe.delete(state_key)
            pipe.execute()
        except Exception as exc:  # noqa: BLE001 - the change is committed; the TTL bounds it
            log.warning("user_state_forget_failed", user_id=user_id, error=type(exc).__name__,
                        stale_for_at_most_s=USER_STATE_TTL_S)

    def forget_all(self) -> None:
        for key in self._r.scan_iter(match=f"{self.prefix}s:*", count=1000):
            self.forget(int(key.decode().rsplit(":", 1)[1]))


_STORES = PerEngine("us", RedisStates, MemoryStates)


def configure(engine: Engine, redis_url: str | None) -> None:
    """Users' states of this database are cached in Redis (production) or this process."""
    _STORES.configure(engine, redis_url)


def _store(db: Database):
    return _STORES.of(db.engine)


def state_of(db: Database, user_id: int) -> UserState | None:
    return _store(db).get(db, user_id)


def forget(db: Database, user_id: int) -> None:
    """Call after a change to the user (roles, active, password, sign-out) has committed."""
    _store(db).forget(user_id)


def forget_all(db: Database) -> None:
    """Drop every cached state of this database: after a restore (user ids may be given out
    again), and between tests that empty the tables."""
    _store(db).forget_all()
