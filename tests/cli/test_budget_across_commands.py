"""Two CLI commands started together spend one request budget (issue 12, case 5).

Real processes, one journal: each builds its own client and budget, and the window they share
lives in the journal database. Against a sandbox whose rate limit is the configured budget,
neither sees a single 429.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from cli_support import ROOT

from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox.testing import running_sandbox


def test_two_commands_at_once_see_no_429(tmp_path: Path) -> None:
    """Two `plan` commands at the same time, 50 requests per 2 s between them: no 429."""
    with running_sandbox(rate_limit=50, rate_window=2.0) as sb:
        config = _config(tmp_path, sb)
        env = {**os.environ, "SANDBOX_SECRET": sb.client_secret, "CI": "true"}
        command = [sys.executable, "-m", "halo_automate", "plan", "close-spam"]
        procs = [
            subprocess.Popen(
                [*command, "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                cwd=tmp_path,
            )
            for _ in range(2)
        ]
        results = [p.communicate(timeout=120) for p in procs]
        for proc, (_, err) in zip(procs, results, strict=True):
            assert proc.returncode == 0, err
            assert "rate_limited" not in err
        counters = sb.counters
    assert counters["requests"] > 50  # more than a window's worth together
    assert counters["rate_limited"] == 0


def _config(tmp_path: Path, sb: SandboxServer) -> Path:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    shutil.copy(ROOT / "playbooks" / "close-spam.yaml", playbooks / "close-spam.yaml")
    path = tmp_path / "config.yaml"
    path.write_text(
        "halo:\n"
        f"  base_url: {sb.base_url}\n"
        f"  client_id: {sb.client_id}\n"
        "  client_secret: ${SANDBOX_SECRET}\n"
        "  page_size: 10\n"
        "  rate_limit: {requests: 50, per_seconds: 2, share: 1}\n"
        "playbooks_dir: playbooks\n"
        "journal: journal.db\n",
        encoding="utf-8",
    )
    return path
