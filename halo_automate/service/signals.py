"""The service's signal handlers: SIGTERM/SIGINT ask it to stop, SIGHUP to reload.

Handlers run between two bytecodes of the main thread, so they only call the functions they
are given, which set flags and wake the daemon's main thread (one socket write, no lock). Only
the main thread can own signals: elsewhere nothing is installed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


def install_handlers(
    on_stop: Callable[[], None], on_reload: Callable[[], None]
) -> Callable[[], None] | None:
    """Install the handlers; return a function restoring the previous ones (None off the
    main thread, where nothing is installed)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum: int, _frame: object) -> None:
        on_stop()

    def reload(signum: int, _frame: object) -> None:
        on_reload()

    handlers = {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
