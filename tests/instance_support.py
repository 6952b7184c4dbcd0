"""A workspace of two Halo instances (two loopback sandboxes): the config, playbooks that run
everywhere or only on one instance, and the environment holding each instance's own secret.
Shared by the CLI and daemon tests of issue 12's instances."""

from __future__ import annotations

import re
from pathlib import Path

from halo_automate.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parent.parent
SPAM = (ROOT / "playbooks" / "close-spam.yaml").read_text(encoding="utf-8")
CATEGORIES = (ROOT / "playbooks" / "category-cleanup.yaml").read_text(encoding="utf-8")
PROD_SECRET = "prod-secret-of-this-test"  # a sandbox value
UAT_SECRET = "uat-secret-of-this-test"  # a sandbox value


def variant(text: str, name: str, *, instances: str | None = None, schedule: str = "") -> str:
    """A shipped playbook renamed, optionally restricted (``instances: [uat]``) or given
    another schedule."""
    text = re.sub(r"(?m)^name:.*$", f"name: {name}", text)
    if schedule:
        text = re.sub(r"(?m)^schedule:.*$", f'schedule: "{schedule}"', text)
    return text + (f"instances: {instances}\n" if instances else "")


def write_instances_config(
    tmp_path: Path, prod: SandboxServer, uat: SandboxServer, playbooks: dict[str, str]
) -> Path:
    """Instances ``prod`` (the default) and ``uat``, each a sandbox with its own secret from
    the environment (:func:`environment`); the playbooks by file stem."""
    folder = tmp_path / "playbooks"
    folder.mkdir(exist_ok=True)
    for stem, text in playbooks.items():
        (folder / f"{stem}.yaml").write_text(text, encoding="utf-8")
    lines = ["instances:"]
    for name, sandbox, var in (("prod", prod, "PROD_SECRET"), ("uat", uat, "UAT_SECRET")):
        lines += [
            f"  {name}:",
            f"    base_url: {sandbox.base_url}",
            f"    client_id: {sandbox.client_id}",
            f"    client_secret: ${{{var}}}",
        ]
    lines += ["default_instance: prod", "playbooks_dir: playbooks", "journal: journal.db"]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def environment() -> dict[str, str]:
    """The two instances' secrets, as the config reads them."""
    return {"PROD_SECRET": PROD_SECRET, "UAT_SECRET": UAT_SECRET}


def untouched(sandbox: SandboxServer) -> bool:
    """The sandbox saw no request at all (no token, no read, no write)."""
    counters = sandbox.counters
    return (counters["requests"], counters["tokens_issued"], counters["writes_applied"]) == (
        0,
        0,
        0,
    )
