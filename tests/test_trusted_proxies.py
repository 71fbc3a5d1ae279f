"""JIFEN_TRUSTED_PROXIES: `jifen serve` believes X-Forwarded-For only from the proxies named
(none by default; deploy/env.example names the box's own nginx); from anyone else the header is ignored, so a caller
cannot choose the address its per-address limits count under."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.procs import stop_group

ROOT = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("trusted, seen", [("127.0.0.1", "203.0.113.7"),
                                           ("10.9.9.9", "127.0.0.1")])
def test_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path, trusted, seen):
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env.update(PYTHONPATH=str(ROOT), JIFEN_DATA_DIR=str(tmp_path), JIFEN_TRUSTED_PROXIES=trusted,
               JIFEN_SECRET_KEY="p" * 43)
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1,
                              headers={"X-Forwarded-For": "203.0.113.7"})
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert r.status_code == 200
        time.sleep(0.3)
    finally:
        stop_group(proc)
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    assert [x["client"] for x in lines if x.get("route") == "/health"][-1] == seen
