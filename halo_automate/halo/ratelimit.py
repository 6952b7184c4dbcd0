"""The request budget: a rolling window that mirrors Halo's rate limit, shared by every process.

Every request (the token request included) takes a slot with :meth:`RequestBudget.acquire`
before it is sent, and reports how long the request took with :meth:`RequestBudget.observed`.
A slot is held for one window *plus the slowest recent request*: Halo counts a request when it
arrives, which can be up to one request's latency after we sent it, so a window measured from
the send alone opens a little before Halo's does and earns a 429 at every window boundary.
When Halo still answers 429 (its window is smaller than we believe, or
another application shares it) :meth:`RequestBudget.back_off` pauses *every* caller, with a
wait that doubles per consecutive 429 up to one full window, unless Halo said Retry-After.

**One budget per instance, not per process (issue 12).** Halo's limit is per tenant: a
``run`` and an ``undo`` started together, or the daemon and a CLI command, spend from the same
window. A budget built with a :class:`SharedWindow` keeps its slots and its 429 pause there,
under the instance's key (``HaloSettings.identity``), so that every process using the same
journal sees them and their sum never exceeds the limit. The protocol is defined here and
implemented by the journal (``store.budget``; halo/ and store/ are siblings and never import
each other); the two are wired together where clients are built (the CLI's context, the
demo). The slots of a shared window are wall-clock times (``time.time``), since they are
compared across processes and outlive a reboot. Without a window the slots live in this
process only (tests, and a client nobody wired).

``rate_limit.share`` (default 0.8) is the part of Halo's limit this tool may use
(:func:`usable_requests`): the rest is left to the tenant's other integrations (RMM,
documentation, billing sync).

A wait longer than :data:`NOTICE_SECONDS` is reported, once a second, to ``on_wait`` (the CLI
shows it as a countdown on a terminal); :func:`estimate_seconds` is what a preview says an
apply will take at the budget as it is now.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from halo_automate.config import HaloSettings

Clock = Callable[[], float]
Sleep = Callable[[float], None]
OnWait = Callable[[float], None]
"""Told the seconds still to wait, about once a second during a long wait, then 0 at its end."""
Check = Callable[[], None]
"""Called before each step of a wait; whatever it raises ends the wait (a stop request)."""

NOTICE_SECONDS = 2.0
"""Waits longer than this are reported to ``on_wait``."""
_STEP_SECONDS = 1.0  # a reported or interruptible wait sleeps in steps of at most this
_MARGIN_SHARE = 0.1  # the latency margin is capped at this part of the window


@dataclass(frozen=True)
class WindowState:
    """A shared window as it is now: slots used in it, and until when a 429 pauses it."""

    used: int
    paused_until: float = 0.0


class SharedWindow(Protocol):
    """The slots of request budgets, kept where every process on the machine sees them.

    Times are seconds on the budget's clock (wall-clock seconds for a real window). ``key``
    names the budget (an instance's identity). A slot is held ``per_seconds`` plus the largest
    latency ``margin`` any process reported within two windows (each call reports the
    caller's), so one process's slow requests hold the slots of all. Every method is one
    short transaction.
    """

    def take(self, key: str, now: float, per_seconds: float, margin: float, limit: int) -> float:
        """Take a slot at ``now`` when no pause runs and fewer than ``limit`` slots are held,
        and return 0; else take nothing and return the seconds to wait."""
        ...

    def pause(self, key: str, until: float) -> None:
        """Pause every user of ``key`` until ``until`` (a 429); a longer pause is kept."""
        ...

    def state(self, key: str, now: float, per_seconds: float, margin: float) -> tuple[int, float]:
        """Slots held at ``now``, and until when a pause runs (0: none)."""
        ...


def usable_requests(requests: int, share: float) -> int:
    """The part ``share`` of Halo's limit ``requests`` this tool may use (at least one)."""
    return max(1, math.floor(requests * share + 1e-9))


def estimate_seconds(
    requests: int, limit: int, per_seconds: float, used: int = 0, paused: float = 0.0
) -> float:
    """About how long ``requests`` take at a budget of ``limit`` per ``per_seconds`` of which
    ``used`` slots are taken now (by any process) and that is paused ``paused`` more seconds:
    the free slots go at once, the rest at the window's pace."""
    if requests <= 0:
        return 0.0
    free = max(0, limit - used)
    beyond = max(0, requests - free)
    return max(0.0, paused) + beyond * per_seconds / max(limit, 1)


class RequestBudget:
    """Thread-safe rolling-window limiter: at most ``requests`` per ``per_seconds``, in this
    process or, with a :class:`SharedWindow`, across every process using that window."""

    def __init__(
        self,
        requests: int,
        per_seconds: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
        window: SharedWindow | None = None,
        key: str = "",
        on_wait: OnWait | None = None,
    ) -> None:
        if requests < 1 or per_seconds <= 0:
            raise ValueError("a request budget needs requests >= 1 and per_seconds > 0")
        self.requests = requests
        self.per_seconds = per_seconds
        self.window = window
        self.key = key
        self.on_wait = on_wait
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._consecutive_429 = 0
        self._latencies: deque[float] = deque(maxlen=64)
        self._margin = 0.0
        self._lock = threading.Lock()
        self.waited_seconds = 0.0

    @classmethod
    def for_instance(
        cls,
        settings: HaloSettings,
        *,
        window: SharedWindow | None = None,
        on_wait: OnWait | None = None,
        clock: Clock | None = None,
        sleep: Sleep = time.sleep,
    ) -> RequestBudget:
        """The budget of one Halo instance: ``rate_limit.share`` of its ``rate_limit``, kept
        in ``window`` under the instance's identity when given (then on the wall clock)."""
        limit = settings.rate_limit
        return cls(
            usable_requests(limit.requests, limit.share),
            limit.per_seconds,
            clock=clock or (time.time if window is not None else time.monotonic),
            sleep=sleep,
            window=window,
            key=settings.identity,
            on_wait=on_wait,
        )

    def __repr__(self) -> str:
        shared = ", shared" if self.window is not None else ""
        return f"RequestBudget({self.requests}/{self.per_seconds:g}s{shared})"

    @property
    def hold(self) -> float:
        """How long a slot is held: one window plus the latency margin."""
        return self.per_seconds + self._margin

    def _wait_needed(self, now: float) -> float:
        hold = self.hold
        while self._sent and self._sent[0] <= now - hold:
            self._sent.popleft()
        wait = self._paused_until - now
        if len(self._sent) >= self.requests:
            wait = max(wait, self._sent[0] + hold - now)
        return max(wait, 0.0)

    def _try_take(self, now: float) -> float:
        """Take a slot at ``now`` (0) or say how long to wait; under ``self._lock``."""
        if self.window is None:
            wait = self._wait_needed(now)
            if wait <= 0:
                self._sent.append(now)
            return wait
        local = self._paused_until - now
        if local > 0:
            return local
        wait = self.window.take(self.key, now, self.per_seconds, self._margin, self.requests)
        return max(0.0, wait)

    def observed(self, seconds: float) -> None:
        """Record one request's latency; slots are held that much longer than a window."""
        with self._lock:
            self._latencies.append(max(0.0, seconds))
            self._margin = min(max(self._latencies), self.per_seconds * _MARGIN_SHARE)

    def acquire(self, check: Check | None = None) -> float:
        """Block until a slot is free, take it, and return the seconds waited.

        ``check`` is called before each step of a wait (a wait with a check sleeps in steps
        of at most a second); whatever it raises ends the wait without taking a slot. A wait
        longer than :data:`NOTICE_SECONDS` is reported to ``on_wait`` as it counts down."""
        waited = 0.0
        noticed = False
        while True:
            with self._lock:
                now = self._clock()
                wait = self._try_take(now)
                if wait <= 0:
                    self.waited_seconds += waited
                    if noticed and self.on_wait is not None:
                        self.on_wait(0.0)
                    return waited
            if check is not None:
                check()
            step = wait
            if self.on_wait is not None and (noticed or wait > NOTICE_SECONDS):
                noticed = True
                self.on_wait(wait)
                step = min(step, _STEP_SECONDS)
            if check is not None:
                step = min(step, _STEP_SECONDS)
            self._sleep(step)
            waited += step

    def back_off(self, retry_after: float | None = None) -> float:
        """Pause all callers (of every process sharing the window) after a 429; return the
        pause length in seconds."""
        with self._lock:
            self._consecutive_429 += 1
            if retry_after is not None and retry_after >= 0:
                pause = retry_after
            else:
                base = self.per_seconds / 60.0
                pause = min(self.per_seconds, base * 2 ** (self._consecutive_429 - 1))
                pause *= self._rng.uniform(0.8, 1.2)
            until = self._clock() + pause
            self._paused_until = max(self._paused_until, until)
            if self.window is not None and pause > 0:
                self.window.pause(self.key, until)
            return pause

    def succeeded(self) -> None:
        """A request got through: reset the 429 back-off."""
        with self._lock:
            self._consecutive_429 = 0

    def now(self) -> WindowState:
        """The budget as it is now: slots used (by every process sharing the window) and the
        pause still to run, in seconds from now."""
        with self._lock:
            now = self._clock()
            if self.window is None:
                self._wait_needed(now)
                return WindowState(len(self._sent), max(0.0, self._paused_until - now))
            used, paused_until = self.window.state(self.key, now, self.per_seconds, self._margin)
            pause = max(self._paused_until, paused_until) - now
            return WindowState(used, max(0.0, pause))

    def in_window(self) -> int:
        """Requests sent in the current window (for metrics and tests)."""
        return self.now().used

    def estimate(self, requests: int) -> float:
        """About how long ``requests`` more take at the budget as it is now."""
        state = self.now()
        return estimate_seconds(
            requests, self.requests, self.per_seconds, state.used, state.paused_until
        )
