"""Prometheus metrics the domain reports (the API exposes them at /metrics).

With PROMETHEUS_MULTIPROC_DIR set (deploy/), every process on the box (API workers, Celery
worker and beat) writes its samples there and /metrics adds them up; gauges say how: the audit
result and the outbox lag are the most recent value any process measured."""

from ledger.config import load_env_file

load_env_file()  # prometheus_client reads PROMETHEUS_MULTIPROC_DIR at import: .env first

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
