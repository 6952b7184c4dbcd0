"""structlog setup: JSON lines when stderr is not a terminal, readable console output when it is.

Context such as ``run_id`` and ``playbook`` is bound with :func:`bound` (contextvars), so every
line a run writes carries them, whichever module logs it. Warnings from libraries that log
through the standard library (APScheduler: a missed run, a run skipped because the previous
one is still going) are rendered the same way, so a service under systemd writes one JSON
object per line to the journal.

Every value passes :func:`~halo_automate.sanitize.clean_value` before rendering
(:func:`sanitise`): a log line may quote ticket text, whose ANSI escapes would reach a terminal
and whose lone surrogates would make the write to stderr raise.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

from halo_automate.sanitize import clean_value

STDLIB_LOGGERS = ("apscheduler",)
"""Library loggers routed through structlog's renderer (at WARNING and above)."""


def sanitise(logger: Any, method: str, event_dict: Any) -> Any:
    """structlog processor: neutralise control escapes and lone surrogates in every value."""
    return {str(clean_value(k)): clean_value(v) for k, v in event_dict.items()}


def configure(
    *, json: bool | None = None, level: str = "INFO", stream: TextIO | None = None
) -> None:
    """Configure structlog once per process; ``json=None`` decides from the stream's TTY."""
    out = stream or sys.stderr
    tty = is_terminal(out)
    use_json = not tty if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=tty)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, sanitise, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(out, shared, renderer)


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal; a stream without ``isatty`` or a closed one is not."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure` installs (recognised and replaced on reconfiguration)."""


def _route_stdlib(out: TextIO, shared: list[Any], renderer: Any) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            sanitise,
            renderer,
        ],
    )
    handler = _Handler(out)
    handler.setFormatter(formatter)
    for name in STDLIB_LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, _Handler)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False


@contextmanager
def bound(**context: Any) -> Iterator[None]:
    """Bind context (run_id, playbook, ...) to every log line inside the block."""
    with structlog.contextvars.bound_contextvars(**context):
        yield
