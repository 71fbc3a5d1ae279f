"""A served process does at startup what it would otherwise do during its first requests
(api/asgi.py): compiles the page templates, configures the ORM's mappers, and sets its startup
heap aside from the cyclic collector (ledger/heap.py): a full collection then walks what was
made since, not the whole app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import gc, time
from litestar.testing import TestClient
import api.asgi
from api.pages import TEMPLATES
from ledger.db import Base
before = gc.get_freeze_count()
with TestClient(api.asgi.app) as client:  # started: no page asked yet
    compiled = len(api.asgi.app.template_engine.engine.cache)
    unconfigured = sum(not m.configured for m in Base.registry.mappers)
    assert client.get("/health").status_code == 200
    frozen = gc.get_freeze_count()
    t0 = time.process_time(); gc.collect(); walk_ms = (time.process_time() - t0) * 1e3
print(before, frozen, len(gc.get_objects()), round(walk_ms, 1), compiled,
      len(list(TEMPLATES.rglob("*.html"))), unconfigured)
"""


def test_the_served_app_compiles_configures_and_freezes_at_startup(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, timeout=120,
                         env={**env, "JIFEN_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    before, frozen, tracked, _walk_ms, compiled, templates, unconfigured = out.stdout.split()
    assert int(compiled) == int(templates) > 60 and int(unconfigured) == 0
    assert int(before) == 0 and int(frozen) > 100_000  # the app, its routes, templates, models
    assert int(tracked) < int(frozen) // 4  # what a full collection still walks


def test_a_settled_process_times_its_collections_into_the_metrics():
    """Every collection after `settle` lands in jifen_gc_pause_seconds (by generation), once
    however often `settle` runs (a forked worker settles again)."""
    import gc

    from prometheus_client import REGISTRY
    from structlog.testing import capture_logs

    from ledger import heap
    long_pause = heap.LONG_PAUSE_S

    def count(gen: str) -> float:
        return REGISTRY.get_sample_value("jifen_gc_pause_seconds_count",
                                         {"generation": gen}) or 0.0

    before = count("2")
    try:
        heap.settle()
        heap.settle()
        assert gc.callbacks.count(heap._timed) == 1
        gc.collect()
        assert count("2") >= before + 1
        heap.LONG_PAUSE_S = 0.0  # every collection is "long": each is logged too
        with capture_logs() as logs:
            gc.collect()
        assert [e["event"] for e in logs] == ["gc_pause"] and logs[0]["generation"] == 2
    finally:
        heap.LONG_PAUSE_S = long_pause
        gc.unfreeze()
        if heap._timed in gc.callbacks:
            gc.callbacks.remove(heap._timed)
