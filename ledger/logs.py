"""One logging set-up for every process (the API, the `jifen` command, Celery worker and beat):
JSON lines on stderr through structlog, stdlib `logging` records included, with the bound
context (request_id above all) in every line. No secrets are ever logged."""

from __future__ import annotations

import logging
import sys

import structlog

_HANDLER_MARK = "_jifen_json"


class _Stderr:
    """Whatever sys.stderr is at the moment of writing (a logger caches its file on first use;
    this keeps a redirected or captured stderr receiving the lines)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _StderrStream(logging.StreamHandler):
    @property
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


def _shared() -> list:
    return [structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True)]


def configure_logging(level: int = logging.INFO) -> None:
    """Idempotent: structlog loggers render JSON; stdlib records (Celery, uvicorn, our
    `logging.getLogger("jifen.…")` modules) go through the same renderer."""
    structlog.configure(
        processors=[*_shared(), structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(ensure_ascii=False)],
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    root.setLevel(level)
    if any(getattr(h, _HANDLER_MARK, False) for h in root.handlers):
        return
    handler = _StderrStream()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared(), structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(ensure_ascii=False)]))
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
