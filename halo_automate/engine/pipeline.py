"""Overlapping the write batches of one phase: at most ``width`` in flight, journal first.

A run's writes come in phases (ticket updates; every ticket's first action; its second
action; ...; removals) and the order *between* phases is what keeps a ticket consistent: a
ticket whose update failed gets none of its actions, a ticket's note is posted before its
close. *Within* a phase every batch is about different tickets (a ticket has one update and
one action at each position), so nothing in one batch depends on another: waiting for each
batch's round trip before journaling the next only costs time (one round trip per batch, the
gap between BENCHMARKS.md's write jobs and their time floor).

:func:`overlapped` keeps the journal discipline while overlapping them:

* **pending before send**: batches are produced, in order, by the caller's generator in the
  calling thread, which journals each one *pending* before it is handed out; only then is it
  given to a worker, which sends it and settles it (done, failed, skipped, read back) itself;
* **bounded**: at most ``width`` batches are journaled and not yet settled; the next batch is
  not even journaled before one of them finishes;
* **a barrier at the end of each phase**: :func:`overlapped` returns only when every batch
  it started is settled, so the next phase sees every failure of this one;
* **errors stop the phase**: once a batch raises (the lock was lost, the journal failed), no
  further batch is journaled or started, and the phase's :class:`Gate` closes: a batch in
  flight sends no further request (its sender checks :meth:`Gate.check` right before each
  request goes on the wire), so its rows stay pending for recovery to read back, as after a
  crash. Then the first error is raised. A stop request works as before: the producer checks
  it before journaling each batch.

Workers run in a copy of the caller's context (log lines keep ``run_id``/``playbook``; the
client's pre-send fence is set by the send itself, in the worker). Each request still takes
its slot from the client's shared request budget: overlapping only hides latency.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

_B = TypeVar("_B")


class _Halted(Exception):
    """Raised by :meth:`Gate.check` in a batch of a phase that already failed; never leaves
    :func:`overlapped` (the phase's first error does)."""


class Gate:
    """Open until a batch of the phase fails; then no request of the phase goes out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.error: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = error

    def then(self, hook: Callable[[], None]) -> Callable[[], None]:
        """A pre-send hook: :meth:`check`, then ``hook`` (the lock's heartbeat)."""

        def both() -> None:
            self.check()
            hook()

        return both

    def check(self) -> None:
        """Right before a request goes on the wire: raise if the phase has failed."""
        if self.error is not None:
            raise _Halted


def overlapped(
    batches: Iterable[_B], send: Callable[[_B], None], width: int, gate: Gate | None = None
) -> None:
    """``send`` each batch of ``batches``, at most ``width`` at a time (see the module).

    ``batches`` is advanced (and so journals its next batch) only in the calling thread and
    only while fewer than ``width`` batches are unsettled and none has failed. ``send``
    should call ``gate.check()`` right before each request it sends."""
    gate = gate or Gate()
    if width <= 1:
        for batch in batches:
            send(batch)
        return

    def guarded(batch: _B) -> None:
        try:
            gate.check()
            send(batch)
        except _Halted:
            return  # its rows stay pending: read back by recovery
        except BaseException as e:
            gate.fail(e)
            raise

    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="halo-write") as pool:
        running: set[Future[None]] = set()
        try:
            for batch in batches:
                running.add(pool.submit(contextvars.copy_context().run, guarded, batch))
                if _settle(running, width - 1) is not None:
                    break
        finally:
            _settle(running, 0)
        if gate.error is not None:
            raise gate.error


def _settle(running: set[Future[None]], keep: int) -> BaseException | None:
    """Wait until at most ``keep`` futures run (each finished one removed), or until one
    failed; the first error seen, if any. With ``keep=0`` it waits for all of them."""
    error: BaseException | None = None
    while running:
        done = {f for f in running if f.done()}
        for future in done:
            running.discard(future)
            exc = future.exception()
            if exc is not None and error is None:
                error = exc
        if keep > 0 and (error is not None or len(running) <= keep):
            return error
        if keep == 0 and not running:
            return error
        if running:
            wait(running, return_when=FIRST_COMPLETED)
    return error
