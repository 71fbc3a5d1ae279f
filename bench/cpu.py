"""Where a load test's CPU went: the seconds used by the server's process trees (uvicorn and
its workers, Celery's worker and beat), by a database's backends on the local PostgreSQL, and by
the load generator itself, between two readings of /proc (Linux, server on this host).

A process that exits between the readings takes its CPU with it; the benches' servers and
pooled connections live through a measured minute.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import psycopg

_TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, int]]:
    """pid → (parent pid, CPU ticks used: user + system)."""
    got = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        got[int(name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return got


def _tree_ticks(procs: dict[int, tuple[int, int]], roots: Iterable[int]) -> int:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    todo, total = list(roots), 0
    while todo:
        pid = todo.pop()
        total += procs.get(pid, (0, 0))[1]
        todo += children.get(pid, [])
    return total


class CpuUse:
    """`start()` then `stop()`: CPU seconds by group, each group a set of root pids (their
    descendants counted too) or, for the database, the backends connected to `dbname`."""

    def __init__(self, admin_url: str, dbname: str, groups: dict[str, list[int]]) -> None:
        self.url = admin_url.replace("postgresql+psycopg://", "postgresql://")
        self.dbname, self.groups = dbname, groups
        self.before: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self.wall = 0.0

    def _read(self) -> dict[str, int]:
        procs = _processes()
        with psycopg.connect(self.url, autocommit=True) as c:
            backends = [r[0] for r in c.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.dbname,))]
        got = {name: _tree_ticks(procs, roots) for name, roots in self.groups.items()}
        got["database"] = sum(procs.get(p, (0, 0))[1] for p in backends)
        got["load generator"] = procs.get(os.getpid(), (0, 0))[1]
        return got

    def start(self) -> None:
        self.before, self.wall = self._read(), time.monotonic()

    def stop(self) -> dict[str, float]:
        after = self._read()
        self.wall = time.monotonic() - self.wall
        self.seconds = {k: (v - self.before.get(k, 0)) / _TICK for k, v in after.items()}
        return self.seconds

    def line(self, per: int, what: str) -> str:
        """The seconds by group and the server's (all but the load generator) per `what`."""
        server = sum(v for k, v in self.seconds.items() if k != "load generator")
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        return (f"CPU over {self.wall:.0f} s: {parts}; the server's {server * 1e3 / per:.1f} ms "
                f"a {what} ({server / self.wall:.2f} cores)")
