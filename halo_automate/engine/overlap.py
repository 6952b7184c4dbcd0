"""Parts of a run that need not wait for each other, run side by side (issue 15).

A run's steps are a chain (token, lookups, pages, plan, stale check, writes), but a few links
do not depend on the one before: a select that names nothing (``open_only: true``) builds its
query without the lookup lists, so the first page can be read while they are; the instance
facts a run journals need nothing of its stale check. :class:`Beside` runs such a part in its
own thread while the caller goes on, in a copy of the caller's context (log fields, the stop
check, the pre-send fence), and :meth:`Beside.result` joins it: its value, or its error.
Requests still share the client's width (:mod:`halo_automate.halo.inflight`) and budget.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

_T = TypeVar("_T")


class Beside(Generic[_T]):
    """``work()`` started now in a thread of its own; :meth:`result` waits for it."""

    def __init__(self, work: Callable[[], _T], name: str = "halo-beside") -> None:
        self._value: _T | None = None
        self._error: BaseException | None = None
        context = contextvars.copy_context()

        def run() -> None:
            try:
                self._value = context.run(work)
            except BaseException as e:  # handed to the caller by result()
                self._error = e

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    def join(self) -> None:
        """Wait for the work to end (its error, if any, is kept for :meth:`result`)."""
        self._thread.join()

    def result(self) -> _T:
        """The work's value, once it ended; its error, raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def started(rows: Iterable[_T]) -> Iterator[_T]:
    """``rows`` with their first row already read (a streamed read's first page is requested
    now, not when the planner first asks), the same rows in the same order."""
    rest = iter(rows)
    return itertools.chain(list(itertools.islice(rest, 1)), rest)
