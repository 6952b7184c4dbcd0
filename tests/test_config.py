"""Configuration loading: keys, environment expansion, URL rules, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from halo_automate.config import find_config, load_settings, settings_from_mapping
from halo_automate.errors import ConfigError

GOOD = """
halo:
  base_url: https://acme.halopsa.com/
  client_id: abc
  client_secret: ${HALO_CLIENT_SECRET}
  tenant: acme
  rate_limit: {requests: 500, per_seconds: 300}
playbooks_dir: pb
journal: data/j.db
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config(tmp_path: Path) -> None:
    """A full config loads, expands ${VAR}, and resolves paths against the file's folder."""
    s = load_settings(write(tmp_path, GOOD), env={"HALO_CLIENT_SECRET": "xyz"})
    assert s.halo.client_secret.get_secret_value() == "xyz"
    assert s.halo.api_url == "https://acme.halopsa.com/api"
    assert s.halo.token_url == "https://acme.halopsa.com/auth/token"
    assert s.halo.rate_limit.requests == 500
    assert s.playbooks_dir == tmp_path / "pb" and s.journal == tmp_path / "data/j.db"
    assert "xyz" not in repr(s)


def test_auth_url_override() -> None:
    """auth_url replaces the default {base_url}/auth for the token request."""
    s = settings_from_mapping(
        {
            "halo": {
                "base_url": "https://a.example",
                "auth_url": "https://auth.example/auth",
                "client_id": "x",
                "client_secret": "y",
            }
        }
    )
    assert s.halo.token_url == "https://auth.example/auth/token"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"halo": {"base_url": "http://acme.com", "client_id": "x", "client_secret": "s"}},
            "halo.base_url: http:// is only allowed on loopback",
        ),
        (
            {"halo": {"base_url": "ftp://x", "client_id": "x", "client_secret": "s"}},
            "halo.base_url: not an http(s) URL",
        ),
        (
            {"halo": {"base_url": "https://a.example", "client_secret": "s"}},
            "halo.client_id: required key is missing",
        ),
        (
            {
                "halo": {
                    "base_url": "https://a.example",
                    "client_id": "x",
                    "client_secret": "s",
                    "scpe": "all",
                }
            },
            "halo.scpe: unknown key (did you mean 'scope'?)",
        ),
        (
            {
                "halo": {"base_url": "https://a.example", "client_id": "x", "client_secret": "s"},
                "jurnal": "x",
            },
            "jurnal: unknown key (did you mean 'journal'?)",
        ),
        (
            {
                "halo": {
                    "base_url": "https://a.example",
                    "client_id": "x",
                    "client_secret": "s",
                    "rate_limit": {"requests": "many"},
                }
            },
            "halo.rate_limit.requests:",
        ),
        (
            {
                "halo": {
                    "base_url": "https://a.example",
                    "client_id": "x",
                    "client_secret": "${MISSING_VAR}",
                }
            },
            "halo.client_secret: environment variable MISSING_VAR is not set",
        ),
        ({}, "halo: required key is missing"),
        ([1], "expected a mapping"),
    ],
)
def test_bad_config_one_line_naming_key(data: object, message: str) -> None:
    """Every bad config is a single-line ConfigError that names the key."""
    with pytest.raises(ConfigError) as info:  # an unset secret variable: when first needed
        settings_from_mapping(data, "cfg.yaml", env={}).halo.check_secret()
    text = str(info.value)
    assert "\n" not in text and text.startswith("cfg.yaml: ") and message in text


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.0.0.2"])
def test_http_allowed_on_loopback(host: str) -> None:
    """http:// is accepted for loopback hosts (the sandbox)."""
    s = settings_from_mapping(
        {"halo": {"base_url": f"http://{host}:8765", "client_id": "x", "client_secret": "s"}}
    )
    assert s.halo.base_url.startswith("http://")


def test_yaml_error_has_position(tmp_path: Path) -> None:
    """Malformed YAML reports file:line:column."""
    path = write(tmp_path, "halo:\n  base_url: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config\.yaml:\d+:\d+:"):
        load_settings(path)


def test_missing_file(tmp_path: Path) -> None:
    """A missing config file is a clear error naming the path."""
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(tmp_path / "nope.yaml")


def test_find_config_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """--config wins, then $HALO_AUTOMATE_CONFIG, then ./config.yaml."""
    monkeypatch.setenv("HALO_AUTOMATE_CONFIG", "/env/c.yaml")
    assert find_config("/x.yaml") == Path("/x.yaml")
    assert find_config(None) == Path("/env/c.yaml")
    monkeypatch.delenv("HALO_AUTOMATE_CONFIG")
    assert find_config(None) == Path("config.yaml")


def test_example_config_is_valid() -> None:
    """The shipped config.example.yaml loads (with its secret variable set)."""
    root = Path(__file__).resolve().parent.parent
    s = load_settings(root / "config.example.yaml", env={"HALO_CLIENT_SECRET": "x"})
    assert s.halo.scope == "all" and s.halo.rate_limit.requests == 300
