"""What a Halo instance name is, and what a playbook's ``instances:`` list may hold.

Kept apart from :mod:`halo_automate.core.instance_scope` (which reads loaded playbooks) so
that :mod:`halo_automate.core.playbook` can check the key while loading without an import
cycle. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

INSTANCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
"""A valid instance name (the same rule as the config's ``instances:`` keys)."""


def instances_problems(value: Sequence[str]) -> list[tuple[int | None, str]]:
    """What is wrong with a playbook's ``instances:`` list: (index or None, message)."""
    if not value:
        return [(None, "instances: an empty list allows no instance; remove the key to allow all")]
    problems: list[tuple[int | None, str]] = []
    seen: set[str] = set()
    for i, name in enumerate(value):
        if not INSTANCE_NAME.match(name):
            problems.append((i, f"instances[{i}]: {name!r} is not an instance name "
                                "(letters, digits, . _ -)"))  # fmt: skip
        elif name in seen:
            problems.append((i, f"instances[{i}]: {name!r} is listed twice"))
        seen.add(name)
    return problems
