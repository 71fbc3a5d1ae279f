"""A server process's long-lived objects set aside from the cyclic garbage collector once it
has started (`settle`).

An API process holds about 220,000 objects once its app is built (modules, routes, schemas,
templates, mappers). Python's full collection walks every one of them, and it stops the whole
process while it does: on this project's 2-core host that took 230-500 ms (2026-12-07), which
every request in flight waited out. `gc.freeze()` moves what exists to a permanent generation
that collections skip; what the process makes later is collected as before. Long-lived by
construction, the frozen objects were never garbage anyway.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect what startup left behind, then freeze the rest (call once the process has
    built what it keeps: after the app's startup, after a worker's fork)."""
    gc.collect()
    gc.freeze()
