"""The ``history`` table, fitted to the console's width, and the run statuses' colours.

A table of eleven columns cut to "pl…" at 80 columns helps nobody: :func:`history_table`
tries the full table, then drops or shortens what matters least (the trigger, skipped and
requests, the undo's run id, the seconds and year of the start, the mode, the instance, failed,
"undone" down to a mark)
until it fits, so run, playbook, when, status and changed stay whole at 80 columns and
nothing wraps at 120. The status is coloured (refused and failed red, partial and
interrupted yellow) so a run that needs a look stands out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from halo_automate.sanitize import clean_text
from halo_automate.store.journal import RunRow

Undone = Mapping[str, Sequence[str]]

STATUS_STYLES = {
    "succeeded": "green",
    "previewed": "cyan",
    "running": "blue",
    "partial": "bold yellow",
    "interrupted": "bold yellow",
    "refused": "bold red",
    "failed": "bold red",
}


def status_text(status: str, suffix: str = "") -> Text:
    """A run's status in its colour (``suffix``, such as an undo mark, plain after it)."""
    text = Text(clean_text(status), style=STATUS_STYLES.get(status, ""))
    if suffix:
        text.append(suffix)
    return text


@dataclass(frozen=True)
class _Shape:
    """Which columns a variant of the table has, and how long its cells are."""

    trigger: bool = True
    counts: bool = True  # skipped and requests
    undo: str = "ids"  # "(undone by <run id>)", ", undone", or "*" with a caption
    long_date: bool = True
    mode: bool = True
    instance: bool = True
    failed: bool = True


_NARROW = _Shape(trigger=False, counts=False, undo="word", long_date=False)
_SHAPES = (
    _Shape(),
    _Shape(trigger=False),
    _Shape(trigger=False, counts=False),
    _Shape(trigger=False, counts=False, undo="word"),
    _NARROW,
    replace(_NARROW, mode=False),
    replace(_NARROW, mode=False, instance=False),
    replace(_NARROW, mode=False, instance=False, failed=False),
    replace(_NARROW, mode=False, instance=False, failed=False, undo="mark"),
)
_UNDO_MARK = "* undone by a later run (show RUN names it)"


def _when(when: datetime | str, long: bool) -> str:
    if not isinstance(when, datetime):
        return clean_text(when)  # stored text that is not a date, as it is
    return f"{when:%Y-%m-%d %H:%M:%S}" if long else f"{when:%m-%d %H:%M}"


def _status(run: RunRow, undone: Undone, undo: str) -> Text:
    by = undone.get(run.run_id)
    if not by:
        return status_text(run.status)
    marks = {"ids": f" (undone by {', '.join(by)})", "word": ", undone", "mark": "*"}
    return status_text(run.status, marks[undo])


def _table(runs: Sequence[RunRow], undone: Undone, shape: _Shape) -> Table:
    title = "halo-automate runs (newest first)"
    marked = shape.undo == "mark" and any(r.run_id in undone for r in runs)
    table = Table(
        title=title,
        caption=_UNDO_MARK if marked else None,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    cells: list[tuple[str, Callable[[RunRow], str | Text], bool]] = [
        ("run", lambda r: r.run_id, True),
        ("instance", lambda r: clean_text(r.instance_name), shape.instance),
        ("playbook", lambda r: clean_text(r.playbook), True),
        ("mode", lambda r: r.mode, shape.mode),
        ("trigger", lambda r: clean_text(r.trigger), shape.trigger),
        ("started", lambda r: _when(r.started_at, shape.long_date), True),
        ("status", lambda r: _status(r, undone, shape.undo), True),
        ("changed", lambda r: _changed(r, shape.mode), True),
        ("skipped", lambda r: str(r.counts.skipped), shape.counts),
        ("failed", lambda r: str(r.counts.failed), shape.failed),
        ("requests", lambda r: str(r.counts.requests), shape.counts),
    ]
    shown = [(name, get) for name, get, keep in cells if keep]
    numeric = {"changed", "skipped", "failed", "requests"}
    for name, _ in shown:
        table.add_column(
            name,
            no_wrap=name != "playbook",
            overflow="fold" if name == "playbook" else "ellipsis",
            justify="right" if name in numeric else "left",
        )
    for run in runs:
        table.add_row(*(get(run) for _, get in shown))
    return table


def _changed(run: RunRow, long: bool) -> str:
    """Tickets written; a preview's planned count (marked "planned" where the mode column
    does not say it is a preview)."""
    c = run.counts
    if run.mode != "preview":
        return str(c.done)
    return f"{c.planned} planned" if long else str(c.planned)


def history_table(
    runs: Sequence[RunRow], undone: Undone | None = None, console: Console | None = None
) -> Table:
    """The widest variant of the table that fits ``console`` (every column without one)."""
    undone = undone or {}
    if console is None:
        return _table(runs, undone, _SHAPES[0])
    unbounded = console.options.update_width(10_000)  # measure what the table wants
    table = _table(runs, undone, _SHAPES[0])
    for shape in _SHAPES:
        table = _table(runs, undone, shape)
        if Measurement.get(console, unbounded, table).maximum <= console.width:
            break
    return table
