"""The web: section: loopback unless allowed, argon2 hashes only, a user needed, URLs checked."""

from __future__ import annotations

from typing import Any

import pytest

from halo_automate.config import settings_from_mapping
from halo_automate.errors import ConfigError

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def load(**web: Any) -> Any:
    data = {
        "halo": {"base_url": "https://halo.example", "client_id": "id", "client_secret": "x"},
        "web": {"users": {"alice": HASH}, **web},
    }
    return settings_from_mapping(data, env={})


def test_the_defaults_listen_on_loopback_port_8780() -> None:
    web = load().web
    assert (web.host, web.port, web.allow_remote) == ("127.0.0.1", 8780, False)
    assert web.secure_cookies is False


def test_no_web_section_means_no_console() -> None:
    data = {"halo": {"base_url": "https://halo.example", "client_id": "id", "client_secret": "x"}}
    assert settings_from_mapping(data, env={}).web is None


def test_a_remote_address_needs_allow_remote() -> None:
    with pytest.raises(ConfigError, match="not a loopback address"):
        load(listen="0.0.0.0:8780")
    assert load(listen="0.0.0.0:8780", allow_remote=True).web.host == "0.0.0.0"  # noqa: S104


@pytest.mark.parametrize("listen", ["8780", "localhost:http", "127.0.0.1:99999"])
def test_listen_must_be_host_and_port(listen: str) -> None:
    with pytest.raises(ConfigError, match="host:port"):
        load(listen=listen)


def test_a_plain_password_is_refused() -> None:
    with pytest.raises(ConfigError, match="argon2 hash"):
        load(users={"alice": "hunter2"})


def test_at_least_one_user_is_needed() -> None:
    with pytest.raises(ConfigError, match="hash-password"):
        load(users={})


def test_an_https_public_url_makes_cookies_secure() -> None:
    web = load(public_url="https://halo-automate.example/").web
    assert web.public_url == "https://halo-automate.example"
    assert web.secure_cookies is True


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="web"):
        load(pasword="x")
