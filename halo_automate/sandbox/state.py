"""The sandbox's in-memory store, and its JSON save/load for ``--state``.

Tickets are stored as the dicts the API serves (list rows and detail objects are read
straight from them), keyed by id in ascending id order. Planted markers live beside the
tickets, never inside them, so the API cannot leak them.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLANTED_KINDS = (
    "spam", "retired", "uncategorised", "lookalike",
    "duplicate", "duplicate_survivor", "duplicate_lookalike",
)  # fmt: skip
LINK_DEFAULTS = {"parent_id": 0, "merged_into_id": 0}
"""Link fields every ticket carries (a state saved before they existed gets these)."""
STATE_FORMAT = 1

Record = dict[str, Any]


@dataclass(frozen=True)
class Behaviour:
    """How this sandbox's Halo behaves where tenants differ or the truth is unknown.

    * ``omit_unset`` (default on, as real Halo: FACTS.md §9.2, a live list row had no
      ``hasbeenclosed``/``dateclosed``/``category_2``..``4``/``deleted`` keys): list rows leave
      out fields that are unset (null, "", the unset date, false);
    * ``partial_commit`` (FACTS.md §3.1/§9.5: unknown whether Halo does it): a multi-element
      POST rejected at element *k* keeps the elements before *k* applied;
    * ``mandatory``: ticket type id -> fields a close requires (FACTS.md §9.4, HaloAPI #21);
    * ``cab_types``: ticket types whose close needs a CAB approval (n8n's ``APP03/2``);
    * ``date_filter`` (default on): ``datesearch`` + ``startdate``/``enddate`` filter the
      tickets (FACTS.md §2.3); off, they are ignored like any unknown filter, as a tenant
      that does not honour them would (incremental runs must then fall back to full reads).
    """

    omit_unset: bool = True
    partial_commit: bool = False
    mandatory: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    cab_types: frozenset[int] = frozenset()
    date_filter: bool = True


@dataclass
class SandboxState:
    """Clients, sites, users, tickets and actions, plus what was planted where.

    ``version`` goes up on every write; list queries are cached per version, so code that
    edits ``tickets`` directly must bump ``version`` for lists to see the edit (tests call
    ``SandboxServer.edit_ticket``, which does).
    """

    clients: list[Record]
    sites: list[Record]
    users: list[Record]
    tickets: dict[int, Record]
    actions: defaultdict[int, list[Record]] = field(default_factory=lambda: defaultdict(list))
    action_seq: dict[int, int] = field(default_factory=dict)
    planted: dict[str, set[int]] = field(default_factory=dict)
    seed: int = 0
    version: int = 0
    behaviour: Behaviour = field(default_factory=Behaviour)
    """Not saved with the state: set from the server's options at every start."""
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Indexes computed from the tickets, each kept with the ``version`` it was built at."""

    def __post_init__(self) -> None:
        self.clients_by_id = {c["id"]: c for c in self.clients}
        self.sites_by_id = {s["id"]: s for s in self.sites}
        self.users_by_id = {u["id"]: u for u in self.users}
        for kind in PLANTED_KINDS:
            self.planted.setdefault(kind, set())

    @property
    def next_ticket_id(self) -> int:
        return max(self.tickets, default=0) + 1

    def next_action_id(self, ticket_id: int) -> int:
        """Actions are numbered per ticket, 1, 2, 3 ...; a deleted number is never reused."""
        current = self.action_seq.get(ticket_id)
        if current is None:
            current = max((a["id"] for a in self.actions.get(ticket_id, ())), default=0)
        self.action_seq[ticket_id] = current + 1
        return current + 1

    def live_ticket(self, ticket_id: int) -> Record | None:
        ticket = self.tickets.get(ticket_id)
        return ticket if ticket is not None and not ticket["deleted"] else None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "seed": self.seed,
            "clients": self.clients,
            "sites": self.sites,
            "users": self.users,
            "tickets": list(self.tickets.values()),
            "actions": {str(k): v for k, v in self.actions.items() if v},
            "action_seq": {str(k): v for k, v in self.action_seq.items()},
            "planted": {k: sorted(v) for k, v in self.planted.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxState:
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"unsupported sandbox state format {data.get('format')!r}")
        tickets = [
            {**LINK_DEFAULTS, **t} for t in sorted(data["tickets"], key=lambda t: int(t["id"]))
        ]
        actions: defaultdict[int, list[Record]] = defaultdict(list)
        actions.update({int(k): v for k, v in data["actions"].items()})
        return cls(
            clients=data["clients"],
            sites=data["sites"],
            users=data["users"],
            tickets={int(t["id"]): t for t in tickets},
            actions=actions,
            action_seq={int(k): int(v) for k, v in data["action_seq"].items()},
            planted={k: set(v) for k, v in data["planted"].items()},
            seed=int(data.get("seed", 0)),
        )

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a state."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> SandboxState:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
