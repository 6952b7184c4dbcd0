"""Did-you-mean hints for unknown names (keys, fields, filters, lookup values)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` when none is close."""
    pool = list(choices)
    lowered = {c.lower(): c for c in pool}
    if name.lower() in lowered and lowered[name.lower()] != name:
        return f" (did you mean '{lowered[name.lower()]}'?)"
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean '{lowered[close[0]]}'?)" if close else ""


def closest_hint(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ``" (did you mean 'x'?)"`` or ``" (did you mean 'x', 'y' or 'z'?)"`` for the
    closest choices (at most ``n``), or ``""`` when none is close."""
    pool = list(choices)
    lowered = {c.lower(): c for c in pool}
    exact = lowered.get(name.lower())
    if exact is not None and exact != name:
        return f" (did you mean '{exact}'?)"
    close = [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered), n, 0.6)]
    if not close:
        return ""
    quoted = [f"'{c}'" for c in close]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f" (did you mean {listed}?)"


FIELD_ALIASES = {
    "subject": "summary", "title": "summary", "created": "dateoccurred",
    "created_at": "dateoccurred", "opened": "dateoccurred", "date": "dateoccurred",
    "updated": "last_update", "modified": "last_update", "last_updated": "last_update",
    "last_modified": "last_update", "description": "details", "body": "details",
    "email": "user_email", "from": "user_email", "sender": "user_email",
    "requester": "user_name", "customer": "client_name", "company": "client_name",
    "client": "client_name", "assignee": "agent_id", "technician": "agent_id",
    "agent": "agent_id", "status": "status_id", "state": "status_id", "type": "tickettype_id",
    "category": "category_1", "last_action": "lastactiondate", "site": "site_name",
    "priority": "priority_id",
}  # fmt: skip
"""The words people use for a ticket field -> Halo's name for it (docs/playbooks.md)."""


def field_hint(name: str, choices: Iterable[str]) -> str:
    """``" (Halo calls it 'summary')"`` for a word people use for a Halo field, else the
    closest choice as :func:`did_you_mean` says it."""
    pool = list(choices)
    alias = FIELD_ALIASES.get(name.lower())
    if alias is not None and alias in pool:
        return f" (Halo calls it '{alias}')"
    return did_you_mean(name, pool)
