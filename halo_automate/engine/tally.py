"""One run's counters while it writes: the client's request figures (:class:`Meter`) and the
tickets done, failed, skipped and unreached (:class:`Tally`), which the run's outcome is
built from. Split from :mod:`halo_automate.engine.batches` to keep that module small.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from halo_automate.core.outcome import RunStatus
from halo_automate.halo.client import HaloClient

T = TypeVar("T")


@dataclass(frozen=True)
class Meter:
    """The client's counters and the clock when a run began: its requests (fetch and lookups
    included), 429s and seconds so far."""

    client: HaloClient
    before: Mapping[str, Any]
    started: float
    clock: Callable[[], float] = time.monotonic
    excluded: list[float] = field(default_factory=lambda: [0.0])
    """Seconds not counted as the run's (spent waiting for a person at the prompt)."""

    @classmethod
    def start(cls, client: HaloClient, clock: Callable[[], float] = time.monotonic) -> Meter:
        return cls(client, client.stats.snapshot(), clock(), clock)

    def figures(self) -> dict[str, Any]:
        after = self.client.stats.snapshot()
        return {
            "requests": after["requests"] - self.before["requests"],
            "rate_limited": after["rate_limited"] - self.before["rate_limited"],
            "seconds": self.clock() - self.started - self.excluded[0],
        }

    def excluding(self, call: Callable[[], T]) -> T:
        """``call()``, its time left out of the run's seconds (the confirmation prompt: a
        run's "N requests in T s" is the time it worked, not the time a person read)."""
        began = self.clock()
        try:
            return call()
        finally:
            self.excluded[0] += self.clock() - began


@dataclass
class Tally:
    """One run's tickets while it writes (an :class:`ApplyRun` turns it into the outcome)."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    unreached: int = 0
    """Tickets not started because a stop was requested."""
    failures: list[tuple[int, str]] = field(default_factory=list)
    skips: list[tuple[int, str]] = field(default_factory=list)

    def status(self, stopped: bool) -> RunStatus:
        if stopped and self.unreached:
            return RunStatus.INTERRUPTED
        return RunStatus.PARTIAL if self.failed or self.skipped else RunStatus.SUCCEEDED
