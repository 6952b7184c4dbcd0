"""When a scheduled run may read only the tickets updated since its last read, and when an
updated-since answer is trusted (core/incremental.py, issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from halo_automate.core.conditions import parse_where
from halo_automate.core.dates import format_halo_date
from halo_automate.core.incremental import (
    Watermark,
    decide,
    form_params,
    parse_sweep,
    query_key,
    time_dependent,
    window_problem,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
QUERY = query_key({"open_only": "true"})


def mark(**changes: Any) -> Watermark:
    fields: dict[str, Any] = {
        "playbook": "pb", "instance": "default", "read_at": NOW - timedelta(minutes=15),
        "full_at": NOW - timedelta(hours=2), "playbook_hash": "h1", "query": QUERY,
        "full_count": 700,
    }  # fmt: skip
    return Watermark(**{**fields, **changes})


def decision(watermark: Watermark | None = None, **kw: Any) -> Any:
    where = kw.pop("where", None)
    args: dict[str, Any] = {
        "scheduled": True, "enabled": True, "watermark": watermark, "playbook_hash": "h1",
        "query": QUERY, "where": parse_where(where)[0] if where else None,
        "sweep": timedelta(days=1), "skew": timedelta(minutes=2), "now": NOW,
    }  # fmt: skip
    return decide(**{**args, **kw})


def test_a_scheduled_run_after_a_full_read_reads_since_its_watermark_less_the_skew() -> None:
    d = decision(mark())
    assert d.incremental
    assert d.since == NOW - timedelta(minutes=17)
    assert d.whole == 700


@pytest.mark.parametrize(
    ("watermark", "kw", "reason"),
    [
        (mark(), {"scheduled": False}, "not a scheduled run"),
        (mark(), {"enabled": False}, "incremental reads are off"),
        (None, {}, "first read"),
        (mark(playbook_hash="h0"), {}, "the playbook changed"),
        (mark(query="open_only=false"), {}, "the query changed"),
        (mark(full_at=NOW - timedelta(days=1)), {}, "full sweep due"),
        (mark(), {"sweep": timedelta(0)}, "full sweep due"),
        (mark(), {"where": {"lastactiondate": {"older_than": "3d"}}},
         "time-dependent conditions (older_than/newer_than)"),
        (mark(), {"where": {"not": [{"dateoccurred": {"newer_than": "1h"}}]}},
         "time-dependent conditions (older_than/newer_than)"),
    ],
)  # fmt: skip
def test_these_runs_read_everything(watermark: Any, kw: dict[str, Any], reason: str) -> None:
    d = decision(watermark, **kw)
    assert not d.incremental
    assert d.reason == reason


def test_a_sweep_of_never_keeps_reading_incrementally() -> None:
    assert decision(mark(full_at=NOW - timedelta(days=400)), sweep=None).incremental


def test_time_dependence_is_found_anywhere_in_the_tree() -> None:
    assert not time_dependent(None)
    assert not time_dependent(parse_where({"summary": {"contains": "x"}})[0])
    nested = {"any": [{"summary": {"contains": "x"}}, {"dateoccurred": {"older_than": "1d"}}]}
    assert time_dependent(parse_where(nested)[0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("always", timedelta(0)), ("hourly", timedelta(hours=1)), ("daily", timedelta(days=1)),
     ("Weekly", timedelta(weeks=1)), ("6h", timedelta(hours=6)), ("never", None)],
)  # fmt: skip
def test_full_sweep_forms(text: str, expected: timedelta | None) -> None:
    assert parse_sweep(text) == expected


@pytest.mark.parametrize("text", ["sometimes", "0h", "", 5])
def test_a_bad_full_sweep_names_the_forms(text: object) -> None:
    with pytest.raises(ValueError, match="always, hourly, daily, weekly, never"):
        parse_sweep(text)


def test_form_params_put_the_cutoff_in_halos_date_form() -> None:
    since = datetime(2026, 3, 2, 11, 43, 5, tzinfo=UTC)
    params = form_params({"datesearch": "last_update", "startdate": "{cutoff}"}, since)
    assert params == {"datesearch": "last_update", "startdate": "2026-03-02T11:43:05.0000000Z"}


def row(ticket_id: int, updated: datetime | None) -> dict[str, Any]:
    return {"id": ticket_id, "last_update": format_halo_date(updated) if updated else None}


def test_an_answer_inside_the_window_and_narrower_than_the_whole_is_trusted() -> None:
    since = NOW - timedelta(minutes=17)
    assert window_problem([row(1, since), row(2, NOW)], since, 2, 700) is None
    assert window_problem([], since, 0, 700) is None
    assert window_problem([row(1, NOW)], since, 1, None) is None  # no whole known yet


def test_a_row_updated_before_the_window_proves_the_filter_was_not_applied() -> None:
    since = NOW - timedelta(minutes=17)
    reason, proof = window_problem([row(1, NOW), row(2, since - timedelta(seconds=1))],
                                   since, 2, 700) or ("", False)  # fmt: skip
    assert proof and "ticket 2 was last updated" in reason


def test_a_row_without_a_last_update_cannot_be_verified() -> None:
    reason, proof = window_problem([row(3, None)], NOW, 1, 700) or ("", False)
    assert proof and "ticket 3 has no readable last_update" in reason
    reason, proof = window_problem([{"id": 4, "last_update": "soon"}], NOW, 1, 700) or ("", 0)
    assert proof


def test_a_count_reaching_the_whole_set_is_suspect_but_no_proof() -> None:
    reason, proof = window_problem([row(1, NOW)], NOW, 700, 700) or ("", True)
    assert not proof and "the whole set" in reason
