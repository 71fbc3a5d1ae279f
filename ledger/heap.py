"""A server process's long-lived objects set aside from the cyclic garbage collector once it
has started (`settle`).

An API process holds about 220,000 objects once its app is built (modules, routes, schemas,
templates, mappers). Python's full collection walks every one of them, and it stops the whole
process while it does: on this project's 2-core host that took 230-500 ms (2026-12-07), which
every request in flight waited out. `gc.freeze()` moves what exists to a permanent generation
that collections skip; what the process makes later is collected as before. Long-lived by
construction, the frozen objects were never garbage anyway.

What a process accumulates after that is collected as usual; `settle` also has every
collection timed into the `jifen_gc_pause_seconds` histogram (by generation, at /metrics),
and a pause of LONG_PAUSE_S or more logged, so a long-running process whose collections grow
shows it (the pauses were measured for minutes only, 2026-12-07: 20-33 ms).
"""

from __future__ import annotations

import gc
import time

import structlog

from ledger.metrics import GC_PAUSE

LONG_PAUSE_S = 0.1  # a collection this long is logged too

log = structlog.get_logger("jifen.heap")
_started: list[float] = []  # the running collection's start (one at a time per process)


def settle() -> None:
    """Collect what startup left behind, then freeze the rest (call once the process has
    built what it keeps: after the app's startup, after a worker's fork); from then on every
    collection is timed (`_timed`)."""
    gc.collect()
    gc.freeze()
    if _timed not in gc.callbacks:  # once a process (a forked child inherits the list)
        gc.callbacks.append(_timed)


def _timed(phase: str, info: dict) -> None:
    if phase == "start":
        _started[:] = [time.perf_counter()]
        return
    if not _started:
        return
    took = time.perf_counter() - _started.pop()
    GC_PAUSE.labels(str(info["generation"])).observe(took)
    if took >= LONG_PAUSE_S:
        log.warning("gc_pause", generation=info["generation"], ms=round(took * 1e3, 1),
                    collected=info["collected"], tracked=len(gc.get_objects(2)))
