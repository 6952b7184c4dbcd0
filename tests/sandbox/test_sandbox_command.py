"""The ``sandbox`` CLI command: argument parsing, loopback guard, output and clean stop."""

from __future__ import annotations

import json
import runpy
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from halo_automate.sandbox import SandboxServer, command
from halo_automate.sandbox.command import (
    is_loopback,
    parse_duration,
    parse_rate_limit,
    sandbox_command,
    serve_until_stopped,
)
from halo_automate.sandbox.testing import sandbox_options


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300/300s", (300, 300.0)),
        ("300/5m", (300, 300.0)),
        ("500/180", (500, 180.0)),
        ("10/1h", (10, 3600.0)),
        ("10/500ms", (10, 0.5)),
        ("300", (300, 300.0)),
        ("0", (0, 300.0)),
        ("off", (0, 300.0)),
        (" 20 / 2M ", (20, 120.0)),
    ],
)
def test_parse_rate_limit(text: str, expected: tuple[int, float]) -> None:
    """--rate-limit takes N/window with ms/s/m/h units, a bare N (per 5 minutes) or 0/off."""
    assert parse_rate_limit(text) == expected


@pytest.mark.parametrize("text", ["abc", "300/", "10/0s", "-5", "10/5d", ""])
def test_parse_rate_limit_rejects(text: str) -> None:
    """Malformed limits and a zero window are errors."""
    with pytest.raises(ValueError, match="rate"):
        parse_rate_limit(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0ms", 0.0), ("50ms", 0.05), ("1s", 1.0), ("1.5s", 1.5), ("2", 2.0), ("1m", 60.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    """--latency takes ms/s/m/h or bare seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["fast", "-1s", "1 day"])
def test_parse_duration_rejects(text: str) -> None:
    """Anything else is an error."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),  # noqa: S104
        ("10.1.2.3", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    """Only loopback addresses (and localhost) count as local."""
    assert is_loopback(host) is loopback


def test_non_loopback_host_is_refused_without_allow_remote() -> None:
    """--host 0.0.0.0 is a usage error unless --allow-remote is given."""
    result = CliRunner().invoke(sandbox_command, ["--host", "0.0.0.0"])  # noqa: S104
    assert result.exit_code == 2
    assert "--allow-remote" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limit", "lots"], "not a rate limit"),
        (["--latency", "soon"], "not a duration"),
        (["--fail-rate", "2"], "fail-rate"),
    ],
)
def test_bad_option_values_are_usage_errors(args: list[str], message: str) -> None:
    """Unparseable option values exit 2 naming the problem."""
    result = CliRunner().invoke(sandbox_command, args)
    assert result.exit_code == 2
    assert message in result.output


def test_command_prints_url_credentials_and_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command starts a sandbox with the parsed options and prints the base URL, the
    credentials and a ready-to-paste halo: config block."""
    seen: list[SandboxServer] = []

    def fake_serve(sandbox: SandboxServer, stop: threading.Event | None = None) -> None:
        seen.append(sandbox)
        sandbox.stop()

    monkeypatch.setattr(command, "serve_until_stopped", fake_serve)
    args = [
        "--port",
        "0",
        "--tickets",
        "25",
        "--seed",
        "4",
        "--rate-limit",
        "100/60s",
        "--latency",
        "5ms",
        "--fail-rate",
        "0.1",
        "--token-ttl",
        "60",
        "--tenant",
        "t",
        "--retry-after",
    ]
    result = CliRunner().invoke(sandbox_command, args)
    assert result.exit_code == 0, result.output
    options = seen[0].options
    assert (options.tickets, options.seed, options.rate_limit, options.rate_window) == (
        25,
        4,
        100,
        60.0,
    )
    assert (options.latency, options.fail_rate, options.token_ttl) == (0.005, 0.1, 60)
    assert (options.tenant, options.retry_after) == ("t", True)
    assert "http://127.0.0.1:" in result.output
    assert "client_secret: sandbox-secret-do-not-use" in result.output
    assert "rate_limit: {requests: 100, per_seconds: 60}" in result.output
    assert "(25 tickets)" in result.output


def test_config_snippet_without_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the limiter off the snippet still gives a valid (generous) client budget."""
    monkeypatch.setattr(command, "serve_until_stopped", lambda sb, stop=None: sb.stop())
    result = CliRunner().invoke(
        sandbox_command, ["--port", "0", "--tickets", "5", "--rate-limit", "0"]
    )
    assert "rate_limit: {requests: 10000, per_seconds: 300}" in result.output


def test_serve_until_stopped_stops_and_restores_sigterm() -> None:
    """When the stop event is set the sandbox stops and the old SIGTERM handler is back."""
    sandbox = SandboxServer(sandbox_options(tickets=5))
    sandbox.start()
    stop = threading.Event()
    stop.set()
    before = signal.getsignal(signal.SIGTERM)
    serve_until_stopped(sandbox, stop)
    assert signal.getsignal(signal.SIGTERM) == before
    with pytest.raises(RuntimeError):
        _ = sandbox.base_url


def test_serve_until_stopped_handles_ctrl_c() -> None:
    """Ctrl-C (KeyboardInterrupt) while waiting stops the sandbox cleanly."""

    class Interrupting(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            raise KeyboardInterrupt

    sandbox = SandboxServer(sandbox_options(tickets=5))
    sandbox.start()
    serve_until_stopped(sandbox, Interrupting())
    with pytest.raises(RuntimeError):
        _ = sandbox.base_url


def test_sigterm_handler_sets_the_stop_event() -> None:
    """The SIGTERM handler installed while serving ends the wait loop."""

    class Waiter(threading.Event):
        calls = 0

        def wait(self, timeout: float | None = None) -> bool:
            self.calls += 1
            if self.calls == 2:
                handler = signal.getsignal(signal.SIGTERM)
                assert callable(handler)
                handler(signal.SIGTERM, None)
            return self.is_set()

    sandbox = SandboxServer(sandbox_options(tickets=5))
    sandbox.start()
    waiter = Waiter()
    serve_until_stopped(sandbox, waiter)
    assert waiter.calls == 2
    assert waiter.is_set()


def test_sigterm_stops_the_process_cleanly_and_saves_state(tmp_path: Path) -> None:
    """A real process: serves until SIGTERM, then exits 0 after saving --state."""
    state = tmp_path / "state.json"
    code = "from halo_automate.sandbox.command import sandbox_command; sandbox_command()"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "--port",
            "0",
            "--tickets",
            "30",
            "--rate-limit",
            "0",
            "--state",
            str(state),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = first.split(" on ")[1].split(" ")[0]
        assert httpx.get(f"{url}/api/authinfo", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:  # pragma: no cover - only when the test fails
            proc.kill()
    assert proc.returncode == 0, err
    assert "Sandbox stopped." in out
    assert len(json.loads(state.read_text())["tickets"]) == 30


def test_python_m_halo_automate_sandbox_is_the_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m halo_automate.sandbox` (the benchmark's way in) runs the same command."""
    monkeypatch.setattr(sys, "argv", ["halo_automate.sandbox", "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("halo_automate.sandbox", run_name="__main__")
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "Usage: python -m halo_automate.sandbox" in out and "--rate-limit" in out
