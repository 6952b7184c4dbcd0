"""One request budget per instance, shared by every process on the machine (issue 12).

Two clients, each with its own :class:`RequestBudget` (as two processes have), over one journal
file: together they stay within the limit, so a sandbox whose limit matches the configured
budget answers no 429 at all; the token request waits for the budget like any other; a 429
pause reaches both; ``rate_limit.share`` leaves the rest of Halo's limit to other
integrations; long waits count down through ``on_wait`` and a stop ends them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from clock import FakeClock
from conftest import SandboxFactory
from pydantic import SecretStr

from halo_automate.config import HaloSettings
from halo_automate.config.halo import RateLimit
from halo_automate.halo.client import HaloClient
from halo_automate.halo.ratelimit import RequestBudget, estimate_seconds, usable_requests
from halo_automate.halo.retry import RetryPolicy
from halo_automate.sandbox import SandboxServer
from halo_automate.store.budget import JournalWindow
from halo_automate.store.journal import Journal

RETRY = RetryPolicy(attempts=3, base_seconds=0.001, max_seconds=0.002, rate_limit_attempts=50)


def settings_for(sb: SandboxServer, requests: int, per_seconds: float, **over: Any) -> HaloSettings:
    share = over.pop("share", 1.0)
    return HaloSettings(
        base_url=sb.base_url,
        client_id=sb.client_id,
        client_secret=SecretStr(sb.client_secret),
        rate_limit=RateLimit(requests=requests, per_seconds=per_seconds, share=share),
        **over,
    )


def window_at(tmp_path: Path) -> JournalWindow:
    path = tmp_path / "journal.db"
    Journal.open(path).close()
    return JournalWindow.open(path)


def client_with(
    settings: HaloSettings,
    window: JournalWindow | None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    **budget: Any,
) -> HaloClient:
    """A client as one process builds it: its own budget object over the shared window."""
    kwargs: dict[str, Any] = {}
    if clock is not None and sleep is not None:
        kwargs = {"clock": clock, "sleep": sleep}
    shared = RequestBudget.for_instance(settings, window=window, **kwargs, **budget)
    return HaloClient(settings, budget=shared, retry=RETRY, **kwargs)


def test_token_request_waits_for_the_shared_budget(
    tmp_path: Path, sandbox_factory: SandboxFactory
) -> None:
    """One process filled the window; the other's token request waits for a slot instead of
    earning 429s (it used to give up with "token endpoint kept failing")."""
    clock = FakeClock(1_000_000.0)
    sb = sandbox_factory(rate_limit=10, rate_window=60, monotonic=clock, sleep=clock.sleep)
    settings = settings_for(sb, 10, 60)
    with window_at(tmp_path) as window:
        first = client_with(settings, window, clock, clock.sleep)
        for _ in range(9):  # the token and nine reads: the window is full
            first.get("Status")
        assert first.budget.in_window() == 10
        second = client_with(settings, window, clock, clock.sleep)
        assert second.budget.in_window() == 10  # it sees the other process's slots
        second.get("Status")
        assert second.stats.snapshot()["by_endpoint"]["POST /auth/token"] == 1
        assert clock.sleeps and sum(clock.sleeps) >= 60  # waited for the window to roll
    assert sb.counters["rate_limited"] == 0


def test_two_processes_at_once_see_no_429(tmp_path: Path, sandbox_factory: SandboxFactory) -> None:
    """Two clients scanning at the same time against a sandbox whose limit is the configured
    budget: zero 429s, because their sum never exceeds the limit."""
    sb = sandbox_factory(rate_limit=40, rate_window=2.0)
    settings = settings_for(sb, 40, 2.0, page_size=20)
    errors: list[BaseException] = []
    with window_at(tmp_path) as window:
        clients = [client_with(settings, window) for _ in range(2)]

        def scan(client: HaloClient) -> None:
            try:
                assert len(list(client.iter_tickets({}))) == 600
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=scan, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not errors
    sent = sum(c.stats.snapshot()["requests"] for c in clients)
    assert sent >= 2 * 30  # 30 pages each: more than a window's worth together
    assert sb.counters["rate_limited"] == 0
    assert sum(c.stats.snapshot()["rate_limited"] for c in clients) == 0


def test_a_429_pause_reaches_the_other_process(tmp_path: Path) -> None:
    """A 429 seen by one process pauses the other's next request too."""
    clock = FakeClock(5000.0)
    with window_at(tmp_path) as window:
        one, two = (
            RequestBudget(100, 300, clock=clock, sleep=clock.sleep, window=window, key="k")
            for _ in range(2)
        )
        one.acquire()
        pause = one.back_off(retry_after=30)
        assert two.acquire() == pause == 30


def test_share_leaves_the_rest_to_other_integrations(
    tmp_path: Path, sandbox_factory: SandboxFactory
) -> None:
    """With rate_limit.share 0.8 (the default) the tool takes 8 of Halo's 10 slots: another
    integration still gets its 2 in the same window without a 429."""
    clock = FakeClock(1_000_000.0)
    sb = sandbox_factory(rate_limit=10, rate_window=60, monotonic=clock, sleep=clock.sleep)
    settings = HaloSettings(
        base_url=sb.base_url,
        client_id=sb.client_id,
        client_secret=SecretStr(sb.client_secret),
        rate_limit=RateLimit(requests=10, per_seconds=60),
    )
    assert settings.rate_limit.share == 0.8 and usable_requests(10, 0.8) == 8
    with window_at(tmp_path) as window:
        ours = client_with(settings, window, clock, clock.sleep)
        assert ours.budget.requests == 8
        for _ in range(7):  # the token and seven reads
            ours.get("Status")
        assert clock.sleeps == []
        with httpx.Client(base_url=sb.base_url) as other:  # an RMM's sync, say
            token = other.post(
                "/auth/token",
                data={"grant_type": "client_credentials", "client_id": sb.client_id,
                      "client_secret": sb.client_secret, "scope": "all"},
            )  # fmt: skip
            assert token.status_code == 200
            auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
            assert other.get("/api/Status", headers=auth).status_code == 200
        ours.get("Status")  # the ninth of ours waits for the window instead
        assert sum(clock.sleeps) >= 60
    assert sb.counters["rate_limited"] == 0


def test_long_waits_count_down_and_a_stop_ends_them() -> None:
    """A wait over two seconds is told to on_wait about once a second, then 0; a short one is
    not. A check that raises ends a wait without taking a slot."""
    clock = FakeClock()
    told: list[float] = []
    budget = RequestBudget(1, 5, clock=clock, sleep=clock.sleep, on_wait=told.append)
    budget.acquire()
    assert budget.acquire() == 5
    assert told == [5, 4, 3, 2, 1, 0]
    told.clear()
    clock.advance(3.5)
    budget.acquire()  # 1.5 s: no countdown
    assert told == []

    class Stop(Exception):
        pass

    checks = [0]

    def check() -> None:
        checks[0] += 1
        if checks[0] > 2:
            raise Stop

    with pytest.raises(Stop):
        budget.acquire(check)
    assert clock.sleeps[-2:] == [1.0, 1.0]  # stepped, so a stop is seen within a second
    assert budget.in_window() == 1


def test_estimate_counts_what_other_processes_used(tmp_path: Path) -> None:
    """The estimate is at the budget as it is now: slots other processes hold are counted."""
    assert estimate_seconds(269, 240, 300) == pytest.approx(29 * 300 / 240)
    assert estimate_seconds(10, 240, 300) == 0
    assert estimate_seconds(0, 240, 300, used=240) == 0
    clock = FakeClock(7000.0)
    with window_at(tmp_path) as window:
        other = RequestBudget(10, 60, clock=clock, sleep=clock.sleep, window=window, key="k")
        for _ in range(6):
            other.acquire()
        mine = RequestBudget(10, 60, clock=clock, sleep=clock.sleep, window=window, key="k")
        assert mine.estimate(4) == 0
        assert mine.estimate(14) == pytest.approx(10 * 60 / 10)
        other.back_off(retry_after=20)
        assert mine.estimate(4) == pytest.approx(20)
