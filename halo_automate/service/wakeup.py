"""The daemon main thread's alarm clock: sleep until woken or until a timeout.

:meth:`Daemon.serve <halo_automate.service.daemon.Daemon.serve>` sleeps here between its checks
of the stop and reload flags; :meth:`~halo_automate.service.daemon.Daemon.request_stop` and
:meth:`~halo_automate.service.daemon.Daemon.request_reload` (what SIGTERM, SIGINT and SIGHUP
call) set a flag and wake it, so a request takes effect at once, not at the next poll.

Why a socket pair and not a :class:`threading.Event`: the wake-up is also called from signal
handlers, which run in the main thread between two bytecodes, possibly while the main thread
holds the lock inside ``Event.wait``; ``Event.set`` would then wait for that lock forever. A
non-blocking ``send`` of one byte takes no lock, so it is safe in a handler and from any
thread (the self-pipe trick, as asyncio's ``call_soon_threadsafe`` does it).
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import threading
from collections.abc import Iterator
from types import TracebackType


class Wakeup:
    """``with wakeup:`` opens it; inside, :meth:`wait` returns early once :meth:`wake` is
    called (from any thread or a signal handler). Outside the block a wake is a no-op: the
    waiter checks its flags before it first waits, and stops waiting when it leaves."""

    def __init__(self) -> None:
        self._pair: tuple[socket.socket, socket.socket] | None = None

    def wake(self) -> None:
        """Wake the waiter; a wake before :meth:`wait` is not lost. Safe in a signal handler."""
        pair = self._pair
        if pair is not None:
            # BlockingIOError: the buffer is full, so a wake-up is already pending;
            # OSError: closed meanwhile, so nobody waits any more.
            with contextlib.suppress(OSError):
                pair[1].send(b"\0")

    def wait(self, timeout: float | None) -> bool:
        """Sleep until woken or for ``timeout`` seconds (None: until woken); True when woken.
        Every pending wake-up is consumed."""
        if self._pair is None:
            raise RuntimeError("Wakeup.wait outside its with block")
        receiver = self._pair[0]
        select.select([receiver], [], [], timeout)
        woken = False
        with contextlib.suppress(BlockingIOError):
            while receiver.recv(512):
                woken = True
        return woken

    @contextlib.contextmanager
    def woken_by_signals(self, enabled: bool = True) -> Iterator[None]:
        """While open, any signal with a Python handler wakes :meth:`wait`, whichever thread
        the kernel delivered it to (``signal.set_wakeup_fd`` on the sending socket).

        CPython runs Python handlers in the main thread only, once it executes bytecode
        again: a SIGHUP or SIGTERM delivered to another thread (the scheduler's, a request's)
        did not interrupt the main thread's ``select``, and took up to a whole poll interval.
        The C-level handler writes the signal's byte to the socket, so the ``select`` returns
        and the Python handler runs at once. Main thread only (elsewhere a no-op)."""
        pair = self._pair
        if not enabled or pair is None or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.set_wakeup_fd(pair[1].fileno(), warn_on_full_buffer=False)
        try:
            yield
        finally:
            signal.set_wakeup_fd(previous)

    def __enter__(self) -> Wakeup:
        pair = socket.socketpair()
        for sock in pair:
            sock.setblocking(False)
        self._pair = pair
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pair, self._pair = self._pair, None  # first: a later wake() finds nothing to send to
        if pair is not None:
            for sock in pair:
                sock.close()
