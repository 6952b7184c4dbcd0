"""The daemon in-process: triggers, loading and reload, runs and their faults, metrics, health,
stop. The runner is a fake here; tests/service/test_daemon_process.py runs the real service
over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from halo_automate.config import DaemonSettings, HaloSettings, Settings
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.playbook import Playbook
from halo_automate.core.schedule import parse_schedule
from halo_automate.errors import (
    ConfigError,
    ExitCode,
    HaloAuthError,
    HaloAutomateError,
    HaloUnavailableError,
    LockedError,
    PlaybookError,
    RefusedError,
)
from halo_automate.service.daemon import Daemon
from halo_automate.service.folder import folder_snapshot, load_folder
from halo_automate.service.health import parse_health_address
from halo_automate.service.metrics import RUN_RESULTS, FinishedRun, Metrics, label_value
from halo_automate.service.triggers import job_options, make_trigger, resolve_timezone

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday
ON = 'halo_instance="default"'  # every series names its instance (issue 12)


def playbook_yaml(name: str, schedule: str | None = "every 5m", mode: str = "apply") -> str:
    lines = [f"name: {name}", f"mode: {mode}", "actions:", "  - close: {}"]
    if schedule:
        lines.insert(1, f'schedule: "{schedule}"')
    return "\n".join(lines) + "\n"


def write(folder: Path, filename: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / filename
    path.write_text(text, encoding="utf-8")
    return path


def outcome(name: str, status: str = "succeeded", **counts: Any) -> RunOutcome:
    return RunOutcome(f"run-{name}", name, "apply", RunStatus(status), **counts)


def ended(name: str, error: HaloAutomateError, run_id: str = "", **counts: Any) -> RunOutcome:
    """The outcome the runner returns for a run an error ended (refused or failed)."""
    refused = isinstance(error, RefusedError | LockedError)
    return RunOutcome(
        run_id=run_id or f"run-{name}",
        playbook=name,
        mode="apply",
        status=RunStatus.REFUSED if refused else RunStatus.FAILED,
        message=str(error),
        error=error,
        locked=isinstance(error, LockedError),
        **counts,
    )


class FakeRunner:
    """Stands in for Runner: scripted results per playbook name. Like the real one it returns
    an outcome for every ending (a scripted HaloAutomateError becomes a refused or failed
    outcome with 3 requests) and raises only a bug. It has no journal: the daemon reads none."""

    def __init__(self) -> None:
        self.client = SimpleNamespace(
            stats=SimpleNamespace(snapshot=self._snapshot), begin_run=self._snapshot
        )
        self.requests = 0
        self.script: dict[str, list[Any]] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.recover_result: list[RunOutcome] | Exception = []
        self.stop_requested = False

    def _snapshot(self) -> dict[str, Any]:
        return {"requests": self.requests, "rate_limited": 0}

    def run(self, playbook: Playbook, *, trigger: str, confirm: Any) -> RunOutcome:
        self.calls.append((playbook.name, trigger, confirm))
        self.requests += 3
        steps = self.script.get(playbook.name) or [outcome(playbook.name)]
        step = steps.pop(0) if len(steps) > 1 else steps[0]
        if callable(step):
            step = step(playbook)
        if isinstance(step, HaloAutomateError):
            step = ended(playbook.name, step, requests=3)
        if isinstance(step, BaseException):
            raise step
        assert isinstance(step, RunOutcome)
        return step

    def recover(self, playbook: str | None = None) -> list[RunOutcome]:
        if isinstance(self.recover_result, Exception):
            raise self.recover_result
        return self.recover_result

    def request_stop(self) -> None:
        self.stop_requested = True


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()


def make_settings(tmp_path: Path, **daemon: Any) -> Settings:
    return Settings(
        halo=HaloSettings(
            base_url="http://127.0.0.1:9", client_id="x", client_secret=SecretStr("secret")
        ),
        playbooks_dir=tmp_path / "playbooks",
        journal=tmp_path / "journal.db",
        daemon=DaemonSettings(**daemon),
    )


Make = Callable[..., Daemon]


@pytest.fixture
def make_daemon(tmp_path: Path, runner: FakeRunner) -> Iterator[Make]:
    made: list[Daemon] = []

    def make(clock: Callable[[], datetime] | None = None, **daemon: Any) -> Daemon:
        (tmp_path / "playbooks").mkdir(exist_ok=True)
        service = Daemon(
            make_settings(tmp_path, **daemon),
            runner,  # type: ignore[arg-type]
            poll_seconds=0.02,
            install_signals=False,
            **({"clock": clock} if clock else {}),
        )
        made.append(service)
        return service

    yield make
    for service in made:
        if service.scheduler.running:
            service.scheduler.shutdown(wait=False)


# ---------------------------------------------------------------------------- triggers


def test_interval_trigger_fires_every_interval_in_the_configured_zone() -> None:
    """An `every 90s` schedule becomes an IntervalTrigger of 90 s in the daemon's zone."""
    tz = ZoneInfo("Europe/London")
    trigger = make_trigger(parse_schedule("every 90s"), tz)
    first = trigger.get_next_fire_time(None, T0)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    assert second - first == timedelta(seconds=90)
    assert str(first.tzinfo) == "Europe/London"


def test_cron_trigger_uses_cron_day_numbers_and_the_timezone() -> None:
    """`0 2 * * 1` fires on Monday at 02:00 local time (cron Monday, not APScheduler's)."""
    tz = ZoneInfo("America/New_York")
    trigger = make_trigger(parse_schedule("0 2 * * 1"), tz)
    fire = trigger.get_next_fire_time(None, T0)
    assert (fire.strftime("%a %H:%M"), str(fire.tzinfo)) == ("Mon 02:00", "America/New_York")
    assert fire > T0


def test_job_options_run_intervals_at_once_and_let_cron_wait() -> None:
    """A new interval job gets next_run_time=now (run at start); a cron job waits for its time."""
    tz = ZoneInfo("UTC")
    assert job_options(parse_schedule("every 5m"), tz, T0)["next_run_time"] == T0
    assert "next_run_time" not in job_options(parse_schedule("*/15 * * * *"), tz, T0)


def test_unknown_timezone_is_a_config_error(tmp_path: Path, runner: FakeRunner) -> None:
    """daemon.timezone must name a real zone; the error names the key."""
    with pytest.raises(ConfigError, match=r"daemon\.timezone: unknown time zone 'Mars/Olympus'"):
        resolve_timezone("Mars/Olympus")
    with pytest.raises(ConfigError):
        Daemon(make_settings(tmp_path, timezone="Nope"), runner)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- loading


def test_broken_edit_keeps_previous_version_and_new_broken_file_is_dropped(
    tmp_path: Path,
) -> None:
    """A file that stops validating keeps its previous good version; a new broken file is left
    out; both are reported with file:line."""
    folder = tmp_path / "pb"
    a = write(folder, "a.yaml", playbook_yaml("a"))
    first = load_folder(folder, {})
    assert [pb.name for pb in first.playbooks.values()] == ["a"] and not first.problems
    write(folder, "a.yaml", playbook_yaml("a").replace("close: {}", "close: {stauts: x}"))
    b = write(folder, "b.yaml", "name: b\nactions: []\n")
    second = load_folder(folder, first.playbooks)
    assert second.playbooks == {a: first.playbooks[a]}
    assert second.kept == {a}
    assert set(second.errors) == {a, b}
    assert any(p.startswith(f"{a}:5:") and "did you mean 'status'" in p for p in second.problems)


def test_deleted_file_is_unloaded_and_hidden_files_are_ignored(tmp_path: Path) -> None:
    """A removed file's playbook goes away; dot-files (editor droppings) are never read."""
    folder = tmp_path / "pb"
    a = write(folder, "a.yaml", playbook_yaml("a"))
    write(folder, ".#a.yaml", "garbage: [")
    first = load_folder(folder, {})
    assert set(first.playbooks) == {a} and not first.errors
    a.unlink()
    assert load_folder(folder, first.playbooks).playbooks == {}


def test_duplicate_name_is_a_problem_of_the_later_file(tmp_path: Path) -> None:
    """Two files with one playbook name: the first (by file name) wins, the second is reported."""
    folder = tmp_path / "pb"
    a = write(folder, "a.yaml", playbook_yaml("same"))
    b = write(folder, "b.yml", playbook_yaml("same", "every 10m"))
    loaded = load_folder(folder, {})
    assert set(loaded.playbooks) == {a}
    assert "already used by" in loaded.errors[b][0] and str(a) in loaded.errors[b][0]


def test_kept_previous_version_that_now_collides_is_dropped(tmp_path: Path) -> None:
    """A broken file's previous version is not kept when another file took its name meanwhile."""
    folder = tmp_path / "pb"
    b = write(folder, "b.yaml", playbook_yaml("x"))
    previous = load_folder(folder, {}).playbooks
    write(folder, "a.yaml", playbook_yaml("x"))
    write(folder, "b.yaml", "name: x\nactions: []\n")
    loaded = load_folder(folder, previous)
    assert b not in loaded.playbooks and b not in loaded.kept and len(loaded.errors[b]) == 2


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    """playbooks_dir must be a folder."""
    with pytest.raises(ConfigError, match="is not a folder"):
        load_folder(tmp_path / "nope", {})


def test_folder_snapshot_notices_edits_adds_and_deletes(tmp_path: Path) -> None:
    """The watch snapshot changes when a playbook file is edited, added or removed."""
    folder = tmp_path / "pb"
    a = write(folder, "a.yaml", playbook_yaml("a"))
    write(folder, "notes.txt", "ignored")
    before = folder_snapshot(folder)
    assert before is not None and set(before) == {"a.yaml"}
    a.write_text(playbook_yaml("a", "every 6m"), encoding="utf-8")
    edited = folder_snapshot(folder)
    assert edited != before
    write(folder, "b.yaml", playbook_yaml("b"))
    assert set(folder_snapshot(folder) or {}) == {"a.yaml", "b.yaml"}
    assert folder_snapshot(tmp_path / "gone") is None


# ---------------------------------------------------------------------------- health address


@pytest.mark.parametrize(
    ("text", "allow", "expected"),
    [
        ("127.0.0.1:9187", False, ("127.0.0.1", 9187)),
        ("localhost:0", False, ("localhost", 0)),
        (":9187", False, ("127.0.0.1", 9187)),
        ("[::1]:9187", False, ("::1", 9187)),
        ("0.0.0.0:9187", True, ("0.0.0.0", 9187)),  # noqa: S104 - explicitly allowed
        ("monitor.example:80", True, ("monitor.example", 80)),
    ],
)
def test_health_address_parses(text: str, allow: bool, expected: tuple[str, int]) -> None:
    """host:port parses (IPv6 in brackets, empty host = 127.0.0.1)."""
    assert parse_health_address(text, allow_remote=allow) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.0.0.0:9187", "not a loopback address"),
        ("10.1.2.3:9187", "health_allow_remote"),
        ("monitor.example:9187", "not a loopback"),
        ("9187", "expected host:port"),
        ("127.0.0.1:http", "expected host:port"),
        ("127.0.0.1:70000", "expected host:port"),
    ],
)
def test_health_address_refuses_remote_and_malformed(text: str, message: str) -> None:
    """The unauthenticated endpoint stays on loopback unless explicitly allowed."""
    with pytest.raises(ConfigError, match=message):
        parse_health_address(text)


# ---------------------------------------------------------------------------- records, metrics


def test_finished_run_separates_previewed_from_changed() -> None:
    """A shadow-mode run counts as 'previewed' tickets, never as changed ones."""
    preview = FinishedRun(outcome("a", "previewed", changed=7, requests=4), T0).to_json()
    assert (preview["mode"], preview["changed"], preview["previewed"]) == ("preview", 0, 7)
    assert FinishedRun(outcome("a", "previewed"), T0).ok
    partial = FinishedRun(outcome("a", "partial", changed=5, failed=2), T0)
    doc = partial.to_json()
    assert (doc["changed"], doc["failed"], doc["exit_code"], partial.ok) == (5, 2, 5, False)
    assert doc["finished_at"] == T0.isoformat()


@pytest.mark.parametrize(
    ("run", "status", "code"),
    [
        (FinishedRun(ended("a", LockedError("held")), T0), "locked", 4),
        (FinishedRun(ended("a", RefusedError("too many")), T0), "refused", 4),
        (FinishedRun(ended("a", HaloUnavailableError("down")), T0), "failed", 3),
        (FinishedRun(outcome("a", "failed", message="bug"), T0, crashed=True), "failed", 1),
    ],
)
def test_status_label_and_exit_code_of_a_finished_run(
    run: FinishedRun, status: str, code: int
) -> None:
    """A lock refusal is labelled locked, other refusals refused, errors and bugs failed; a bug
    exits 1, whatever its outcome says."""
    assert (run.status, run.exit_code) == (status, code)


def parse_exposition(text: str) -> dict[str, float]:
    """A strict little parser of the Prometheus text format (HELP, TYPE, then samples)."""
    assert text.endswith("\n")
    samples: dict[str, float] = {}
    typed: set[str] = set()
    helped: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge") and name in helped
            typed.add(name)
        else:
            key, value = line.rsplit(" ", 1)
            family = key.split("{", 1)[0]
            assert family in typed, f"sample before its TYPE: {line}"
            assert family.startswith("halo_automate_")
            samples[key] = float(value)
    return samples


def test_prometheus_text_counts_per_playbook_and_status() -> None:
    """/metrics sums runs by status and tickets/requests/429s per playbook, in valid text
    format, with zero series for playbooks that have not run yet."""
    metrics = Metrics()
    metrics.track(["a", "b"])
    metrics.record(FinishedRun(outcome("a", seconds=1.5, changed=3, requests=8), T0))
    metrics.record(FinishedRun(outcome("a", "partial", seconds=2.0, changed=2, failed=1,
                                       skipped=4, requests=10, rate_limited=2), T0))  # fmt: skip
    metrics.record(FinishedRun(ended("a", HaloUnavailableError("down"), seconds=0.5, requests=5),
                               T0))  # fmt: skip
    samples = parse_exposition(metrics.prometheus(up=True, problems=1))
    a = f'{ON},playbook="a"'
    assert samples["halo_automate_up"] == 1 and samples["halo_automate_playbook_problems"] == 1
    assert samples[f'halo_automate_runs_total{{{a},status="succeeded"}}'] == 1
    assert samples[f'halo_automate_runs_total{{{a},status="partial"}}'] == 1
    assert samples[f'halo_automate_runs_total{{{a},status="failed"}}'] == 1
    assert samples[f"halo_automate_tickets_changed_total{{{a}}}"] == 5
    assert samples[f"halo_automate_tickets_failed_total{{{a}}}"] == 1
    assert samples[f"halo_automate_tickets_skipped_total{{{a}}}"] == 4
    assert samples[f"halo_automate_requests_total{{{a}}}"] == 23
    assert samples[f"halo_automate_rate_limited_total{{{a}}}"] == 2
    assert samples[f"halo_automate_last_run_success{{{a}}}"] == 0
    assert samples[f"halo_automate_last_run_timestamp_seconds{{{a}}}"] == T0.timestamp()
    assert samples[f"halo_automate_last_run_duration_seconds{{{a}}}"] == 0.5
    assert all(
        samples[f'halo_automate_runs_total{{{ON},playbook="b",status="{s}"}}'] == 0
        for s in RUN_RESULTS
    )
    assert f'halo_automate_last_run_success{{{ON},playbook="b"}}' not in samples
    assert parse_exposition(metrics.prometheus(up=False, problems=0))["halo_automate_up"] == 0


def test_label_values_are_escaped() -> None:
    """Backslashes, quotes and newlines in a label value are escaped as the format requires."""
    assert label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


# ---------------------------------------------------------------------------- scheduling


def job_times(service: Daemon) -> dict[str, datetime | None]:
    return {job.id: job.next_run_time for job in service.scheduler.get_jobs()}


def test_reload_schedules_new_reschedules_changed_and_keeps_unchanged(
    tmp_path: Path, make_daemon: Make
) -> None:
    """Loading adds a job per scheduled playbook (intervals due now, cron at its time); a reload
    keeps unchanged jobs as they are, reschedules a changed schedule and drops removed files."""
    folder = tmp_path / "playbooks"
    write(folder, "a.yaml", playbook_yaml("a", "every 5m"))
    write(folder, "b.yaml", playbook_yaml("b", "30 3 * * *"))
    write(folder, "c.yaml", playbook_yaml("c", None))
    gone = write(folder, "d.yaml", playbook_yaml("d", "every 1h"))
    service = make_daemon(clock=lambda: T0)
    service.scheduler.start(paused=True)
    service.reload()
    times = job_times(service)
    assert set(times) == {"a", "b", "d"} and set(service.playbooks) == {"a", "b", "c", "d"}
    assert times["a"] == T0
    assert times["b"] is not None and (times["b"].hour, times["b"].minute) == (3, 30)
    write(folder, "a.yaml", playbook_yaml("a", "every 5m", mode="preview"))
    write(folder, "b.yaml", playbook_yaml("b", "45 4 * * *"))
    gone.unlink()
    with capture_logs() as logs:
        service.reload()
    after = job_times(service)
    assert set(after) == {"a", "b"}
    assert after["a"] == T0  # unchanged schedule: the job is left alone
    assert service.playbooks["a"].mode == "preview"  # ...but the next run uses the new file
    assert after["b"] is not None and (after["b"].hour, after["b"].minute) == (4, 45)
    events = [e["event"] for e in logs]
    assert "job_rescheduled" in events and "job_removed" in events


def test_broken_edit_on_reload_keeps_the_old_version_scheduled(
    tmp_path: Path, make_daemon: Make
) -> None:
    """A reload with a broken edit logs file:line, keeps the job and the previous playbook."""
    folder = tmp_path / "playbooks"
    path = write(folder, "a.yaml", playbook_yaml("a", "every 5m"))
    service = make_daemon()
    service.scheduler.start(paused=True)
    service.reload()
    good = service.playbooks["a"]
    write(folder, "a.yaml", playbook_yaml("a", "every 5m").replace("close: {}", "clsoe: {}"))
    with capture_logs() as logs:
        service.reload()
    assert service.playbooks["a"] is good and set(job_times(service)) == {"a"}
    [invalid] = [e for e in logs if e["event"] == "playbook_invalid"]
    assert invalid["kept_previous"] is True and invalid["problems"][0].startswith(f"{path}:")
    assert service.problems == invalid["problems"]


def test_reload_survives_a_vanished_folder(tmp_path: Path, make_daemon: Make) -> None:
    """If playbooks_dir disappears, reload logs it and keeps the loaded playbooks."""
    folder = tmp_path / "playbooks"
    write(folder, "a.yaml", playbook_yaml("a"))
    service = make_daemon()
    service.reload()
    (folder / "a.yaml").unlink()
    folder.rmdir()
    with capture_logs() as logs:
        for _ in range(3):
            service.check_reload()  # watching: noticed once, not on every poll
    assert set(service.playbooks) == {"a"}
    assert [e["event"] for e in logs] == ["reloading_playbooks", "reload_failed"]


# ---------------------------------------------------------------------------- runs


def test_scheduled_run_applies_without_prompt_and_is_recorded(
    tmp_path: Path, make_daemon: Make, runner: FakeRunner
) -> None:
    """A job runs its playbook with trigger 'schedule' and confirm=None, and records metrics."""
    write(tmp_path / "playbooks", "a.yaml", playbook_yaml("a"))
    service = make_daemon()
    service.reload()
    runner.script["a"] = [outcome("a", changed=4, requests=9)]
    record = service.run_job("a")
    assert runner.calls == [("a", "schedule", None)]
    assert record is not None
    assert (record.status, record.outcome.changed, record.outcome.run_id) == (
        "succeeded", 4, "run-a",
    )  # fmt: skip
    assert service.metrics.last_runs()["a"] == record
    assert service.run_job("no-such-playbook") is None


@pytest.mark.parametrize(
    ("error", "status", "code", "event"),
    [
        (LockedError("locked by pid 1"), "locked", 4, "run_locked"),
        (RefusedError("a: the plan changes 9 tickets, more than limits.max_changes (5)"),
         "refused", 4, "run_refused"),
        (HaloUnavailableError("HTTP 500"), "failed", 3, "run_failed"),
        (HaloAuthError("token refused"), "failed", 3, "run_failed"),
        (RuntimeError("a bug"), "failed", 1, "run_crashed"),
    ],
)  # fmt: skip
def test_failed_runs_are_logged_recorded_and_the_service_goes_on(
    tmp_path: Path,
    make_daemon: Make,
    runner: FakeRunner,
    error: Exception,
    status: str,
    code: int,
    event: str,
) -> None:
    """A lock, a refusal, a Halo outage or a bug fails only that run: it is logged (with the
    outcome's run id; none for a bug), recorded with its exit code, and the next run works."""
    write(tmp_path / "playbooks", "a.yaml", playbook_yaml("a"))
    service = make_daemon()
    service.reload()
    bug = not isinstance(error, HaloAutomateError)
    run_id = None if bug else "r-1"
    runner.script["a"] = [error if bug else ended("a", error, "r-1", requests=3), outcome("a")]
    with capture_logs() as logs:
        record = service.run_job("a")
    assert record is not None
    assert (record.status, record.exit_code, record.outcome.run_id or None,
            record.outcome.requests) == (status, code, run_id, 3)  # fmt: skip
    [line] = [e for e in logs if e["event"] == event]
    assert line["run_id"] == run_id and line["error_type"]
    if event == "run_crashed":
        assert line["exc_info"] is True
    again = service.run_job("a")
    assert again is not None and again.status == "succeeded"
    stats = service.metrics.prometheus(up=True, problems=0)
    assert f'halo_automate_runs_total{{{ON},playbook="a",status="{status}"}} 1' in stats


def test_a_failed_run_is_reported_from_its_outcome_alone(
    tmp_path: Path, make_daemon: Make, runner: FakeRunner
) -> None:
    """What a failed run got through before failing (its id, mode, scanned and matched tickets,
    its message) reaches /healthz from the runner's outcome: the fake runner has no journal."""
    write(tmp_path / "playbooks", "a.yaml", playbook_yaml("a"))
    service = make_daemon(clock=lambda: T0)
    service.reload()
    error = HaloUnavailableError("POST /api/Actions: HTTP 503: down")
    runner.script["a"] = [ended("a", error, "r-7", scanned=40, matched=6, seconds=1.25)]
    with capture_logs() as logs:
        service.run_job("a")
    _, doc = service.health()
    assert doc["playbooks"]["a"]["last_run"] == {
        "playbook": "a", "status": "failed", "run_id": "r-7", "finished_at": T0.isoformat(),
        "seconds": 1.25, "mode": "apply", "scanned": 40, "matched": 6, "changed": 0,
        "previewed": 0, "skipped": 0, "failed": 0, "requests": 0, "rate_limited": 0,
        "message": str(error), "exit_code": 3,
    }  # fmt: skip
    [line] = [e for e in logs if e["event"] == "run_failed"]
    assert (line["run_id"], line["error"], line["error_type"]) == (
        "r-7", str(error), "HaloUnavailableError",
    )  # fmt: skip


def test_run_once_returns_the_worst_exit_code(
    tmp_path: Path, make_daemon: Make, runner: FakeRunner
) -> None:
    """--once runs every scheduled playbook once (not manual ones) and exits with the highest
    code: partial (5) beats refused (4) beats an invalid file (2)."""
    folder = tmp_path / "playbooks"
    for name in ("a", "b", "c"):
        write(folder, f"{name}.yaml", playbook_yaml(name))
    write(folder, "manual.yaml", playbook_yaml("manual", None))
    write(folder, "broken.yaml", "name: broken\nactions: []\n")
    runner.script = {"a": [outcome("a", "partial", failed=1)], "b": [RefusedError("limit")]}
    assert make_daemon().run_once() == 5
    assert [c[0] for c in runner.calls] == ["a", "b", "c"]
    runner.script = {"b": [RefusedError("limit")]}
    assert make_daemon().run_once() == 4
    runner.script = {}
    assert make_daemon().run_once() == 2
    (folder / "broken.yaml").unlink()
    assert make_daemon().run_once() == 0


def test_no_valid_playbook_at_start_is_an_error(tmp_path: Path, make_daemon: Make) -> None:
    """If every file is invalid the daemon refuses to start (exit 2 with file:line problems)."""
    write(tmp_path / "playbooks", "bad.yaml", "name: bad\nactions: []\n")
    with pytest.raises(PlaybookError, match=r"bad\.yaml:2:"):
        make_daemon().run_once()


def test_startup_recovery_is_logged_and_its_failure_does_not_stop_the_service(
    tmp_path: Path, make_daemon: Make, runner: FakeRunner
) -> None:
    """Runs interrupted earlier are recovered at start; if Halo is down meanwhile, that is
    logged and the runs still happen."""
    write(tmp_path / "playbooks", "a.yaml", playbook_yaml("a"))
    runner.recover_result = [outcome("a", "succeeded", changed=2)]
    with capture_logs() as logs:
        assert make_daemon().run_once() == 0
    assert any(e["event"] == "run_recovered" and e["changed"] == 2 for e in logs)
    runner.recover_result = HaloUnavailableError("down")
    with capture_logs() as logs:
        assert make_daemon().run_once() == 0
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["recovery_failed"]
    assert len(runner.calls) == 2


def test_no_scheduled_playbooks_is_a_warning(tmp_path: Path, make_daemon: Make) -> None:
    """A folder with only manual playbooks starts (a reload may add schedules) but warns."""
    write(tmp_path / "playbooks", "m.yaml", playbook_yaml("m", None))
    with capture_logs() as logs:
        assert make_daemon().run_once() == 0
    assert "no_scheduled_playbooks" in [e["event"] for e in logs]


# ---------------------------------------------------------------------------- serve, health, stop


def get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def wait_until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


class Serving:
    def __init__(self, service: Daemon) -> None:
        self.service = service
        self.code: int | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.code = self.service.serve()

    def url(self, path: str) -> str:
        address = wait_until(lambda: self.service.health_address)
        return f"http://{address}{path}"

    def stop(self, timeout: float = 5.0) -> int | None:
        self.service.request_stop()
        self.thread.join(timeout)
        return self.code


def test_serve_runs_at_start_and_serves_health_and_metrics(
    tmp_path: Path, make_daemon: Make, runner: FakeRunner
) -> None:
    """A started service runs interval playbooks at once and answers /healthz (JSON with the last
    run) and /metrics (Prometheus text); other paths 404, other methods 405; stop exits 0."""
    write(tmp_path / "playbooks", "a.yaml", playbook_yaml("a", "every 1h"))
    write(tmp_path / "playbooks", "b.yaml", playbook_yaml("b", "0 3 * * *"))
    service = make_daemon(health="127.0.0.1:0")
    runner.script["a"] = [outcome("a", changed=2, requests=6)]
    serving = Serving(service)
    wait_until(lambda: service.metrics.last_runs().get("a"))
    status, headers, body = get(serving.url("/healthz"))
    doc = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert doc["status"] == "ok" and doc["scheduler_alive"] is True
    assert doc["playbooks"]["a"]["last_run"]["status"] == "succeeded"
    assert doc["playbooks"]["a"]["last_run"]["changed"] == 2
    assert doc["playbooks"]["b"]["last_run"] is None  # cron: waits for 03:00
    assert doc["playbooks"]["b"]["next_run"] is not None
    status, headers, body = get(serving.url("/metrics?x=1"))
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = parse_exposition(body.decode())
    assert samples[f'halo_automate_requests_total{{{ON},playbook="a"}}'] == 6
    assert get(serving.url("/healthz"), "HEAD")[::2] == (200, b"")
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = get(serving.url("/metrics"), method)
        assert (status, headers["Allow"]) == (405, "GET, HEAD")
    assert get(serving.url("/"))[0] == 404
    assert serving.stop() == 0
    assert runner.stop_requested and not service.scheduler.running
    assert service.health_address is None


def test_health_is_503_while_stopping(
    tmp_path: Path, make_daemon: Make, runner: FakeRunner
) -> None:
    """/healthz answers 503 with status 'stopping' once the scheduler is no longer running."""
    write(tmp_path / "playbooks", "a.yaml", playbook_yaml("a"))
    service = make_daemon()
    service.reload()
    alive, doc = service.health()
    assert (alive, doc["status"]) == (False, "stopping")
    assert doc["playbooks"]["a"]["next_run"] is not None  # due now: run at start


def test_reload_on_request_and_on_file_change(
    tmp_path: Path, make_daemon: Make, runner: FakeRunner
) -> None:
    """request_reload (what SIGHUP does) reloads; with watch_playbooks a new file is picked up
    by itself; with watching off only the request reloads."""
    folder = tmp_path / "playbooks"
    write(folder, "a.yaml", playbook_yaml("a", "every 1h"))
    service = make_daemon(watch_playbooks=True)
    serving = Serving(service)
    wait_until(lambda: service.scheduler.running)
    write(folder, "b.yaml", playbook_yaml("b", "every 1h"))
    wait_until(lambda: "b" in service.playbooks)
    wait_until(lambda: service.metrics.last_runs().get("b"))  # a new interval job runs at once
    assert serving.stop() == 0

    quiet = make_daemon(watch_playbooks=False)
    serving = Serving(quiet)
    wait_until(lambda: quiet.scheduler.running)
    write(folder, "c.yaml", playbook_yaml("c", "every 1h"))
    time.sleep(0.1)
    assert "c" not in quiet.playbooks
    quiet.request_reload()
    wait_until(lambda: "c" in quiet.playbooks)
    assert serving.stop() == 0


def test_stop_waits_for_the_in_flight_run_and_starts_no_new_one(
    tmp_path: Path, make_daemon: Make, runner: FakeRunner
) -> None:
    """On stop the runner is asked to stop, the in-flight run is waited for, later jobs do not
    start, and the exit code is 0."""
    write(tmp_path / "playbooks", "a.yaml", playbook_yaml("a"))
    release = threading.Event()

    def slow(playbook: Playbook) -> RunOutcome:
        release.wait(5)
        return outcome(playbook.name, "interrupted")

    runner.script["a"] = [slow]
    service = make_daemon(stop_timeout_seconds=5)
    serving = Serving(service)
    wait_until(lambda: service.in_flight())
    service.request_stop()
    wait_until(lambda: runner.stop_requested)
    assert serving.thread.is_alive()  # still waiting for the run
    release.set()
    serving.thread.join(5)
    assert serving.code == 0 and service.abandoned == []
    with capture_logs() as logs:
        assert service.run_job("a") is None
    assert logs[0]["event"] == "run_not_started"


def test_stop_timeout_exits_non_zero_and_names_the_abandoned_run(
    tmp_path: Path, make_daemon: Make, runner: FakeRunner
) -> None:
    """If the in-flight run outlasts stop_timeout_seconds, serve returns 5 promptly and reports
    which run it left (its pending rows are for recovery)."""
    write(tmp_path / "playbooks", "a.yaml", playbook_yaml("a"))
    release = threading.Event()
    runner.script["a"] = [lambda pb: (release.wait(10), outcome(pb.name))[1]]
    service = make_daemon(stop_timeout_seconds=0.2)
    serving = Serving(service)
    wait_until(lambda: service.in_flight())
    started = time.monotonic()
    with capture_logs() as logs:
        assert serving.stop() == ExitCode.PARTIAL
    assert time.monotonic() - started < 2
    assert service.abandoned == ["a"]
    assert [e["in_flight"] for e in logs if e["event"] == "stop_timeout"] == [["a"]]
    release.set()


def test_health_port_in_use_is_a_config_error(tmp_path: Path, make_daemon: Make) -> None:
    """A health address that cannot be bound stops the start with a one-line config error."""
    write(tmp_path / "playbooks", "a.yaml", playbook_yaml("a"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = make_daemon(health=f"127.0.0.1:{port}")
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            service.serve()
    assert not service.scheduler.running


def test_health_on_ipv6_loopback(tmp_path: Path, make_daemon: Make) -> None:
    """The endpoint listens on [::1] when asked (skipped where IPv6 is unavailable)."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    write(tmp_path / "playbooks", "a.yaml", playbook_yaml("a", "0 3 * * *"))
    serving = Serving(make_daemon(health="[::1]:0"))
    url = serving.url("/healthz")
    assert url.startswith("http://[::1]:") and get(url)[0] == 200
    assert serving.stop() == 0


def test_signals_set_flags_and_stop_the_service_in_the_main_thread(
    tmp_path: Path, make_daemon: Make
) -> None:
    """SIGHUP requests a reload and SIGTERM a stop (handlers only set flags); the previous
    handlers are restored when serve returns."""
    write(tmp_path / "playbooks", "a.yaml", playbook_yaml("a", "0 3 * * *"))
    service = make_daemon()
    service.install_signals = True
    before = signal.getsignal(signal.SIGTERM)
    reloads: list[str] = []
    original_reload = service.reload

    def counting_reload() -> None:
        reloads.append("reload")
        original_reload()

    service.reload = counting_reload  # type: ignore[method-assign]

    def send() -> None:
        try:
            wait_until(lambda: service.scheduler.running)
            os.kill(os.getpid(), signal.SIGHUP)
            wait_until(lambda: reloads)
        finally:  # whatever happened, stop the daemon: the assertions say what failed
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=send, daemon=True).start()
    assert service.serve() == 0
    assert reloads == ["reload"]
    assert signal.getsignal(signal.SIGTERM) is before


def test_signals_are_not_installed_off_the_main_thread(make_daemon: Make) -> None:
    """serve() in a worker thread cannot own signals and does not try."""
    service = make_daemon()
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(service.install_signal_handlers()))
    thread.start()
    thread.join()
    assert result == [None]


def test_once_stops_after_the_in_flight_run_on_sigterm(
    tmp_path: Path, make_daemon: Make, runner: FakeRunner
) -> None:
    """SIGTERM during --once asks the runner to stop after its batch and skips the playbooks
    not yet run; the interrupted run's code (5) is the exit code."""
    for name in ("a", "b"):
        write(tmp_path / "playbooks", f"{name}.yaml", playbook_yaml(name))

    def interrupted(playbook: Playbook) -> RunOutcome:
        os.kill(os.getpid(), signal.SIGTERM)
        assert runner.stop_requested  # the handler ran in this (main) thread
        return outcome(playbook.name, "interrupted")

    runner.script["a"] = [interrupted]
    service = make_daemon()
    service.install_signals = True
    before = signal.getsignal(signal.SIGTERM)
    with capture_logs() as logs:
        assert service.run_once() == 5
    assert [c[0] for c in runner.calls] == ["a"]
    assert {"event": "run_not_started", "playbook": "b", "reason": "stopping",
            "log_level": "info"} in logs  # fmt: skip
    assert signal.getsignal(signal.SIGTERM) is before
