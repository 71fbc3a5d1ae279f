"""Rate limits count per subject in a window and say when to retry; Redis when configured."""

from __future__ import annotations

import uuid

import pytest

from ledger.ratelimit import Limit, RateLimited, RateLimiter
from tests.conftest import REDIS_URL
from tests.test_workers_real import redis_url  # noqa: F401 - the fixture (CI: Redis or fail)


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


@pytest.mark.parametrize("backend", ["memory", "redis"] if REDIS_URL else ["memory"])
def test_several_limits_checked_at_once_count_each_and_refuse_the_one_passed(backend):
    limiter = RateLimiter(REDIS_URL if backend == "redis" else None,
                          prefix=f"jifen:test:{uuid.uuid4().hex}:")
    by_address = Limit("addr", max_hits=2, window_s=60)
    by_person = Limit("person", max_hits=5, window_s=30)
    limiter.check_all([(by_address, "10.0.0.1"), (by_person, "7")])
    limiter.check_all([(by_address, "10.0.0.1"), (by_person, "8")])
    with pytest.raises(RateLimited) as e:
        limiter.check_all([(by_address, "10.0.0.1"), (by_person, "9")])
    assert e.value.extra["limit"] == 2 and e.value.extra["window_s"] == 60
    limiter.check_all([(by_address, "10.0.0.2"), (by_person, "7")])  # person 7's second
    for _ in range(3):  # its third to fifth
        limiter.check(by_person, "7")
    with pytest.raises(RateLimited) as e:
        limiter.check_all([(by_address, "10.0.0.3"), (by_person, "7")])
    assert e.value.extra["limit"] == 5 and 1 <= e.value.extra["retry_after"] <= 30


def test_unreachable_redis_degrades_to_memory_limits():
    limiter = RateLimiter("redis://127.0.0.1:1/0")
    limit = Limit("scan", max_hits=1, window_s=60)
    limiter.check(limit, "x")
    with pytest.raises(RateLimited):
        limiter.check(limit, "x")


def test_redis_counts_each_key_once_and_its_window_starts_at_its_first_hit(
        redis_url):  # noqa: F811 - the fixture imported above
    import redis
    r = redis.Redis.from_url(redis_url)
    prefix = f"jifen:test:{uuid.uuid4().hex}:"
    limiter = RateLimiter(redis_url, prefix=prefix)
    limit = Limit("w", max_hits=10, window_s=40)
    r.script_flush()  # a Redis restarted since: the script is loaded again on its own
    before = r.info("commandstats")
    limiter.check_all([(limit, "a"), (Limit("v", max_hits=10, window_s=7), "a")])
    after = r.info("commandstats")
    assert after["cmdstat_incr"]["calls"] - before["cmdstat_incr"]["calls"] == 2
    r.expire(f"{prefix}w:a", 5)  # later hits never move the window's end
    limiter.check(limit, "a")
    assert 0 < r.ttl(f"{prefix}w:a") <= 5 and 0 < r.ttl(f"{prefix}v:a") <= 7
    assert int(r.get(f"{prefix}w:a")) == 2
