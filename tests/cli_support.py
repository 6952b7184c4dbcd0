"""A config file for CLI tests that run against a sandbox (shared by every test folder)."""

from __future__ import annotations

import shutil
from pathlib import Path

from halo_automate.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp_path: Path, sandbox: SandboxServer, **extra: str) -> Path:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir(exist_ok=True)
    for name in ("close-spam.yaml", "category-cleanup.yaml"):
        shutil.copy(ROOT / "playbooks" / name, playbooks / name)
    lines = [
        "halo:",
        f"  base_url: {sandbox.base_url}",
        f"  client_id: {sandbox.client_id}",
        "  client_secret: ${SANDBOX_SECRET}",
        "playbooks_dir: playbooks",
        "journal: journal.db",
    ]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
