"""Prometheus metrics the domain reports (the API exposes them at /metrics).

With PROMETHEUS_MULTIPROC_DIR set (deploy/), every process on the box (API workers, Celery
worker and beat) writes its samples there and /metrics adds them up; gauges say how: the audit
result and the outbox lag are the most recent value any process measured. The gauges whose
truth lives in the database are measured by `ledger.ops.refresh_gauges`: this module only
defines the instruments, and imports nothing of the domain but its settings."""

from ledger.config import load_env_file, metrics_dir

load_env_file()  # prometheus_client reads PROMETHEUS_MULTIPROC_DIR at import: .env first
if metrics_dir() is not None:  # every process writes its samples there: it must exist
    metrics_dir().mkdir(parents=True, exist_ok=True)

from prometheus_client import Counter, Gauge, Histogram  # noqa: E402

POSTINGS = Counter("jifen_entries_posted_total", "Journal entries posted", ["unit", "kind"])
REFUSALS = Counter("jifen_refusals_total", "Domain refusals answered", ["code"])
REQUESTS = Counter("jifen_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("jifen_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
TASK_LAG = Gauge("jifen_outbox_oldest_pending_seconds",
                 "Age of the oldest task waiting in the outbox", multiprocess_mode="mostrecent")
AUDIT_OK = Gauge("jifen_audit_ok", "1 if the last ledger audit was clean, 0 if not",
                 multiprocess_mode="mostrecent")
SMS_SENT = Counter("jifen_sms_sent_total", "Sign-in codes the SMS provider accepted",
                   ["provider"])
SMS_FAILURES = Counter("jifen_sms_failures_total", "Failed SMS attempts (each try counts)",
                       ["provider", "code"])
BACKUP_LAST_OK = Gauge("jifen_backup_last_success_timestamp_seconds",
                       "When the last scheduled backup was written (Unix time)",
                       multiprocess_mode="mostrecent")
TASKS_RUN = Counter("jifen_tasks_total", "Celery tasks finished in the workers",
                    ["task", "state"])
AUDIT_CLEAN_AGE = Gauge("jifen_audit_last_clean_age_seconds",
                        "Seconds since the last clean ledger audit (-1: never)",
                        multiprocess_mode="mostrecent")
BUDGET_AVAILABLE = Gauge("jifen_budget_available_points",
                         "What each village can still award (sum of its budget shards)",
                         ["village_id"], multiprocess_mode="mostrecent")
GC_PAUSE = Histogram("jifen_gc_pause_seconds",
                     "Python garbage collections by generation: the time each stopped the "
                     "process (ledger/heap.py)", ["generation"],
                     buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
MAX_BUDGET_SERIES = 500  # villages reported; a town has dozens


def exposition(metrics_dir) -> tuple[bytes, str]:  # noqa: ANN001
    """The text for /metrics: this process's registry, or (multiprocess mode) every process
    that wrote into the shared directory."""
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
        multiprocess,
    )
    if metrics_dir is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def prune_dead_processes(metrics_dir) -> int:  # noqa: ANN001
    """Remove the sample files of processes that are gone (a restart leaves them behind):
    counters of the dead would otherwise be added in forever. Live processes keep theirs.
    Returns the number of files removed."""
    import os
    from pathlib import Path
    removed = 0
    if metrics_dir is None or not Path(metrics_dir).is_dir():
        return 0
    for path in Path(metrics_dir).glob("*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
            removed += 1
        except PermissionError:
            pass  # alive, another user's
    return removed
