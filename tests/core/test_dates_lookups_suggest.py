"""Pure helpers of the core: Halo dates, lookups and did-you-mean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from halo_automate.core.dates import format_halo_date, parse_halo_date
from halo_automate.core.lookups import Lookups
from halo_automate.core.suggest import did_you_mean
from halo_automate.errors import LookupMissError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-20T14:45:15.9746271Z", datetime(2024, 6, 20, 14, 45, 15, 974627, tzinfo=UTC)),
        ("2024-06-21T10:45:15.975Z", datetime(2024, 6, 21, 10, 45, 15, 975000, tzinfo=UTC)),
        ("2026-10-06T04:19:13.287", datetime(2026, 10, 6, 4, 19, 13, 287000, tzinfo=UTC)),
        ("2026-10-06T04:19:13", datetime(2026, 10, 6, 4, 19, 13, tzinfo=UTC)),
        ("2026-10-06T06:19:13+02:00", datetime(2026, 10, 6, 4, 19, 13, tzinfo=UTC)),
        ("1900-01-01T00:00:00", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_halo_dates(text: str | None, expected: datetime | None) -> None:
    """Every Halo date style parses to aware UTC; the 1900 sentinel means unset."""
    assert parse_halo_date(text) == expected


def test_parse_rejects_non_dates() -> None:
    """A non-string, non-date value is a ValueError, not a silent None."""
    with pytest.raises(ValueError, match="not a date"):
        parse_halo_date(42)
    naive = datetime(2024, 1, 1, 12)
    assert parse_halo_date(naive) == naive.replace(tzinfo=UTC)


def test_format_round_trips() -> None:
    """Formatting gives Halo's 7-digit Z style and parses back to the same instant."""
    value = datetime(2024, 6, 20, 14, 45, 15, 974627, tzinfo=timezone(timedelta(hours=2)))
    text = format_halo_date(value)
    assert text == "2024-06-20T12:45:15.9746270Z"
    assert parse_halo_date(text) == value
    assert format_halo_date(datetime(2024, 1, 1)).endswith("Z")


def test_lookups_resolve() -> None:
    """Names resolve case-insensitively, ids and numeric strings too; misses suggest."""
    lk = Lookups.from_rows(
        statuses=[{"id": 1, "name": "New"}, {"id": 9, "name": "Closed"}, {"id": "bad"}],
        categories={1: [{"id": 4, "value": "Hardware>Laptop"}]},
        outcomes=[{"id": 7, "outcome": "Internal Note"}],
    )
    assert lk.statuses.resolve("closed").id == 9
    assert lk.statuses.resolve(1).name == "New"
    assert lk.statuses.resolve("9").name == "Closed"
    assert lk.statuses.name_of(9) == "Closed" and lk.statuses.name_of(None) is None
    assert len(lk.statuses) == 2 and "status" in repr(lk.statuses)
    assert lk.category(1).resolve("HARDWARE>LAPTOP").id == 4
    assert len(lk.category(3)) == 0
    with pytest.raises(LookupMissError, match="did you mean 'Closed'"):
        lk.statuses.resolve("Closd")
    with pytest.raises(LookupMissError):
        lk.statuses.resolve(True)
    with pytest.raises(LookupMissError):
        lk.statuses.resolve(5)


def test_did_you_mean() -> None:
    """Close names and case-only differences are suggested; distant ones are not."""
    assert did_you_mean("open_onyl", ["open_only", "closed_only"]) == " (did you mean 'open_only'?)"
    assert did_you_mean("Status", ["status"]) == " (did you mean 'status'?)"
    assert did_you_mean("zzzz", ["status"]) == ""
