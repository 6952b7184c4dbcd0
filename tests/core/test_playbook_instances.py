"""A playbook's `instances:` key (issue 12): validated while loading with file:line problems,
and read the same way by everyone who asks whether it may run on an instance."""

from __future__ import annotations

from pathlib import Path

import pytest

from halo_automate.core.instance_scope import (
    allowed_on,
    check_allowed,
    not_allowed_message,
    unknown_instances,
)
from halo_automate.core.lint import fighting_playbooks
from halo_automate.core.playbook import load_playbook_text, load_playbooks
from halo_automate.errors import ConfigError, PlaybookError

BODY = "actions:\n  - close: {}\n"
CORPUS = Path(__file__).resolve().parents[1] / "playbook_corpus" / "lint"


def load(instances_line: str) -> object:
    return load_playbook_text(f"name: p\n{instances_line}\n{BODY}", "p.yaml")


def test_no_key_allows_every_instance_and_a_list_only_its_names() -> None:
    """Without `instances:` a playbook runs anywhere; with it, only on the names listed."""
    anywhere = load_playbook_text(f"name: p\n{BODY}", "p.yaml")
    assert anywhere.instances is None and allowed_on(anywhere, "prod")
    uat = load_playbook_text(f"name: p\ninstances: [uat, qa]\n{BODY}", "p.yaml")
    assert uat.instances == ("uat", "qa")
    assert allowed_on(uat, "uat") and allowed_on(uat, "qa") and not allowed_on(uat, "prod")
    check_allowed(uat, "uat")
    with pytest.raises(ConfigError) as refused:
        check_allowed(uat, "prod")
    assert str(refused.value) == not_allowed_message(uat, "prod")
    assert "'p' is not allowed on instance 'prod'" in str(refused.value)
    assert "p.yaml:1:1" in str(refused.value) and "uat, qa" in str(refused.value)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("instances: []", "p.yaml:2:1: instances: an empty list allows no instance"),
        ("instances: [uat, uat]", "p.yaml:2:18: instances[1]: 'uat' is listed twice"),
        ('instances: ["a b"]', "p.yaml:2:13: instances[0]: 'a b' is not an instance name"),
        ("instances: uat", "p.yaml:2:1: instances: Input should be a valid list"),
        ("instances: [1]", "p.yaml:2:13: instances.0: Input should be a valid string"),
        ("instance: [uat]", "p.yaml:2:1: unknown key 'instance' (did you mean 'instances'?)"),
    ],
)
def test_a_bad_instances_key_is_a_file_line_problem(line: str, problem: str) -> None:
    """Each wrong `instances:` is refused at load time, pointing at the key or the item."""
    with pytest.raises(PlaybookError) as error:
        load(line)
    assert any(p.startswith(problem) for p in error.value.problems), error.value.problems


def test_unknown_instances_warns_per_name_the_config_lacks() -> None:
    """validate's warning names each listed instance the config does not have, at the
    playbook's name key, with the closest configured name."""
    books = [
        load_playbook_text(f"name: a\ninstances: [uta, prod]\n{BODY}", "a.yaml"),
        load_playbook_text(f"name: b\n{BODY}", "b.yaml"),
    ]
    [warning] = unknown_instances(books, ["prod", "uat"])
    assert str(warning) == (
        "a.yaml:1:1: warning [unknown-instance]: instances: 'uta' is not an instance of the "
        "config (did you mean 'uat'?) (instances: prod, uat)"
    )
    assert unknown_instances(books, ["prod", "uta"]) == []


@pytest.mark.parametrize(
    ("high", "low", "fight"),
    [
        (None, None, True),
        (("prod",), ("uat",), False),
        (("prod", "uat"), ("uat",), True),
        (None, ("uat",), True),
    ],
)
def test_playbooks_on_different_instances_do_not_fight(
    high: tuple[str, ...] | None, low: tuple[str, ...] | None, fight: bool
) -> None:
    """The fighting-playbooks lint pair (High vs Low priority) warns only when their
    `instances:` let them run on one Halo: on disjoint instances they never meet a ticket."""
    (raise_, lower), _ = load_playbooks(CORPUS / "fight_warns")
    pair = [
        raise_.model_copy(update={"instances": high}),
        lower.model_copy(update={"instances": low}),
    ]
    assert bool(fighting_playbooks(pair)) is fight
