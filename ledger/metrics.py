"""Prometheus metrics the domain reports (the API exposes them at /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

POSTINGS = Counter("jifen_entries_posted_total", "Journal entries posted", ["unit", "kind"])
REFUSALS = Counter("jifen_refusals_total", "Domain refusals answered", ["code"])
REQUESTS = Counter("jifen_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("jifen_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
TASK_LAG = Gauge("jifen_outbox_oldest_pending_seconds",
                 "Age of the oldest task waiting in the outbox")
AUDIT_OK = Gauge("jifen_audit_ok", "1 if the last ledger audit was clean, 0 if not")
