"""A stop request reaching the requests of a run that has not written anything yet.

The daemon's stop (SIGTERM, SIGINT) used to reach a run only between write batches: a run
still reading pages went on reading (and waiting for the request budget) until the stop
timeout expired (issue 12, case 6). Within :func:`stop_when`, every request of the thread
(and of the reads it fans out: ``halo.paging`` copies the context) first asks ``stopped()``;
when it says yes, :class:`~halo_automate.errors.StoppedError` is raised instead of sending,
and a wait for the request budget is cut short within a second. Only reads run under it
(the runner's planning): a stop never cuts a write batch or its read-back short; those finish
and are journaled, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from halo_automate.errors import StoppedError

_STOPPED: ContextVar[Callable[[], bool] | None] = ContextVar("stopped", default=None)

STOPPED_MESSAGE = "stopped while reading and planning (SIGTERM/SIGINT); nothing was written"


@contextmanager
def stop_when(stopped: Callable[[], bool]) -> Iterator[None]:
    """Within the block, no request of this context starts once ``stopped()`` is true."""
    token = _STOPPED.set(stopped)
    try:
        yield
    finally:
        _STOPPED.reset(token)


def stop_check() -> Callable[[], None] | None:
    """The check a request makes before it is sent and while it waits for the budget: raises
    StoppedError once a stop was requested; None outside :func:`stop_when`."""
    stopped = _STOPPED.get()
    if stopped is None:
        return None

    def check() -> None:
        if stopped():
            raise StoppedError(STOPPED_MESSAGE)

    return check
