"""The ``schedule`` key of a playbook, and durations (pure; validated by hand).

Two forms are accepted:

* a 5-field cron line ``minute hour day-of-month month day-of-week`` (``*``, ``a``, ``a-b``,
  ``*/n``, ``a-b/n``, ``a/n``, comma lists, month names ``jan``..``dec`` and day names
  ``sun``..``sat``; day-of-week 0 and 7 are Sunday, as in cron);
* ``every <n><unit>`` with unit ``s``, ``m``, ``h`` or ``d`` (at least 30 seconds).

The result is a small frozen :class:`Schedule`. Its :meth:`Schedule.trigger_kwargs` are ready
for APScheduler (``CronTrigger(**kwargs)`` / ``IntervalTrigger(**kwargs)``): every restricted
cron field is expanded to an explicit list, and days of the week are written as names, because
APScheduler numbers them from Monday (0) while cron numbers them from Sunday (0) — passing cron
numbers through would silently shift every weekly schedule by a day. Restricting both the
day of month and the day of week is refused: cron runs when *either* matches, APScheduler when
*both* do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MIN_INTERVAL_SECONDS = 5
MAX_INTERVAL_SECONDS = 366 * 86400  # APScheduler adds it to a date: huge ones overflow

_DURATION = re.compile(r"^\s*(\d{1,9})\s*([smhdw])\s*$")
_EVERY = re.compile(r"^\s*every\s+(\d{1,9})\s*([smhd])\s*$", re.IGNORECASE)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class _CronField:
    name: str  # APScheduler keyword
    label: str  # human name
    low: int
    high: int
    names: tuple[str, ...] = ()  # text aliases for low, low+1, ...


_FIELDS = (
    _CronField("minute", "minute", 0, 59),
    _CronField("hour", "hour", 0, 23),
    _CronField("day", "day of month", 1, 31),
    _CronField("month", "month", 1, 12, _MONTHS),
    _CronField("day_of_week", "day of week", 0, 7, _DAYS),
)


def parse_duration(text: object) -> timedelta:
    """Parse ``30d``, ``12h``, ``2w``, ``10m``, ``45s``; raise ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"a duration is text like '30d' or '12h', not {text!r}")
    found = _DURATION.match(text)
    if not found:
        raise ValueError(
            f"bad duration {text!r}: use a number and a unit s, m, h, d or w, e.g. '30d'"
        )
    amount, unit = int(found.group(1)), found.group(2)
    if amount <= 0:
        raise ValueError(f"bad duration {text!r}: it must be more than zero")
    return timedelta(seconds=amount * DURATION_UNITS[unit])


@dataclass(frozen=True)
class Schedule:
    """A validated schedule: either ``interval_seconds`` or the five expanded ``cron`` fields."""

    text: str
    interval_seconds: int | None = None
    cron: tuple[tuple[str, str], ...] = ()

    @property
    def kind(self) -> str:
        """``"interval"`` or ``"cron"``."""
        return "interval" if self.interval_seconds is not None else "cron"

    def trigger_kwargs(self) -> dict[str, str | int]:
        """Keyword arguments for APScheduler's IntervalTrigger (``seconds``) or CronTrigger."""
        if self.interval_seconds is not None:
            return {"seconds": self.interval_seconds}
        return dict(self.cron)


def parse_schedule(text: object) -> Schedule:
    """Validate a schedule string; raise ValueError with a message naming the bad part."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"schedule must be a cron line or 'every 10m', not {text!r}")
    every = _EVERY.match(text)
    if every:
        seconds = int(every.group(1)) * DURATION_UNITS[every.group(2).lower()]
        if seconds < MIN_INTERVAL_SECONDS:
            raise ValueError(
                f"schedule {text!r} is too frequent: at least every {MIN_INTERVAL_SECONDS}s"
            )
        if seconds > MAX_INTERVAL_SECONDS:
            raise ValueError(f"schedule {text!r}: run at least once a year")
        return Schedule(text=text.strip(), interval_seconds=seconds)
    if text.strip().lower().startswith("every"):
        raise ValueError(f"bad schedule {text!r}: write 'every <n><unit>', unit s, m, h or d")
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise ValueError(
            f"bad schedule {text!r}: a cron line has 5 fields (minute hour day month weekday), "
            f"this has {len(parts)}; or write 'every 10m'"
        )
    if parts[2] != "*" and parts[4] != "*":
        raise ValueError(
            f"schedule {text!r} restricts both day of month and day of week; cron would run on "
            "either, the scheduler only on both: restrict one of them"
        )
    cron = tuple((f.name, _expand(f, part)) for f, part in zip(_FIELDS, parts, strict=True))
    return Schedule(text=" ".join(parts), cron=cron)


def _expand(field: _CronField, text: str) -> str:
    """Expand one cron field to ``*`` or an explicit comma list (names for days of week)."""
    if text == "*":
        return "*"
    values: set[int] = set()
    for item in text.lower().split(","):
        values.update(_expand_item(field, item))
    if field.name == "day_of_week":
        days = sorted({v % 7 for v in values})
        return ",".join(_DAYS[d] for d in days)
    return ",".join(str(v) for v in sorted(values))


def _expand_item(field: _CronField, item: str) -> range:
    base, _, step_text = item.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) < 1:
            raise ValueError(f"bad step {step_text!r} in the {field.label} field")
        step = int(step_text)
    if base == "*":
        low, high = field.low, field.high
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = _value(field, first), _value(field, last)
        if low > high:
            raise ValueError(f"bad range {base!r} in the {field.label} field: {low} > {high}")
    else:
        low = _value(field, base)
        high = field.high if step_text else low
    return range(low, high + 1, step)


def _value(field: _CronField, text: str) -> int:
    if text in field.names:
        return field.low + field.names.index(text)
    if not text.isdigit():
        raise ValueError(f"bad value {text!r} in the {field.label} field")
    value = int(text)
    if not field.low <= value <= field.high:
        raise ValueError(
            f"{value} is outside the {field.label} field's range {field.low}-{field.high}"
        )
    return value
