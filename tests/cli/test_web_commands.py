"""``hash-password`` and ``web``: the hash the config takes, and the console served alone."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from web_support import password_hash

from halo_automate.cli import main


@pytest.mark.parametrize("typed", ["s3cret pass\n", "s3cret pass"])
def test_hash_password_reads_stdin_and_prints_an_argon2_hash(typed: str) -> None:
    """`echo PASSWORD |` and `echo -n PASSWORD |` give a hash of the same password."""
    result = CliRunner().invoke(main, ["hash-password"], input=typed, env={"CI": "true"})
    assert result.exit_code == 0, result.output
    hashed = result.output.strip()
    assert hashed.startswith("$argon2id$")
    assert PasswordHasher().verify(hashed, "s3cret pass")


def test_hash_password_refuses_an_empty_password() -> None:
    result = CliRunner().invoke(main, ["hash-password"], input="\n", env={"CI": "true"})
    assert result.exit_code == 2
    assert "empty password" in result.output


def test_web_serves_the_console_until_sigterm(tmp_path: Path) -> None:
    """`halo-automate web` listens where web.listen says (port 0: any), answers /healthz and
    sends pages to the login; without the Halo secret it warns and serves read-only; SIGTERM
    stops it with exit 0."""
    (tmp_path / "playbooks").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        "halo:\n  base_url: http://127.0.0.1:9\n  client_id: id\n"
        "  client_secret: ${NO_SUCH_SECRET}\n"
        "playbooks_dir: playbooks\njournal: journal.db\n"
        f"web:\n  listen: 127.0.0.1:0\n  users: {{alice: '{password_hash()}'}}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "NO_SUCH_SECRET"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "halo_automate", "web", "--config", str(config)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "web console:" in line:
                break
        found = re.search(r"(http://127\.0\.0\.1:\d+)", lines[-1])
        assert found, lines
        assert any("NO_SUCH_SECRET" in line for line in lines)  # the read-only warning
        url = found.group(1)
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as answer:  # noqa: S310
            assert answer.status == 200
        with urllib.request.urlopen(f"{url}/", timeout=10) as answer:  # noqa: S310
            assert answer.url.endswith("/login?next=%2F")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
