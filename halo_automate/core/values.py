"""When two Halo values are the same value: the one equality of planning and applying.

The planner asks "does the ticket already hold the target?" (then it plans nothing), the stale
check asks "does the planned 'before' still hold?", and the read-back after an unknown outcome
asks "did the 'after' land?". All three compare a value read from Halo with one the plan holds,
so they use this one function: if they disagreed, a change the planner skipped as already made
could be read back as not landed (and re-sent), or the reverse. Pure: no I/O.
"""

from __future__ import annotations

_EMPTY = (None, "")


def same(a: object, b: object) -> bool:
    """Equality as Halo stores values: None and "" are both 'empty'; an int and its decimal
    text agree (Halo answers some ids as strings); otherwise plain equality."""
    if a in _EMPTY and b in _EMPTY:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if (isinstance(a, int | float) and isinstance(b, str)) or (
        isinstance(b, int | float) and isinstance(a, str)
    ):
        return str(a) == str(b)
    return bool(a == b)
