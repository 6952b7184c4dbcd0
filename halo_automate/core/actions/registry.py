"""Every action kind, found by looking in this package: a module with a ``KIND`` is one.

Playbook parsing (which keys an ``actions`` entry may have), planning, the plan document
(which posted kinds a plan may hold), apply (which posted action carries field changes) and
the docs meta-test all read :data:`ACTION_KINDS` and :data:`POSTED_KINDS`. Adding a kind is one
module in this package (defining ``KIND``) plus its section in docs/playbooks.md.

Undo posts again an action an earlier undo deleted; that re-post is the posted kind
:data:`RESTORE` (no playbook writes it; engine/undo.py still spells it "restore" while the
journal's change kinds become typed).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from halo_automate.core.actions import base
from halo_automate.core.actions.base import ActionKind, PostedKind

RESTORE = PostedKind("restore")
"""An action an undo deleted, posted again by the undo of that undo."""


def _discover() -> list[ActionKind[Any]]:
    package = base.__name__.rpartition(".")[0]
    kinds: list[ActionKind[Any]] = []
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        module = importlib.import_module(f"{package}.{info.name}")
        kind = getattr(module, "KIND", None)
        if isinstance(kind, ActionKind):
            kinds.append(kind)
    keys = [k.key for k in kinds]
    if len(set(keys)) != len(keys):
        raise RuntimeError(f"two action kinds share a key: {sorted(keys)}")
    return sorted(kinds, key=lambda k: k.position)


ACTION_KINDS: Mapping[str, ActionKind[Any]] = MappingProxyType({k.key: k for k in _discover()})
"""Every playbook action kind by its YAML key, in documentation order."""

POSTED_KINDS: Mapping[str, PostedKind] = MappingProxyType(
    {p.name: p for p in (*(k.posts for k in ACTION_KINDS.values() if k.posts is not None), RESTORE)}
)
"""Every kind of action a plan may post (``ActionSpec.kind``)."""


def carries_fields(posted_kind: str) -> bool:
    """Whether a posted action of this kind itself changes ticket fields (a close)."""
    found = POSTED_KINDS.get(posted_kind)
    return found is not None and found.carries_fields
