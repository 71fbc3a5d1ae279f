"""The load generators' HTTP client (bench.checkin_load, bench.reads): aiohttp.

The generator plays hundreds of phones on the machine the server runs on, so every
millisecond of CPU it spends is taken from the server it measures. httpx's AsyncClient spent
about 2 ms of CPU a request here (11 s of the minute's 69 s in `bench.checkin_load`), aiohttp
a fraction of that (bench/README-checkins.md, "2026-12-07, afternoon"). One session keeps its
connections open, as phones keep theirs to a load balancer.
"""

from __future__ import annotations

import asyncio

import aiohttp

# What a request that failed without an answer counts as (its class name is the error's code).
ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


def session(base: str, connections: int, timeout_s: float = 30) -> aiohttp.ClientSession:
    """A client for `base` with at most `connections` open at once (made inside a running
    event loop; `await s.close()` after)."""
    return aiohttp.ClientSession(
        base_url=base, connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=timeout_s))


async def get(s: aiohttp.ClientSession, path: str, headers: dict | None = None
              ) -> tuple[int, bytes]:
    """(status, body) of a GET."""
    async with s.get(path, headers=headers) as r:
        return r.status, await r.read()


async def post_json(s: aiohttp.ClientSession, path: str, body: dict, headers: dict
                    ) -> tuple[int, bytes]:
    """(status, body) of a POST with a JSON body."""
    async with s.post(path, json=body, headers=headers) as r:
        return r.status, await r.read()
