"""Incremental scheduled runs: when a run may read only the tickets updated since its last
read, and how to tell that Halo really filtered by the last update (issue 15).

A scheduled run re-reading every ticket its ``select`` matches is most of a tenant's request
budget. After a playbook's first full read, its scheduled runs can ask Halo only for the
tickets updated since the last successful read (its *watermark*, minus a margin for clock
skew), through Halo's date filter on the last-update column. That filter is unverified (FACTS
§2.3, §9.10), so this module names the candidate forms (:data:`LAST_UPDATE_FORMS`, which
``doctor`` probes too) and the checks a read must pass before it is trusted
(:func:`window_problem`): every row's ``last_update`` inside the window, and a count that is
not the whole set.

:func:`decide` is the policy, pure (``now`` is passed in). A run reads everything when:

* it is not scheduled (a manual ``run``, ``plan``, a webhook run reads what it names);
* incremental reads are off (``reads.incremental: false``) or the playbook has no watermark
  for this instance yet (its first read);
* the playbook changed since its watermark (another ``select`` or ``where`` may match tickets
  nobody updated), or its query did (a name now resolving to another id);
* its full sweep is due (``full_sweep``: ``daily`` by default; ``always``, ``never``, a
  duration such as ``6h``);
* its ``where`` depends on time (``older_than`` / ``newer_than``): a ticket starts to match
  because time passes, without any update, so an updated-since read would never see it.
  Such playbooks read in full on every run (docs/incremental.md says why not a date window).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from halo_automate.core.conditions import Check, Group, Node
from halo_automate.core.dates import format_halo_date, parse_halo_date
from halo_automate.core.schedule import parse_duration

LAST_UPDATE_FORMS: tuple[tuple[str, Mapping[str, str]], ...] = (
    ("lastupdatefromdate", {"lastupdatefromdate": "{cutoff}"}),
    ("datesearch=lastupdate", {"datesearch": "lastupdate", "startdate": "{cutoff}"}),
    ("datesearch=last_update", {"datesearch": "last_update", "startdate": "{cutoff}"}),
)
"""Candidate forms of "updated since" (SW2 lists ``lastupdatefromdate``; ``datesearch``
takes a DB column whose name for the last update is undocumented), tried in this order."""

TIME_OPERATORS = frozenset({"older_than", "newer_than"})
"""Operators whose verdict changes as time passes, without any update to the ticket."""

SWEEP_WORDS = {
    "always": timedelta(0),
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
}
NEVER = "never"


def parse_sweep(text: object) -> timedelta | None:
    """``full_sweep``: a word (always, hourly, daily, weekly, never) or a duration (``6h``);
    None means never. ValueError with the accepted forms otherwise."""
    if isinstance(text, str):
        word = text.strip().lower()
        if word == NEVER:
            return None
        if word in SWEEP_WORDS:
            return SWEEP_WORDS[word]
    try:
        return parse_duration(text)
    except ValueError:
        words = ", ".join([*SWEEP_WORDS, NEVER])
        raise ValueError(
            f"{text!r} is not a sweep interval: use one of {words} or a duration such as '6h'"
        ) from None


def form_params(form: Mapping[str, str], since: datetime) -> dict[str, str]:
    """The query parameters of one last-update form for "updated at or after ``since``"."""
    return {k: v.format(cutoff=format_halo_date(since)) for k, v in form.items()}


def time_dependent(node: Node | None) -> bool:
    """Whether a ``where`` can start matching a ticket without the ticket changing."""
    if node is None:
        return False
    if isinstance(node, Check):
        return node.op in TIME_OPERATORS
    assert isinstance(node, Group)
    return any(time_dependent(child) for child in node.children)


def query_key(query: Mapping[str, str]) -> str:
    """A stable text of a ticket query (what a watermark was read with)."""
    return "&".join(f"{k}={v}" for k, v in sorted(query.items()))


@dataclass(frozen=True)
class Watermark:
    """A playbook's last successful read on one instance: when it began, with which
    playbook version and query, and when its last full read was."""

    playbook: str
    instance: str
    read_at: datetime
    full_at: datetime
    playbook_hash: str
    query: str
    full_count: int  # tickets the last full read returned (the "whole set" of the query)


@dataclass(frozen=True)
class ReadDecision:
    """How a run reads: everything (``since`` None) or updated since ``since``; ``reason``
    says why (logged, and shown by the bench)."""

    since: datetime | None
    reason: str
    whole: int | None = None  # the whole set's size at the last full read

    @property
    def incremental(self) -> bool:
        return self.since is not None


def decide(
    *,
    scheduled: bool,
    enabled: bool,
    watermark: Watermark | None,
    playbook_hash: str,
    query: str,
    where: Node | None,
    sweep: timedelta | None,
    skew: timedelta,
    now: datetime,
) -> ReadDecision:
    """How this run reads (see the module docstring)."""
    if not scheduled:
        return ReadDecision(None, "not a scheduled run")
    if not enabled:
        return ReadDecision(None, "incremental reads are off")
    if time_dependent(where):
        return ReadDecision(None, "time-dependent conditions (older_than/newer_than)")
    if watermark is None:
        return ReadDecision(None, "first read")
    if watermark.playbook_hash != playbook_hash:
        return ReadDecision(None, "the playbook changed")
    if watermark.query != query:
        return ReadDecision(None, "the query changed")
    if sweep is not None and now - watermark.full_at >= sweep:
        return ReadDecision(None, "full sweep due")
    return ReadDecision(
        watermark.read_at - skew, "updated since the last read", watermark.full_count
    )


def window_problem(
    rows: Iterable[Mapping[str, Any]], since: datetime, count: int, whole: int | None
) -> tuple[str, bool] | None:
    """Why a read asked for tickets updated since ``since`` cannot be trusted, or None.

    ``(reason, proof)``: ``proof`` is True when a row shows Halo did not filter on the last
    update (one updated before ``since``, or without a readable ``last_update``); False when
    only the count is suspicious (``count`` reaches the ``whole`` set the last full read saw,
    which a tenant where everything changed can show too)."""
    for row in rows:
        try:
            stamp = parse_halo_date(row.get("last_update"))
        except ValueError:
            stamp = None
        if stamp is None:
            return f"ticket {row.get('id')} has no readable last_update", True
        if stamp < since:
            return (
                f"ticket {row.get('id')} was last updated {format_halo_date(stamp)}, before "
                f"{format_halo_date(since)}",
                True,
            )
    if whole is not None and whole > 0 and count >= whole:
        return f"{count} tickets: the whole set (the last full read saw {whole})", False
    return None
