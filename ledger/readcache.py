"""Answers read far more often than they change (the public door plate, the village ranking),
kept under a version token: Redis in production (shared by every process), this process's
memory in the embedded default.

A caller reads the version first (one cheap statement, ledger/recognition/freshness.py), then
asks for the value kept under that exact version; on a miss it builds the value and puts it
under the version it read *before* building. So a kept value is never older than its version
says: a change that commits after the version was read moves the version, and the next reader
misses. The TTL bounds what no version can see (time passing: a state of standing expiring);
Redis down means every request builds its answer, as without a cache.
"""

from __future__ import annotations

import threading
import time

import structlog
from sqlalchemy.engine import Engine

from ledger.db import Database
from ledger.stores import PerEngine

log = structlog.get_logger("jifen.readcache")

TTL_S = 60  # what no version sees (time passing) shows at most this late
MAX_ENTRIES = 20_000  # memory store: cleared whole past this (a cache, nothing is lost)
MAX_VALUE_BYTES = 512 * 1024  # a larger answer is built every time rather than kept
REDIS_TIMEOUT_S = 0.2
SEP = b"\x00"  # version, then the value (a version never holds a NUL)


class MemoryStore:
    """The embedded default: one process, a dict under a lock."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, float, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, version: str) -> bytes | None:
        with self._lock:
            hit = self._items.get(key)
        if hit is None or hit[0] != version or hit[1] <= time.monotonic():
            return None
        return hit[2]

    def put(self, key: str, version: str, value: bytes) -> None:
        with self._lock:
            if len(self._items) >= MAX_ENTRIES:
                self._items.clear()
            self._items[key] = (version, time.monotonic() + TTL_S, value)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class RedisStore:
    """Production: one value per key, its version in front of it, expiring after TTL_S."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis
        self._r = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S,
                                       socket_connect_timeout=REDIS_TIMEOUT_S)
        self.prefix = prefix

    def get(self, key: str, version: str) -> bytes | None:
        try:
            raw = self._r.get(self.prefix + key)
        except Exception as exc:  # noqa: BLE001 - Redis down: the database answers every time
            log.warning("read_cache_down", error=type(exc).__name__)
            return None
        if raw is None:
            return None
        kept, _, value = raw.partition(SEP)
        return value if kept == version.encode() else None

    def put(self, key: str, version: str, value: bytes) -> None:
        try:
            self._r.set(self.prefix + key, version.encode() + SEP + value, ex=TTL_S)
        except Exception as exc:  # noqa: BLE001
            log.warning("read_cache_down", error=type(exc).__name__)

    def clear(self) -> None:
        for key in self._r.scan_iter(match=f"{self.prefix}*", count=1000):
            self._r.delete(key)


_STORES = PerEngine("rc", RedisStore, MemoryStore)


def configure(engine: Engine, redis_url: str | None) -> None:
    """This database's answers are kept in Redis (production) or this process."""
    _STORES.configure(engine, redis_url)


def _store(db: Database):
    return _STORES.of(db.engine)


def get(db: Database, key: str, version: str) -> bytes | None:
    """The value kept under `key` at exactly `version`, else None."""
    if SEP.decode() in version:
        raise AssertionError("a version holds no NUL")
    return _store(db).get(key, version)


def put(db: Database, key: str, version: str, value: bytes) -> None:
    """Keep `value` under `key` at `version` (the version read before building it)."""
    if SEP.decode() in version:
        raise AssertionError("a version holds no NUL")
    if len(value) <= MAX_VALUE_BYTES:
        _store(db).put(key, version, value)


def clear(db: Database) -> None:
    """Forget every kept answer of this database (after a restore; between tests)."""
    _store(db).clear()
