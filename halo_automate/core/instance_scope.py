"""Which Halo instances a playbook may run on: its ``instances:`` key, read and enforced (the
key's own checks while loading are :mod:`halo_automate.core.instance_names`').

A playbook may restrict itself to instances named in the config (``instances: [uat]``); with
no such key it may run on every instance. This module owns what that means, so that the CLI
(``run``, ``plan`` refuse before any request), the runner (a guard before planning), the
daemon (serves a playbook only on the instances it allows) and ``validate`` (warns about a
name the config does not have) all read the restriction the same way. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from halo_automate.core.lint import LintWarning
from halo_automate.core.playbook import Playbook
from halo_automate.core.suggest import did_you_mean
from halo_automate.errors import ConfigError, one_line

UNKNOWN_INSTANCE = "unknown-instance"
"""The rule name of :func:`unknown_instances`' warnings."""


def allowed_on(playbook: Playbook, instance: str) -> bool:
    """Whether ``playbook`` may run on the instance named ``instance``."""
    return playbook.instances is None or instance in playbook.instances


def not_allowed_message(playbook: Playbook, instance: str) -> str:
    """The one line that says why ``playbook`` does not run on ``instance``."""
    names = ", ".join(playbook.instances or ())
    return one_line(
        f"playbook {playbook.name!r} is not allowed on instance {instance!r} (its instances: "
        f"{names}; {playbook.name_location}); choose one with --instance"
    )


def check_allowed(playbook: Playbook, instance: str) -> None:
    """Raise a ConfigError (exit 2) when ``playbook`` may not run on ``instance``."""
    if not allowed_on(playbook, instance):
        raise ConfigError(not_allowed_message(playbook, instance))


def unknown_instances(playbooks: Iterable[Playbook], known: Iterable[str]) -> list[LintWarning]:
    """A warning for each name in a playbook's ``instances:`` that the config does not have
    (the playbook would never run there; a typo, or a config that lost the instance)."""
    names = sorted(known)
    return [
        LintWarning(
            pb.name_location,
            UNKNOWN_INSTANCE,
            one_line(
                f"instances: {name!r} is not an instance of the config{did_you_mean(name, names)}"
                f" (instances: {', '.join(names)})"
            ),
        )
        for pb in playbooks
        for name in pb.instances or ()
        if name not in names
    ]
