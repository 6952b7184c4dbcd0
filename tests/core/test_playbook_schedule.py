"""The schedule key and durations: cron and 'every' forms, and APScheduler-ready triggers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from halo_automate.core.schedule import Schedule, parse_duration, parse_schedule


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45),
        ("10m", 600),
        ("12h", 43200),
        ("30d", 2592000),
        ("2w", 1209600),
        (" 3d ", 259200),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    """A number and one unit s/m/h/d/w is a duration."""
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["3", "3 days", "d", "-1d", "0h", "1.5h", "3D", ""])
def test_bad_durations(text: str) -> None:
    """Anything else is a ValueError explaining the form."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_duration_must_be_text() -> None:
    """A bare number is refused (which unit would it be?)."""
    with pytest.raises(ValueError, match="is text"):
        parse_duration(3)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("every 10m", 600), ("every 2h", 7200), ("every 30s", 30), ("Every 1d", 86400)],
)
def test_every_schedules(text: str, seconds: int) -> None:
    """'every <n><unit>' gives an interval schedule usable by IntervalTrigger."""
    schedule = parse_schedule(text)
    assert schedule.kind == "interval"
    assert schedule.interval_seconds == seconds
    trigger = IntervalTrigger(**schedule.trigger_kwargs(), timezone=UTC)
    assert trigger.interval == timedelta(seconds=seconds)


CRON = [
    ("*/15 * * * *", {"minute": "0,15,30,45", "hour": "*", "day_of_week": "*"}),
    ("0 6 * * *", {"minute": "0", "hour": "6"}),
    ("30 2 * * 1-5", {"day_of_week": "mon,tue,wed,thu,fri"}),
    ("0 9 * * 0", {"day_of_week": "sun"}),
    ("0 9 * * 7", {"day_of_week": "sun"}),
    ("0 9 * * */2", {"day_of_week": "sun,tue,thu,sat"}),
    ("0 9 * * 5-7", {"day_of_week": "sun,fri,sat"}),
    ("0 9 * * SAT,sun", {"day_of_week": "sun,sat"}),
    ("0 9 1,15 jan-mar *", {"day": "1,15", "month": "1,2,3"}),
    ("5/20 0-6/3 * * *", {"minute": "5,25,45", "hour": "0,3,6"}),
]


@pytest.mark.parametrize(("text", "expected"), CRON)
def test_cron_expands_with_cron_weekday_numbering(text: str, expected: dict[str, str]) -> None:
    """Cron fields expand to explicit lists; weekdays use cron's numbering (0 = Sunday)."""
    schedule = parse_schedule(text)
    assert schedule.kind == "cron"
    kwargs = schedule.trigger_kwargs()
    for key, value in expected.items():
        assert kwargs[key] == value
    CronTrigger(**kwargs, timezone=UTC)  # APScheduler accepts it as it is


def test_cron_weekday_fires_on_the_cron_day() -> None:
    """'0 9 * * 1' fires on a Monday through APScheduler (not on Tuesday)."""
    trigger = CronTrigger(**parse_schedule("0 9 * * 1").trigger_kwargs(), timezone=UTC)
    sunday = datetime(2026, 11, 22, 12, tzinfo=UTC)
    fire = trigger.get_next_fire_time(None, sunday)
    assert fire == datetime(2026, 11, 23, 9, tzinfo=UTC)
    assert fire.strftime("%A") == "Monday"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("61 * * * *", "61 is outside the minute field's range 0-59"),
        ("* 24 * * *", "hour field"),
        ("* * 0 * *", "day of month field"),
        ("* * * 13 *", "month field"),
        ("* * * * 8", "day of week field"),
        ("* * * * *  *", "5 fields"),
        ("* * *", "5 fields"),
        ("*/0 * * * *", "bad step '0'"),
        ("*/x * * * *", "bad step 'x'"),
        ("5-1 * * * *", "bad range '5-1'"),
        ("x * * * *", "bad value 'x'"),
        ("0 0 1 * mon", "restricts both day of month and day of week"),
        ("every 10", "every <n><unit>"),
        ("every 4s", "too frequent"),
        ("every 2w", "every <n><unit>"),
        ("", "cron line"),
        ("@daily", "5 fields"),
    ],
)
def test_bad_schedules(text: str, message: str) -> None:
    """A bad schedule is a ValueError naming the field and the problem."""
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_schedule(text)


def test_schedule_must_be_text() -> None:
    """A number is not a schedule."""
    with pytest.raises(ValueError, match="cron line"):
        parse_schedule(15)


def test_schedule_is_a_frozen_value() -> None:
    """Schedules compare by value and cannot be changed."""
    assert parse_schedule("every 10m") == Schedule(text="every 10m", interval_seconds=600)
    with pytest.raises(AttributeError):
        parse_schedule("every 10m").text = "x"  # type: ignore[misc]
