"""Rate limits count per subject in a window and say when to retry; Redis when configured."""

from __future__ import annotations

import uuid

import pytest

from ledger.ratelimit import Limit, RateLimited, RateLimiter
from tests.conftest import REDIS_URL


@pytest.mark.parametrize("backend", ["memory", "redis"] if REDIS_URL else ["memory"])
def test_limit_refuses_past_max_with_retry_after_and_counts_per_subject(backend):
    limiter = RateLimiter(REDIS_URL if backend == "redis" else None,
                          prefix=f"jifen:test:{uuid.uuid4().hex}:")
    limit = Limit("scan", max_hits=3, window_s=60)
    for _ in range(3):
        limiter.check(limit, "alice")
    with pytest.raises(RateLimited) as e:
        limiter.check(limit, "alice")
    assert e.value.status == 429 and 1 <= e.value.extra["retry_after"] <= 60
    limiter.check(limit, "bob")  # another subject has its own window
    limiter.reset(limit, "alice")
    limiter.check(limit, "alice")


def test_unreachable_redis_degrades_to_memory_limits():
    limiter = RateLimiter("redis://127.0.0.1:1/0")
    limit = Limit("scan", max_hits=1, window_s=60)
    limiter.check(limit, "x")
    with pytest.raises(RateLimited):
        limiter.check(limit, "x")
