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
