"""structlog setup: JSON lines when stderr is not a terminal, readable console output when it is.

Context such as ``run_id`` and ``playbook`` is bound with :func:`bound` (contextvars), so every
line a run writes carries them, whichever module logs it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog


def configure(
    *, json: bool | None = None, level: str = "INFO", stream: TextIO | None = None
) -> None:
    """Configure structlog once per process; ``json=None`` decides from the stream's TTY."""
    out = stream or sys.stderr
    use_json = not out.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


@contextmanager
def bound(**context: Any) -> Iterator[None]:
    """Bind context (run_id, playbook, ...) to every log line inside the block."""
    with structlog.contextvars.bound_contextvars(**context):
        yield
