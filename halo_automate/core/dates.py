"""Halo's date formats: 7 fractional digits, with or without ``Z``; naive means UTC.

``1900-01-01T00:00:00`` (and the time-only dummies ``1899-12-30``/``1901-01-01`` with a zero
time) mean *unset* and parse to ``None``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_UNSET_PREFIXES = ("1900-01-01", "0001-01-01")
_FRACTION = re.compile(r"\.(\d+)")


def parse_halo_date(value: object) -> datetime | None:
    """Parse a Halo date-time string to an aware UTC datetime; unset or empty gives None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    text = value.strip()
    if text.startswith(_UNSET_PREFIXES):
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python < 3.11 style parsers want at most 6 fractional digits; Halo sends 7.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_halo_date(value: datetime) -> str:
    """Format as Halo emits: UTC, 7 fractional digits, ``Z``."""
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


UNSET_DATE = "1900-01-01T00:00:00"
