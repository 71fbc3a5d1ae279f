"""One store per database engine, in Redis (production, `JIFEN_REDIS_URL`) or this process
(embedded): the users' current states (identity/current.py), the rankings
(recognition/leaderboards.py) and the public pages' read cache (readcache.py) each keep one.
A store is made when the app configures the engine, or on first use from the same variable
Settings reads (the CLI, tests). `prefix` namespaces keys by database, so two databases in one
Redis never share a key."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy.engine import Engine

from ledger.config import env

T = TypeVar("T")


class PerEngine(Generic[T]):
    def __init__(self, tag: str, in_redis: Callable[[str, str], T],
                 in_memory: Callable[[], T]) -> None:
        self.tag = tag
        self._in_redis, self._in_memory = in_redis, in_memory
        self._stores: weakref.WeakKeyDictionary[Engine, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def prefix(self, engine: Engine) -> str:
        """`jifen:<tag>:<host>:<port>:<database>:` (a SQLite file's path as its database)."""
        url = engine.url
        return f"jifen:{self.tag}:{url.host or ''}:{url.port or ''}:{url.database or 'db'}:"

    def _make(self, engine: Engine, redis_url: str | None) -> T:
        return self._in_redis(redis_url, self.prefix(engine)) if redis_url else self._in_memory()

    def configure(self, engine: Engine, redis_url: str | None) -> None:
        with self._lock:
            self._stores[engine] = self._make(engine, redis_url)

    def of(self, engine: Engine) -> T:
        with self._lock:
            store = self._stores.get(engine)
            if store is None:
                store = self._stores[engine] = self._make(engine, env("JIFEN_REDIS_URL"))
        return store
