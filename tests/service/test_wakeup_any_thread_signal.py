"""A signal the kernel delivers to another thread than the main one still wakes the daemon's
main thread at once (``signal.set_wakeup_fd``): found as a SIGHUP that took a whole poll
interval under load, when the scheduler's or a request's thread received it."""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType

from halo_automate.service.wakeup import Wakeup


def test_a_signal_on_another_thread_wakes_the_main_thread_wait() -> None:
    handled: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        handled.append(signum)

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        with Wakeup() as wakeup, wakeup.woken_by_signals():

            def other_thread() -> None:
                time.sleep(0.2)
                signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)  # to THIS thread

            threading.Thread(target=other_thread, daemon=True).start()
            began = time.monotonic()
            woken = wakeup.wait(20)
            took = time.monotonic() - began
        assert woken and took < 5, took
        assert handled == [signal.SIGUSR1]
        assert signal.set_wakeup_fd(-1) == -1  # restored on leaving
    finally:
        signal.signal(signal.SIGUSR1, previous)
