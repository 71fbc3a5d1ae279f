"""Settings: one reader of the environment (ledger/config.py), a `.env` file read by `jifen`
and by the Celery processes alike (the real environment wins), and the time zone everywhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent


def _run(code_or_args: list[str], cwd: Path, **env) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    out = subprocess.run(code_or_args, cwd=cwd, capture_output=True, text=True, timeout=60,
                         env={**clean, "PYTHONPATH": str(ROOT), **env})
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_only_ledger_config_reads_the_environment():
    offenders = []
    for folder in ("ledger", "api", "workers"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "ledger" / "config.py":
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(r"os\.environ|os\.getenv|getenv\(", line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_jifen_reads_dotenv_and_the_environment_wins(tmp_path):
    (tmp_path / ".env").write_text(
        f"JIFEN_DATA_DIR={tmp_path / 'var'}\nJIFEN_TRUSTED_PROXIES=10.1.2.3\n"
        "JIFEN_CELERY_QUEUE=from-dotenv\nJIFEN_SMS_SIGN_NAME=宝盖镇积分\n"
        "JIFEN_BACKUP_KEEP_DAYS=30\n", encoding="utf-8")
    shown = json.loads(_run([sys.executable, "-m", "api.cli", "settings"], tmp_path,
                            JIFEN_BACKUP_KEEP_DAYS="7"))
    assert shown["env_file"] == str(tmp_path / ".env")
    assert shown["trusted_proxies"] == ["10.1.2.3"] and shown["celery_queue"] == "from-dotenv"
    assert shown["sms"]["sign_name"] == "宝盖镇积分"
    assert shown["backup_keep_days"] == 7  # the real environment wins over .env
    assert shown["secret_key"] == "***"


def test_celery_app_reads_the_same_dotenv(tmp_path):
    (tmp_path / ".env").write_text("JIFEN_CELERY_QUEUE=from-dotenv\n"
                                   "JIFEN_REDIS_URL=redis://127.0.0.1:6379/7\n")
    out = _run([sys.executable, "-c", "from workers.celery_app import app, QUEUE; "
                "print(QUEUE, app.conf.broker_url)"], tmp_path)
    assert out.split() == ["from-dotenv", "redis://127.0.0.1:6379/7"]


def test_env_file_can_be_named(tmp_path):
    named = tmp_path / "jifen.env"
    named.write_text("JIFEN_CELERY_QUEUE=named\n")
    out = _run([sys.executable, "-c", "from workers.celery_app import QUEUE; print(QUEUE)"],
               ROOT, JIFEN_ENV_FILE=str(named))
    assert out.strip() == "named"


def test_the_town_time_zone_exists():
    from datetime import datetime
    assert ZoneInfo("Asia/Shanghai").utcoffset(datetime(2026, 1, 1)).total_seconds() == 8 * 3600
    import tzdata  # noqa: F401 - shipped as a dependency, so no system zone files are needed


def test_background_work_yields_the_cores_and_a_niceness_out_of_range_is_refused(
        tmp_path, monkeypatch):
    """JIFEN_WORKER_NICE: the worker's and beat's niceness, raised at start, never lowered."""
    import pytest

    from ledger.config import load_settings
    code = ("import os; from workers.celery_app import yield_cpu; "
            "print(yield_cpu(7), yield_cpu(3), os.getpriority(os.PRIO_PROCESS, 0))")
    assert _run([sys.executable, "-c", code], tmp_path).split() == [str(max(7, os.nice(0)))] * 3
    for bad in ("-1", "20"):
        monkeypatch.setenv("JIFEN_WORKER_NICE", bad)
        with pytest.raises(ValueError, match="JIFEN_WORKER_NICE"):
            load_settings()
