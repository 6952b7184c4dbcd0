"""Config errors come all at once, each naming its key, with did-you-mean (issue 19.3)."""

from __future__ import annotations

import pytest

from halo_automate.config import settings_from_mapping
from halo_automate.errors import ConfigError


def test_every_problem_at_once_and_a_misspelt_required_key_is_named() -> None:
    data = {
        "halo": {
            "base_url": "http://acme.example",  # http off loopback
            "client_id": "x",
            "client_secert": "s",  # misspelt required key
            "page_size": 500,
        },
        "daemon": {"timezon": "UTC"},
    }
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(data, "cfg.yaml", env={})
    lines = str(caught.value).splitlines()
    assert len(lines) == 5, lines
    assert all(line.startswith("cfg.yaml: ") for line in lines)
    text = str(caught.value)
    assert "halo.base_url: http:// is only allowed on loopback" in text
    assert "halo.client_secert: unknown key (did you mean 'client_secret'?)" in text
    assert (
        "halo.client_secret: required key is missing (is 'client_secert' a misspelling of it?)"
        in text
    )
    assert "halo.page_size:" in text
    assert "daemon.timezon: unknown key (did you mean 'timezone'?)" in text


def test_one_problem_is_still_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({"halo": {"base_url": "https://a.example", "client_id": "x"}},
                              "cfg.yaml", env={})  # fmt: skip
    assert str(caught.value) == "cfg.yaml: halo.client_secret: required key is missing"
