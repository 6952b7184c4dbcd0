"""No log line, error, CLI output or journal row ever carries the client secret or a bearer
token, whatever goes wrong (every fault test also checks this with its own SecretWatch)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import respx
import structlog
from fault_tools import (
    MIX_PLAYBOOK,
    SandboxFactory,
    SecretWatch,
    client_for,
    journal_dump,
    make_twins,
    mix_playbook,
    runner_for,
    settings_for,
)
from pydantic import SecretStr

from halo_automate.config import HaloSettings, RateLimit
from halo_automate.errors import HaloAuthError, HaloError, HaloRejectedError, HaloResponseError
from halo_automate.halo.client import HaloClient, RetryPolicy

BASE = "https://acme.halopsa.example"
SECRET = "s3cr3t-that-halo-echoes-back"
TOKEN = "tok-echoed-0123456789"


def test_the_watch_finds_a_leak_when_there_is_one(sandbox_factory: SandboxFactory) -> None:
    """The SecretWatch used across the fault suite reports a token or a secret it is shown."""
    sb = sandbox_factory(tickets=20)
    watch = SecretWatch()
    watch.watch(sb)
    watch.capture_logs()
    try:
        with client_for(sb) as client:
            client.get("Status")
        assert watch.tokens and watch.leaks() == []
        structlog.get_logger("test").info("oops", header=f"Bearer {watch.tokens[0]}")
        watch.add("error", f"bad secret {sb.client_secret}")
        assert watch.leaks() == ["client secret found in error", "token #1 found in logs"]
    finally:
        watch.release()


def test_wrong_secret_is_an_auth_error_without_the_secret(
    sandbox_factory: SandboxFactory,
) -> None:
    """A refused secret gives HaloAuthError with a hint; neither the error nor any log line
    (structlog or httpx/httpcore at DEBUG) shows the secret that was sent."""
    sb = sandbox_factory(tickets=20)
    wrong = "wrong-secret-0f9e8d7c"
    watch = SecretWatch([wrong, sb.client_secret])
    watch.capture_logs()
    try:
        client = HaloClient(settings_for(sb, client_secret=SecretStr(wrong)))
        with pytest.raises(HaloAuthError, match="token request refused") as caught:
            client.get("Status")
        watch.add("error", str(caught.value))
        watch.add("repr", repr(client) + repr(client.settings))
        assert watch.log_lines > 0
    finally:
        watch.release()
    assert watch.leaks() == []


def echo_client() -> HaloClient:
    settings = HaloSettings(
        base_url=BASE,
        client_id="cid",
        client_secret=SecretStr(SECRET),
        rate_limit=RateLimit(requests=1000, per_seconds=300),
    )
    return HaloClient(settings, retry=RetryPolicy(attempts=2, base_seconds=0), sleep=lambda s: None)


def test_bodies_echoing_the_secret_or_the_token_are_scrubbed() -> None:
    """When Halo (or a proxy) echoes the token form or the Authorization header back in an
    error body, the error says *** instead of the secret or the token."""
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.post("/auth/token").mock(
            side_effect=[
                httpx.Response(401, json={"error": "invalid_client",
                                          "error_description": f"client_secret={SECRET}"}),
                httpx.Response(200, json={"access_token": TOKEN, "expires_in": 3600}),
            ]
        )  # fmt: skip
        mock.get("/api/Status").mock(
            return_value=httpx.Response(400, json={"Message": f"bad header Bearer {TOKEN}"})
        )
        mock.get("/api/Team").mock(
            return_value=httpx.Response(200, text=f"<html>Authorization: Bearer {TOKEN}</html>")
        )
        client = echo_client()
        errors: list[HaloError] = []
        for expected, path in [(HaloAuthError, "Status"), (HaloRejectedError, "Status"),
                               (HaloResponseError, "Team")]:  # fmt: skip
            with pytest.raises(expected) as caught:
                client.get(path)
            errors.append(caught.value)
    texts = [str(e) for e in errors]
    assert all("***" in t for t in texts), texts
    assert not any(SECRET in t or TOKEN in t for t in texts)


def test_cli_run_under_faults_leaves_no_secret_in_output_or_journal(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """`run --yes` through the CLI with 500s and 429s: stdout, stderr (JSON logs) and the
    journal file hold neither the client secret nor any token the sandbox issued."""
    sb, _ = make_twins(sandbox_factory, tickets=120)
    watch = SecretWatch()
    watch.watch(sb)
    sb.set_faults(fail_rate=0.15, rate_limit=40, rate_window=1.0)
    playbook = tmp_path / "mix.yaml"
    playbook.write_text(MIX_PLAYBOOK.format(below=400, priority="Low"), encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"halo:\n  base_url: {sb.base_url}\n  client_id: {sb.client_id}\n"
        "  client_secret: ${FAULT_SECRET}\n  batch_size: 5\n"
        "  rate_limit: {requests: 1000, per_seconds: 1}\njournal: journal.db\n",
        encoding="utf-8",
    )
    env = {**os.environ, "FAULT_SECRET": sb.client_secret}
    result = subprocess.run(
        [sys.executable, "-m", "halo_automate", "run", str(playbook), "--yes",
         "--config", str(config)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 3, 5), result.stderr[-2000:]
    assert "run_summary" in result.stderr and sb.counters["writes_applied"] > 0
    assert "Traceback" not in result.stderr
    assert watch.tokens and sb.counters["failures_injected"] > 0
    watch.add("stdout", result.stdout)
    watch.add("stderr", result.stderr)
    watch.add("journal", journal_dump(tmp_path / "journal.db"))
    assert watch.leaks() == []


def test_journal_and_logs_of_a_recovered_run_hold_no_token(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A run whose tokens expire mid-run and whose writes fail: the journal rows (messages
    included) and the DEBUG logs mention no token and no secret."""
    sb, _ = make_twins(sandbox_factory, tickets=120)
    watch = SecretWatch()
    watch.watch(sb)
    watch.capture_logs()
    journal = tmp_path / "journal.db"
    try:
        sb.set_faults(fail_rate=0.3, token_ttl=1, latency=0.01)
        with runner_for(sb, journal, batch_size=5) as runner:
            for _ in range(3):
                try:
                    runner.run(mix_playbook(), trigger="cli", confirm=None)
                except HaloError as e:
                    watch.add("error", str(e))
    finally:
        watch.release()
    assert sb.counters["tokens_issued"] > 1
    dump = journal_dump(journal)
    assert "failed" in dump or "done" in dump
    watch.add("journal", dump)
    assert watch.leaks() == []
