"""structlog set-up shared by every aifarm process."""

from __future__ import annotations

import logging
import sys

import structlog

LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def configure_logging(level: str, *, json_logs: bool = False) -> None:
    numeric = logging.DEBUG if level in ("debug", "trace") else getattr(logging, level.upper())
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
