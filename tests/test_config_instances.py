"""Several Halo instances in one config: ``instances:`` by name, ``default_instance``, the
single ``halo:`` block as the instance ``default``, selection by name, identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from halo_automate.config import load_settings, settings_from_mapping
from halo_automate.errors import ConfigError


def _halo(host: str, **extra: Any) -> dict[str, Any]:
    return {"base_url": f"https://{host}", "client_id": "id", "client_secret": "s", **extra}


def test_single_halo_block_is_the_default_instance() -> None:
    s = settings_from_mapping({"halo": _halo("acme.halopsa.com", tenant="acme")})
    assert s.instance_name == "default" and list(s.instances) == ["default"]
    assert s.halo.identity == "https://acme.halopsa.com tenant=acme"
    assert s.halo.host == "acme.halopsa.com"


def test_named_instances_select_the_default_and_by_name() -> None:
    s = settings_from_mapping(
        {
            "instances": {"prod": _halo("acme.halopsa.com"), "uat": _halo("uat.halopsa.com")},
            "default_instance": "prod",
        }
    )
    assert s.instance_name == "prod" and s.halo.base_url == "https://acme.halopsa.com"
    uat = s.select_instance("uat")
    assert uat.instance_name == "uat" and uat.halo.identity == "https://uat.halopsa.com"
    assert s.select_instance(None) is s
    with pytest.raises(ConfigError, match=r"no instance 'uta'.*did you mean 'uat'"):
        s.select_instance("uta")


def test_one_named_instance_needs_no_default() -> None:
    s = settings_from_mapping({"instances": {"only": _halo("a.example")}})
    assert s.instance_name == "only"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"instances": {"a": _halo("a.example"), "b": _halo("b.example")}},
            "default_instance: required when instances: names several",
        ),
        (
            {"instances": {"prod": _halo("a.example")}, "default_instance": "prd"},
            "default_instance: 'prd' is not one of instances:.*did you mean 'prod'",
        ),
        ({"halo": _halo("a.example"), "instances": {}}, "either halo:.*or instances:"),
        ({"instances": {"bad name": _halo("a.example")}}, "not a valid instance name"),
        ({"instances": {}}, "expected a mapping of name"),
        ({"halo": _halo("a.example"), "default_instance": "prod"}, "names no instance"),
        (
            {"instances": {"p": {**_halo("a.example"), "client_secert": "x"}}},
            r"instances\.p\.client_secert: unknown key",
        ),
    ],
)
def test_bad_instance_configs_are_one_line_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_mapping(data, "cfg.yaml", env={})


def test_an_unset_secret_of_one_instance_is_deferred(tmp_path: Path) -> None:
    """Commands that never talk to Halo load a config whose instance secret is unset; using
    that instance raises the error naming the key."""
    (tmp_path / "k.pem").write_text("x", encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(
        "instances:\n"
        "  prod: {base_url: https://a.example, client_id: i, client_secret: '${PROD_SECRET}',\n"
        "         client_assertion: {private_key_file: k.pem}}\n"
        "  uat: {base_url: https://b.example, client_id: i, client_secret: ok}\n"
        "default_instance: uat\n",
        encoding="utf-8",
    )
    s = load_settings(path, env={})
    s.halo.check_secret()
    prod = s.select_instance("prod")
    with pytest.raises(ConfigError, match=r"instances\.prod\.client_secret.*PROD_SECRET"):
        prod.halo.check_secret()
    assertion = prod.halo.client_assertion
    assert assertion is not None and assertion.private_key_file == tmp_path / "k.pem"
