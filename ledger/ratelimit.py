"""Rate limits: fixed windows counted in Redis in production, in process memory in the embedded
default. A refusal says how long to wait (for the HTTP Retry-After header)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ledger.errors import DomainError

MAX_TRACKED_KEYS = 100_000  # memory backend: oldest windows are dropped past this


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    title = "Too many requests"


@dataclass(frozen=True)
class Limit:
    name: str
    max_hits: int
    window_s: int


class MemoryCounter:
    def __init__(self) -> None:
        self._hits: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, window_s: int, now: float) -> tuple[int, float]:
        """Count one hit; return (hits in the current window, seconds until it ends)."""
        with self._lock:
            count, ends = self._hits.get(key, (0, 0.0))
            if now >= ends:
                count, ends = 0, now + window_s
            count += 1
            self._hits[key] = (count, ends)
            if len(self._hits) > MAX_TRACKED_KEYS:
                for k in [k for k, (_, e) in self._hits.items() if e <= now][:MAX_TRACKED_KEYS // 10]:
                    del self._hits[k]
            return count, ends - now

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)


# Each key's hit counted, its window started by its first hit, and (hits, seconds left) for
# each: one command, run atomically by Redis (KEYS: the counters; ARGV: their windows in s).
_HIT_MANY = """
local out = {}
for i, key in ipairs(KEYS) do
  local hits = redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[i], 'NX')
  out[2 * i - 1] = hits
  out[2 * i] = redis.call('TTL', key)
end
return out
"""


class RedisCounter:
    def __init__(self, client) -> None:  # noqa: ANN001 - a redis.Redis
        self._r = client
        self._hit_many = client.register_script(_HIT_MANY)  # EVALSHA; loaded on first use

    def hit_many(self, keys: list[tuple[str, int]], now: float) -> list[tuple[int, float]]:
        """Count one hit on each (key, window) in one round trip."""
        out = self._hit_many(keys=[k for k, _ in keys], args=[w for _, w in keys])
        return [(int(out[i]), float(max(out[i + 1], 0))) for i in range(0, len(out), 2)]

    def reset(self, key: str) -> None:
        self._r.delete(key)


class RateLimiter:
    """`check(limit, subject)` raises RateLimited once `subject` passes the limit's window."""

    def __init__(self, redis_url: str | None = None, prefix: str = "jifen:rl:") -> None:
        self.prefix = prefix
        self._memory = MemoryCounter()
        self._redis = None
        if redis_url:
            import redis
            self._redis = RedisCounter(redis.Redis.from_url(redis_url, socket_timeout=0.2,
                                                            socket_connect_timeout=0.2))

    def _counter_hits(self, keys: list[tuple[str, int]]) -> list[tuple[int, float]]:
        now = time.monotonic()
        if self._redis is not None:
            try:
                return self._redis.hit_many(keys, now)
            except Exception:  # noqa: BLE001 - Redis down: degrade to this process's memory
                pass
        return [self._memory.hit(key, window_s, now) for key, window_s in keys]

    def check(self, limit: Limit, subject: str) -> None:
        self.check_all([(limit, subject)])

    def check_all(self, checks: list[tuple[Limit, str]]) -> None:
        """`check` of several (limit, subject) at once (one round trip to Redis): each is
        counted, and the first passed is refused."""
        hits = self._counter_hits([(f"{self.prefix}{limit.name}:{subject}", limit.window_s)
                                   for limit, subject in checks])
        for (limit, _), (count, wait_s) in zip(checks, hits, strict=True):
            if count > limit.max_hits:
                retry = max(1, int(wait_s + 0.999))
                raise RateLimited(f"too many {limit.name} requests; retry in {retry} s",
                                  retry_after=retry, limit=limit.max_hits,
                                  window_s=limit.window_s)

    def reset(self, limit: Limit, subject: str) -> None:
        key = f"{self.prefix}{limit.name}:{subject}"
        self._memory.reset(key)
        if self._redis is not None:
            try:
                self._redis.reset(key)
            except Exception:  # noqa: BLE001
                pass
