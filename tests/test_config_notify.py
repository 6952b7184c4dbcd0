"""The notify: section: the example's channels load as documented, and secrets stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from halo_automate.config import load_settings
from halo_automate.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    "HALO_CLIENT_SECRET": "x",
    "TEAMS_WEBHOOK_URL": "https://prod.westeurope.logic.azure.com/workflows/1?sig=TEAMSSIG",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/SLACKTOKEN",
    "AUDIT_HOOK_TOKEN": "audit-token",
    "SMTP_PASSWORD": "smtp-password",
}


def example_with_channels() -> str:
    """config.example.yaml with its commented channel examples switched on."""
    lines = (ROOT / "config.example.yaml").read_text(encoding="utf-8").splitlines()
    start = lines.index("  # channels:")
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("  # Seconds one try"))
    block = ["  " + line[4:] for line in lines[start:end]]
    out = [line for line in lines[:start] if line != "  channels: {}"]
    return "\n".join([*out, *block, *lines[end:]]) + "\n"


def test_the_documented_channels_load(tmp_path: Path) -> None:
    """Each channel type of the example loads; URLs and passwords are secrets in the repr."""
    path = tmp_path / "config.yaml"
    path.write_text(example_with_channels(), encoding="utf-8")
    settings = load_settings(path, env=ENV)
    channels = settings.notify.channels
    assert {name: c.type for name, c in channels.items()} == {
        "desk-teams": "teams", "desk-slack": "slack", "audit-hook": "webhook", "desk-mail": "email",
    }  # fmt: skip
    shown = repr(settings)
    for secret in ("TEAMSSIG", "SLACKTOKEN", "audit-token", "smtp-password"):
        assert secret not in shown


def test_an_unknown_channel_type_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    text = example_with_channels().replace("type: teams", "type: temas")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(path, env=ENV)
    assert "'slack', 'teams', 'webhook', 'email'" in str(raised.value)
    assert "TEAMSSIG" not in str(raised.value)
