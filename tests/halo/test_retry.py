"""The retry policy as a table (halo.retry.decide), and the test switch that makes back-off
instant (halo.retry.set_testing / instant_backoff / HALO_AUTOMATE_INSTANT_BACKOFF)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import respx
from clock import FakeClock
from pydantic import SecretStr

from halo_automate.config import HaloSettings, RateLimit
from halo_automate.errors import (
    HaloRateLimitedError,
    HaloResponseError,
    HaloUnavailableError,
    WriteOutcomeUnknown,
)
from halo_automate.halo.client import HaloClient
from halo_automate.halo.retry import (
    INSTANT_BACKOFF_ENV,
    Decision,
    Done,
    Failure,
    GiveUp,
    Retry,
    RetryPolicy,
    Tries,
    backoff_is_instant,
    decide,
    instant_backoff,
    retry_after_seconds,
    set_testing,
)

POLICY = RetryPolicy(attempts=3, base_seconds=0.5, max_seconds=8.0, rate_limit_attempts=2)
FRESH = Tries()
ONE_FAILURE = Tries(failures=1)
LAST_FAILURE = Tries(failures=2)  # the next failure is the third try: give up
LIMITED_OUT = Tries(limited=2)
NEVER, MAYBE, UNREADABLE = Failure.NEVER_SENT, Failure.MAYBE_SENT, Failure.UNREADABLE

# (write?, status or failure, tries so far, Retry-After) -> decision
TABLE: list[tuple[bool, int | Failure, Tries, float | None, Decision]] = [
    # answers that are final
    (False, 200, FRESH, None, Done()),
    (True, 201, FRESH, None, Done()),
    (False, 400, FRESH, None, Done()),
    (True, 400, FRESH, None, Done()),
    (False, 401, LAST_FAILURE, None, Done()),
    (False, 404, FRESH, None, Done()),
    (False, 302, FRESH, None, Done()),
    # 5xx: reads back off and retry; a write only on 503
    (False, 500, FRESH, None, Retry(ONE_FAILURE, 0.5)),
    (False, 502, ONE_FAILURE, None, Retry(LAST_FAILURE, 1.0)),
    (False, 500, LAST_FAILURE, None, GiveUp(HaloUnavailableError)),
    (True, 500, FRESH, None, GiveUp(WriteOutcomeUnknown)),
    (True, 502, FRESH, None, GiveUp(WriteOutcomeUnknown)),
    (True, 503, FRESH, None, Retry(ONE_FAILURE, 0.5)),
    (True, 503, LAST_FAILURE, None, GiveUp(HaloUnavailableError)),
    # 429: waited out by reads and writes, with its own count
    (False, 429, FRESH, None, Retry(Tries(limited=1), None, rate_limited=True)),
    (True, 429, ONE_FAILURE, 7.0, Retry(Tries(failures=1, limited=1), 7.0, rate_limited=True)),
    (True, 429, LAST_FAILURE, None, Retry(Tries(failures=2, limited=1), None, rate_limited=True)),
    (False, 429, LIMITED_OUT, None, GiveUp(HaloRateLimitedError)),
    (True, 429, LIMITED_OUT, 3.0, GiveUp(HaloRateLimitedError)),
    # transport failures: a connect error is retried even for a write
    (False, NEVER, FRESH, None, Retry(ONE_FAILURE, 0.5)),
    (True, NEVER, FRESH, None, Retry(ONE_FAILURE, 0.5)),
    (True, NEVER, LAST_FAILURE, None, GiveUp(HaloUnavailableError)),
    (False, MAYBE, ONE_FAILURE, None, Retry(LAST_FAILURE, 1.0)),
    (False, MAYBE, LAST_FAILURE, None, GiveUp(HaloUnavailableError)),
    (True, MAYBE, FRESH, None, GiveUp(WriteOutcomeUnknown)),
    # a refused connection: one quick retry (reads and writes: never sent), then give up
    (False, Failure.REFUSED, FRESH, None, Retry(ONE_FAILURE, 0.25)),
    (True, Failure.REFUSED, FRESH, None, Retry(ONE_FAILURE, 0.25)),
    (False, Failure.REFUSED, ONE_FAILURE, None, GiveUp(HaloUnavailableError)),
    # a body that cannot be read is never retried
    (False, UNREADABLE, FRESH, None, GiveUp(HaloResponseError)),
    (True, UNREADABLE, FRESH, None, GiveUp(WriteOutcomeUnknown)),
]


@pytest.mark.parametrize(("write", "outcome", "tries", "retry_after", "expected"), TABLE)
def test_decision_table(
    write: bool,
    outcome: int | Failure,
    tries: Tries,
    retry_after: float | None,
    expected: Decision,
) -> None:
    """Every row of the retry policy (FACTS §6.3: a write is re-sent only after a connect
    error, a 429 or a 503)."""
    if isinstance(outcome, Failure):
        got = decide(POLICY, tries, write=write, failure=outcome, retry_after=retry_after)
    else:
        got = decide(POLICY, tries, write=write, status=outcome, retry_after=retry_after)
    assert got == expected


def test_backoff_doubles_up_to_the_cap_and_scales_by_jitter() -> None:
    """The back-off doubles per failure up to max_seconds; jitter scales it."""
    policy = RetryPolicy(attempts=10, base_seconds=0.5, max_seconds=3.0)
    delays = [policy.backoff(n) for n in range(1, 6)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    decision = decide(policy, Tries(failures=1), write=False, status=500, jitter=0.5)
    assert decision == Retry(Tries(failures=2), 0.5)


def test_decide_needs_an_outcome() -> None:
    with pytest.raises(ValueError, match="status or a failure"):
        decide(POLICY, FRESH, write=False)


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("7", 7.0), ("0.5", 0.5), ("-5", 0.0), ("1e300", 60.0), ("inf", None),
     ("nan", None), ("soon", None), ("Wed, 21 Oct 2026 07:28:00 GMT", None)],
)  # fmt: skip
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    """Retry-After in seconds, capped; absent or absurd values are ignored."""
    assert retry_after_seconds(header, 60.0) == expected


# ---------------------------------------------------------------------------- the switch

BASE = "https://acme.halopsa.example"


def client(fake_time: FakeClock) -> HaloClient:
    settings = HaloSettings(
        base_url=BASE, client_id="c", client_secret=SecretStr("s"),
        rate_limit=RateLimit(requests=1000, per_seconds=60),
    )  # fmt: skip
    return HaloClient(
        settings, clock=fake_time, sleep=fake_time.sleep, retry=RetryPolicy(attempts=3)
    )


def flaky(mock: respx.MockRouter) -> respx.Route:
    mock.post("/auth/token").mock(return_value=httpx.Response(200, json={"access_token": "t"}))
    return mock.get("/api/Status").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(429),
            httpx.ConnectError("refused"),
            httpx.Response(429, headers={"Retry-After": "30"}),
            httpx.Response(200, json=[]),
        ]
    )


def test_without_the_switch_retries_pause() -> None:
    """The baseline the switch changes: two back-offs and two 429 pauses, 30 s among them."""
    fake_time = FakeClock(1000.0)
    with respx.mock(base_url=BASE) as mock:
        flaky(mock)
        assert client(fake_time).get("Status") == []
    assert len(fake_time.sleeps) == 4 and max(fake_time.sleeps) == pytest.approx(30)


def test_instant_backoff_keeps_every_retry_but_never_sleeps() -> None:
    """Under instant_backoff() the same retries happen (same counts), with no pause at all."""
    fake_time = FakeClock(1000.0)
    assert not backoff_is_instant()
    with respx.mock(base_url=BASE) as mock, instant_backoff():
        assert backoff_is_instant()
        route = flaky(mock)
        c = client(fake_time)
        assert c.get("Status") == []
    assert not backoff_is_instant()
    assert route.call_count == 5
    assert c.stats.retries == 2 and c.stats.rate_limited == 2
    assert fake_time.sleeps == []


def test_set_testing_and_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """set_testing() switches pauses off until switched back; so does the env variable."""
    monkeypatch.delenv(INSTANT_BACKOFF_ENV, raising=False)
    set_testing(True)
    try:
        assert backoff_is_instant()
    finally:
        set_testing(False)
    assert not backoff_is_instant()
    monkeypatch.setenv(INSTANT_BACKOFF_ENV, "1")
    assert backoff_is_instant()
    monkeypatch.setenv(INSTANT_BACKOFF_ENV, "0")
    assert not backoff_is_instant()


def test_the_environment_variable_reaches_a_cli_subprocess(tmp_path: Path) -> None:
    """A CLI command in a subprocess with HALO_AUTOMATE_INSTANT_BACKOFF=1 gives up on an
    unreachable Halo after its retry (logged), not pausing. (Issue 19.5: a refused
    connection is retried once, no longer ``attempts - 1`` times.)"""
    (tmp_path / "probe.yaml").write_text(
        "name: probe\nactions:\n  - set: {summary: probed}\n", encoding="utf-8"
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        "halo: {base_url: 'http://127.0.0.1:9', client_id: x, client_secret: y}\n"
        "journal: journal.db\n",
        encoding="utf-8",
    )
    env = {**os.environ, INSTANT_BACKOFF_ENV: "1"}
    result = subprocess.run(
        [sys.executable, "-m", "halo_automate", "plan", str(tmp_path / "probe.yaml"),
         "--config", str(config)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "POST /auth/token" in result.stderr and "cannot connect" in result.stderr
    retries = [
        json.loads(line)
        for line in result.stderr.splitlines()
        if line.startswith("{") and '"retrying"' in line
    ]
    assert len(retries) == 1
    assert all(r["pause_seconds"] == 0 and r["reason"] == "refused" for r in retries)


def test_a_refused_connection_fails_fast_naming_the_url(tmp_path: Path) -> None:
    """Issue 19.5: nothing listening at base_url (connection refused) gives up after one
    quick retry, with real back-off on (it took 11-12 s), and the message names the URL."""
    (tmp_path / "probe.yaml").write_text(
        "name: probe\nactions:\n  - set: {summary: probed}\n", encoding="utf-8"
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        "halo: {base_url: 'http://127.0.0.1:9', client_id: x, client_secret: y}\n"
        "journal: journal.db\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != INSTANT_BACKOFF_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "halo_automate", "plan", str(tmp_path / "probe.yaml"),
         "--config", str(config)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "cannot connect to http://127.0.0.1:9 (connection refused)" in result.stderr
    retries = [
        json.loads(line)
        for line in result.stderr.splitlines()
        if line.startswith("{") and '"retrying"' in line
    ]
    assert len(retries) == 1 and retries[0]["pause_seconds"] <= 0.25
