"""What a notification says, as one value: :class:`Notice` (issue 16). Pure.

A notice is built once from what happened (a run's outcome and its plan, a decision on a
held plan, a playbook paused) and then shaped per channel
(:mod:`halo_automate.service.notify_payloads`): the playbook, the instance, the run, counts
(and changed tickets per client), the first few changes with each field's before → after,
and the link to the run's page in the web console. Ticket text (summaries, values) is
cleaned of control characters and cut short, so a hostile summary cannot forge lines in a
message; secrets never get here (the notifier also scrubs every configured secret from the
finished payload).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from halo_automate.core.outcome import RunOutcome
from halo_automate.core.plan import Plan
from halo_automate.sanitize import clean_text

TEXT_MAX = 120
"""Characters kept of a summary, value or message in a notice."""

TITLES = {
    "awaiting_approval": "waits for approval",
    "approved": "was approved",
    "rejected": "was rejected",
    "expired": "expired unapproved",
    "succeeded": "succeeded",
    "failed": "failed",
    "refused": "was refused",
    "partial": "partly applied",
    "interrupted": "was interrupted",
    "paused": "is paused",
}


def short(value: object, limit: int = TEXT_MAX) -> str:
    """``value`` as one clean line of at most ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(clean_text(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ChangeLine:
    """One ticket of the plan as a message lists it."""

    ticket_id: int
    client: str
    summary: str
    fields: tuple[tuple[str, str, str], ...]
    """(field, before, after), as short text."""
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notice:
    """One notification, whatever the channel (see the module docstring)."""

    event: str
    playbook: str
    instance: str
    run_id: str
    status: str
    at: str
    message: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    per_client: tuple[tuple[str, int], ...] = ()
    changes: tuple[ChangeLine, ...] = ()
    more_changes: int = 0
    link: str | None = None
    command: str | None = None
    """What a person runs next (``halo-automate approve RUN_ID`` for a waiting plan)."""
    expires_at: str | None = None

    @property
    def title(self) -> str:
        return f"{self.playbook} {TITLES.get(self.event, self.event)} ({self.instance})"

    def to_json(self) -> dict[str, Any]:
        """The generic webhook's body (``format`` and ``version`` name its shape)."""
        return {
            "format": "halo-automate/notification",
            "version": 1,
            "event": self.event,
            "playbook": self.playbook,
            "instance": self.instance,
            "run_id": self.run_id,
            "status": self.status,
            "at": self.at,
            "message": self.message,
            "counts": dict(self.counts),
            "per_client": dict(self.per_client),
            "changes": [
                {
                    "ticket_id": c.ticket_id,
                    "client": c.client,
                    "summary": c.summary,
                    "fields": {name: {"before": b, "after": a} for name, b, a in c.fields},
                    "actions": list(c.actions),
                }
                for c in self.changes
            ],
            "more_changes": self.more_changes,
            "link": self.link,
            "command": self.command,
            "expires_at": self.expires_at,
        }


def counts_of(outcome: RunOutcome) -> dict[str, int]:
    return {
        "scanned": outcome.scanned,
        "matched": outcome.matched,
        "planned": outcome.planned,
        "changed": outcome.changed,
        "skipped": outcome.skipped,
        "failed": outcome.failed,
    }


def plan_lines(
    plan: Plan | None, first: int
) -> tuple[tuple[tuple[str, int], ...], tuple[ChangeLine, ...], int]:
    """Changed tickets per client (most first), the first ``first`` changes, how many more."""
    if plan is None:
        return (), (), 0
    clients = Counter(short(c.client_name or "(no client)", 60) for c in plan.changes)
    per_client = tuple(sorted(clients.items(), key=lambda kv: (-kv[1], kv[0])))
    lines = tuple(
        ChangeLine(
            ticket_id=c.ticket_id,
            client=short(c.client_name or "(no client)", 60),
            summary=short(c.summary),
            fields=tuple(
                (name, short(fc.before, 40), short(fc.after, 40)) for name, fc in c.fields.items()
            ),
            actions=tuple(a.kind for a in c.actions),
        )
        for c in plan.changes[:first]
    )
    return per_client, lines, max(0, len(plan.changes) - first)


def notice_of(
    event: str,
    outcome: RunOutcome,
    plan: Plan | None,
    *,
    instance: str,
    at: str,
    link: str | None = None,
    first: int = 5,
    command: str | None = None,
    expires_at: str | None = None,
    message: str | None = None,
) -> Notice:
    """The notice of ``event`` about run ``outcome`` (of ``plan``, when it has one)."""
    per_client, lines, more = plan_lines(plan, first)
    text = message if message is not None else outcome.message
    return Notice(
        event=event,
        playbook=outcome.playbook,
        instance=instance,
        run_id=outcome.run_id,
        status=str(outcome.status),
        at=at,
        message=None if text is None else short(text, 400),
        counts=counts_of(outcome),
        per_client=per_client,
        changes=lines,
        more_changes=more,
        link=link,
        command=command,
        expires_at=expires_at,
    )
