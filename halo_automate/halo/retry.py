"""What to do after one answer from Halo: the retry policy as a pure decision, and its test switch.

:func:`decide` is the whole retry policy in one pure function. It is told whether the request
is a write, what came back (an HTTP status, or the kind of :class:`Failure` on the wire) and
how often this request has already been retried, and answers one of three things: the response
is final (:class:`Done`), try again after a pause (:class:`Retry`), or give up with an error
class (:class:`GiveUp`). It sleeps, sends and logs nothing; ``halo.transport`` carries the
decision out. The rules (Halo has no idempotency key, FACTS.md §6.3):

* reads retry 5xx and every transport failure, up to ``attempts`` tries in all, with jittered
  exponential back-off;
* a refused connection (nothing listens at the URL: a wrong ``base_url`` or port) is tried
  once more after a short pause, then given up: seconds of back-off would only delay the
  message that names the URL;
* a 429 is waited out (Retry-After, else the budget's doubling pause), up to
  ``rate_limit_attempts`` times per request, for reads and writes alike;
* a write is re-sent only when Halo provably never applied it: a connect error, 429 or 503.
  Any other failure of a write (500, a timeout, a dropped connection, an answer that cannot
  be read) gives up with :class:`WriteOutcomeUnknown`: the caller must read the tickets back;
* a body that cannot be read (too large, undecodable) is never retried.

The test switch (like ``stamina.set_testing``): :func:`set_testing`, the :func:`instant_backoff`
context manager, or ``HALO_AUTOMATE_INSTANT_BACKOFF=1`` in the environment (for a CLI command
run in a subprocess) make every back-off and rate-limit pause zero seconds. The number of
tries is unchanged, so a test still sees every retry, without sleeping through them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum

from halo_automate.errors import (
    HaloError,
    HaloRateLimitedError,
    HaloResponseError,
    HaloUnavailableError,
    WriteOutcomeUnknown,
)

INSTANT_BACKOFF_ENV = "HALO_AUTOMATE_INSTANT_BACKOFF"
"""Set to ``1`` to make back-off and rate-limit pauses instant (tests only)."""

_testing = False

REFUSED_PAUSE = 0.25
"""Seconds before the one retry of a refused connection (a Halo restarting its listener)."""


class Failure(StrEnum):
    """How a request failed when there is no HTTP status to go by."""

    NEVER_SENT = "never-sent"
    """The request provably never reached Halo (the connection could not be made)."""
    MAYBE_SENT = "maybe-sent"
    """It may have reached Halo: a timeout or a connection dropped after sending."""
    UNREADABLE = "unreadable"
    """Halo answered, but the body is too large or cannot be decoded."""
    REFUSED = "refused"
    """Never sent: the host refused the connection (nothing listens there)."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries in all, for 5xx / transport errors
    base_seconds: float = 0.5
    max_seconds: float = 8.0
    rate_limit_attempts: int = 12  # 429s are waited out, up to this many times per request

    def backoff(self, failures: int, jitter: float = 1.0) -> float:
        """The pause before the try that follows the ``failures``-th failure."""
        return min(self.max_seconds, self.base_seconds * 2.0 ** (failures - 1)) * jitter


@dataclass(frozen=True)
class Tries:
    """What one request has been through so far."""

    failures: int = 0  # 5xx answers and transport failures
    limited: int = 0  # 429 answers


@dataclass(frozen=True)
class Done:
    """The response is final: hand it to the caller (success, or an error its status names)."""


@dataclass(frozen=True)
class Retry:
    """Send the request again after ``delay`` seconds; ``tries`` is the new count.

    On a 429 (``rate_limited``) ``delay`` is Halo's Retry-After, or None to let the budget
    choose; that pause holds back every caller, not only this request.
    """

    tries: Tries
    delay: float | None
    rate_limited: bool = False


@dataclass(frozen=True)
class GiveUp:
    """Stop and raise ``error`` (with the response's or the failure's message)."""

    error: type[HaloError]


Decision = Done | Retry | GiveUp


def decide(
    policy: RetryPolicy,
    tries: Tries,
    *,
    write: bool,
    status: int | None = None,
    failure: Failure | None = None,
    retry_after: float | None = None,
    jitter: float = 1.0,
) -> Decision:
    """What to do after one try: exactly one of ``status`` and ``failure`` is given.

    ``jitter`` (0.5 to 1.0, drawn by the caller) scales the back-off.
    """
    if failure is Failure.UNREADABLE:
        return GiveUp(WriteOutcomeUnknown if write else HaloResponseError)
    if failure is Failure.MAYBE_SENT and write:
        return GiveUp(WriteOutcomeUnknown)
    if failure is Failure.REFUSED:
        if tries.failures >= 1:
            return GiveUp(HaloUnavailableError)
        return Retry(replace(tries, failures=1), REFUSED_PAUSE * jitter)
    if failure is not None:
        return _again(policy, tries, jitter)
    if status is None:
        raise ValueError("decide() needs a status or a failure")
    if status == 429:
        if tries.limited >= policy.rate_limit_attempts:
            return GiveUp(HaloRateLimitedError)
        return Retry(replace(tries, limited=tries.limited + 1), retry_after, rate_limited=True)
    if status >= 500:
        if write and status != 503:
            return GiveUp(WriteOutcomeUnknown)
        return _again(policy, tries, jitter)
    return Done()


def is_refused(error: BaseException) -> bool:
    """Whether ``error`` or what it wraps (httpx wraps httpcore, which wraps the OSError) is
    a refused connection: :attr:`Failure.REFUSED`."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _again(policy: RetryPolicy, tries: Tries, jitter: float) -> Decision:
    failures = tries.failures + 1
    if failures >= policy.attempts:
        return GiveUp(HaloUnavailableError)
    return Retry(replace(tries, failures=failures), policy.backoff(failures, jitter))


def retry_after_seconds(value: str | None, longest: float) -> float | None:
    """A Retry-After header in seconds, at most ``longest``; None when absent or absurd
    (not a number, infinite, NaN). An HTTP date is not honoured (Halo sends none)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), longest)


# ---------------------------------------------------------------------------- test switch


def set_testing(testing: bool) -> None:
    """Make every back-off and rate-limit pause instant (True) or real again (False)."""
    global _testing
    _testing = testing


@contextmanager
def instant_backoff() -> Iterator[None]:
    """Within the block, back-off and rate-limit pauses take no time (tests only)."""
    before = _testing
    set_testing(True)
    try:
        yield
    finally:
        set_testing(before)


def backoff_is_instant() -> bool:
    """True when :func:`set_testing` or :data:`INSTANT_BACKOFF_ENV` switched pauses off."""
    return _testing or os.environ.get(INSTANT_BACKOFF_ENV, "") == "1"
