"""The floor: the fewest requests a job can take, and the least time Halo's limit allows.

Requests. A job that reads ``T`` tickets with one query and changes ``C`` of them (``U``
ticket updates, ``A`` actions) cannot take fewer than::

    1                      token
  + lookups                one request per lookup list the playbook names (each fits a page)
  + max(1, ceil(T / 100))  pages of 100 (Halo's largest page; an empty result is one request)
  + ceil(C / 100)          stale-check pages (``ticketids`` of 100) when C > 0
  + ceil(U / B)            ticket-update batches (``POST /api/Tickets``, B objects each)
  + ceil(A / B)            action batches (``POST /api/Actions``)

Time. The sandbox, like Halo, admits a request arriving at ``t`` only when fewer than ``R``
admitted requests arrived in ``(t - W, t]``. So with admitted arrivals ``a_1 <= a_2 <= ...``,
``a_{k+R} >= a_k + W``, and by induction ``a_k >= a_1 + floor((k - 1) / R) * W``. With
``j = floor((n - 1) / R)``, the last ``m = n - j*R`` requests (``1 <= m <= R``) all arrive
at or after ``a_1 + j*W``. If every request takes at least ``L`` seconds (the sandbox's added
latency) and at most ``c`` are in flight at once, those ``m`` need ``ceil(m / c) * L`` more,
and all ``n`` need at least ``ceil(n / c) * L`` in total. Hence the time floor::

    floor_seconds = max(j*W + ceil(m / c) * L,  ceil(n / c) * L)

With ``L = 0`` this is ``max(0, ceil(n / R) - 1) * W``: the first window's worth goes at once
and each further window's worth waits a window. It is a lower bound for *any* client: it
ignores that the writes depend on the reads and that halo_automate deliberately sends its
writes one batch at a time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

PAGE_SIZE = 100


@dataclass(frozen=True)
class Job:
    """What a scenario asks of any client, whoever does it."""

    lookups: int
    tickets_read: int
    changes: int
    ticket_updates: int
    actions: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def floor_requests(job: Job, batch_size: int) -> int:
    """The fewest requests ``job`` can take with writes of ``batch_size`` objects."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    pages = max(1, math.ceil(job.tickets_read / PAGE_SIZE))
    stale = math.ceil(job.changes / PAGE_SIZE)
    writes = math.ceil(job.ticket_updates / batch_size) + math.ceil(job.actions / batch_size)
    return 1 + job.lookups + pages + stale + writes


def floor_seconds(
    requests: int, limit: int, window: float, latency: float = 0.0, concurrency: int = 1
) -> float:
    """The least time ``requests`` can take under ``limit`` per rolling ``window`` seconds,
    each taking ``latency`` seconds with at most ``concurrency`` in flight (limit 0 = off)."""
    if requests <= 0:
        return 0.0
    width = max(concurrency, 1)
    busy = math.ceil(requests / width) * latency
    if limit <= 0:
        return busy
    windows = (requests - 1) // limit
    last = requests - windows * limit
    return max(windows * window + math.ceil(last / width) * latency, busy)


def ratio(measured: float, floor: float) -> float | None:
    """``measured / floor``; None when the floor is zero (no meaningful ratio)."""
    if floor <= 0:
        return None
    return measured / floor
