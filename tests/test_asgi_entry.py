"""The uvicorn entry point (api/asgi.py) leaves the objects its import built out of the
garbage collector's full collections, so none of them walks the whole app again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_importing_the_entry_point_freezes_what_it_built(tmp_path):
    env = {**os.environ, "JIFEN_DATABASE_URL": f"sqlite:///{tmp_path / 'j.db'}",
           "JIFEN_DATA_DIR": str(tmp_path), "JIFEN_SECRET_KEY": "t" * 43,
           "JIFEN_PUBLIC_URL": "http://127.0.0.1"}
    env.pop("JIFEN_REDIS_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", "import gc, api.asgi; print(gc.get_freeze_count(), "
         "len(gc.get_objects()))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    frozen, left = (int(x) for x in out.stdout.split()[-2:])
    assert frozen > 100_000 and left < frozen // 10  # the app's objects, not a few
