"""Child processes the tests start in a process group of their own (servers, Celery workers):
killed at once as a crash would, or stopped gracefully with a deadline."""

from __future__ import annotations

import os
import signal
import subprocess

GRACE_S = 15


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the whole group, as a power cut or an OOM kill would: no cleanup, no ack."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def stop_group(proc: subprocess.Popen | None) -> None:
    """SIGTERM the group if it still runs; SIGKILL it if it has not exited within GRACE_S."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(GRACE_S)
    except subprocess.TimeoutExpired:
        kill_group(proc)
