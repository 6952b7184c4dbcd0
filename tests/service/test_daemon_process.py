"""The real service end to end: `python -m halo_automate daemon` as a subprocess against a
sandbox Halo over loopback HTTP, checked through its JSON logs, its health endpoint, the
journal file and the sandbox's own state."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from halo_automate.cli import main
from halo_automate.core.schedule import parse_schedule
from halo_automate.engine.writes import MARKER_PREFIX
from halo_automate.sandbox.server import SandboxServer
from halo_automate.service.triggers import SCHEDULE_SPEEDUP_ENV, make_trigger
from halo_automate.store.journal import Journal, RunRow

ROOT = Path(__file__).resolve().parents[2]
SPAM = (ROOT / "playbooks" / "close-spam.yaml").read_text(encoding="utf-8")
SPAM_TICKETS = 32  # close-spam's matches in the default 600-ticket sandbox
Factory = Callable[..., SandboxServer]
T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
Event = dict[str, Any]


def playbook(name: str = "close-spam", *, mode: str = "apply", max_changes: int = 500) -> str:
    """close-spam.yaml on a 5-second schedule, optionally renamed, in preview mode or capped."""
    text = re.sub(r"(?m)^schedule:.*$", 'schedule: "every 5s"', SPAM)
    text = re.sub(r"(?m)^name:.*$", f"name: {name}", text)
    text = re.sub(r"(?m)^mode:.*$", f"mode: {mode}", text)
    return re.sub(r"(?m)^  max_changes:.*$", f"  max_changes: {max_changes}", text)


def workspace(tmp_path: Path, sandbox: SandboxServer, *playbooks: str, **daemon: Any) -> Path:
    """Write playbooks and a config (secret from the environment); return the config path."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    for text in playbooks:
        name = re.search(r"(?m)^name: (\S+)", text)
        assert name is not None
        (folder / f"{name.group(1)}.yaml").write_text(text, encoding="utf-8")
    settings = {"health": "127.0.0.1:0", "watch_playbooks": "false", **daemon}
    lines = [
        "halo:",
        f"  base_url: {sandbox.base_url}",
        f"  client_id: {sandbox.client_id}",
        "  client_secret: ${SANDBOX_SECRET}",
        f"  batch_size: {settings.pop('batch_size', 50)}",
        "playbooks_dir: playbooks",
        "journal: journal.db",
        "daemon:",
        *[f"  {key}: {value}" for key, value in settings.items()],
    ]
    config = tmp_path / "config.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


SPEEDUP = 2.5
"""The service's test switch for schedules: `every 5s` (the shortest schedule) runs every 2 s,
still long enough for each step below to act on the run it saw before the next one starts."""


def environment(sandbox: SandboxServer) -> dict[str, str]:
    """The daemon's environment: the secret, unbuffered output, and the test switches for
    back-off (retries still happen, without sleeping: a 500 storm fails a run at once) and
    for schedules (`every 5s` runs every 5 / SPEEDUP seconds)."""
    env = {k: v for k, v in os.environ.items() if k != "HALO_AUTOMATE_CONFIG"}
    return {**env, "SANDBOX_SECRET": sandbox.client_secret, "PYTHONUNBUFFERED": "1",
            "HALO_AUTOMATE_INSTANT_BACKOFF": "1",
            SCHEDULE_SPEEDUP_ENV: str(SPEEDUP)}  # fmt: skip


class DaemonProcess:
    """A `halo-automate daemon` subprocess whose stderr is read as JSON log lines."""

    def __init__(self, config: Path, sandbox: SandboxServer, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "halo_automate", "daemon", "--config", str(config), *args],
            cwd=config.parent,
            env=environment(sandbox),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[Event] = []
        self.not_json: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stdout = ""

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                try:
                    self.events.append(json.loads(line))
                except ValueError:
                    self.not_json.append(line)
                self._cond.notify_all()

    def wait_for(
        self, event: str, timeout: float, after: int = 0, **match: Any
    ) -> tuple[int, Event]:
        """The first event named ``event`` (with ``match`` values) logged after index ``after``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, e in enumerate(self.events[after:], start=after):
                    if e.get("event") == event and all(e.get(k) == v for k, v in match.items()):
                        return i, e
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    tail = json.dumps(self.events[-8:], indent=1)
                    raise AssertionError(f"no {event} {match} in {timeout}s; last:\n{tail}")
                self._cond.wait(min(left, 0.1))

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()
        return code

    def health_url(self, path: str) -> str:
        _, started = self.wait_for("health_listening", 10)
        return f"http://{started['address']}{path}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def spawn() -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def make(config: Path, sandbox: SandboxServer, *args: str) -> DaemonProcess:
        process = DaemonProcess(config, sandbox, *args)
        started.append(process)
        return process

    yield make
    for process in started:
        process.kill()


def http(url: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def runs(journal: Journal, playbook: str = "close-spam") -> list[RunRow]:
    return journal.runs(limit=None, playbook=playbook)


def poll(check: Callable[[], Any], timeout: float, step: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


def healthz_with_a_run(url: str) -> tuple[int, Event] | None:
    """/healthz once it has close-spam's last run: a run's run_summary line is logged as it
    ends, a moment before the service records it for /healthz and /metrics."""
    status, body = http(url)
    doc = json.loads(body)
    return (status, doc) if doc["playbooks"]["close-spam"]["last_run"] else None


def cli(config: Path, sandbox: SandboxServer, *args: str) -> Any:
    return CliRunner().invoke(main, [*args, "--config", str(config)], env=environment(sandbox))


# ---------------------------------------------------------------------------- the service


def test_service_runs_reloads_survives_outage_and_stops_cleanly(
    tmp_path: Path, sandbox: SandboxServer, spawn: Callable[..., DaemonProcess]
) -> None:
    """One service lifetime: it runs at start and journals the run; /healthz and /metrics report
    it; a 500 storm fails runs without stopping it and a later run succeeds; a broken edit +
    SIGHUP keeps the old version running; a good edit + SIGHUP takes effect (shadow mode);
    SIGTERM exits 0. Every stderr line is JSON."""
    config = workspace(tmp_path, sandbox, playbook())
    daemon = spawn(config, sandbox)
    # 1. Run at start, journaled, one JSON summary line.
    _, summary = daemon.wait_for("run_summary", 15)
    assert summary["status"] == "succeeded" and summary["changed"] == SPAM_TICKETS
    assert {"run_id", "playbook", "scanned", "matched", "skipped", "failed", "requests",
            "seconds"} <= set(summary)  # fmt: skip
    journal = Journal.open(tmp_path / "journal.db")
    first = journal.get_run(summary["run_id"])
    assert (first.trigger, first.status, first.counts.done) == ("schedule", "succeeded", 32)
    assert sandbox.counters["actions_written"] == SPAM_TICKETS
    # 2. Health and metrics over HTTP (once the service has recorded the run it logged).
    status, doc = poll(lambda: healthz_with_a_run(daemon.health_url("/healthz")), 5)
    assert status == 200 and doc["status"] == "ok"
    assert doc["playbooks"]["close-spam"]["last_run"]["run_id"] == summary["run_id"]
    status, text = http(daemon.health_url("/metrics"))
    assert status == 200
    spam = 'halo_instance="default",playbook="close-spam"'  # every series names its instance
    assert f'halo_automate_runs_total{{{spam},status="succeeded"}}' in text
    assert f"halo_automate_tickets_changed_total{{{spam}}} {SPAM_TICKETS}" in text
    assert http(daemon.health_url("/metrics"), "POST")[0] == 405
    # 3. A 500 storm fails a run (journaled, logged); the service goes on and later succeeds
    # (step 4's run). Each step needs a scheduled run (every 5 s, the shortest schedule, sped
    # up): in this order the successful run after the storm is also the run of the kept version.
    sandbox.set_faults(fail_rate=1.0)
    at, failed = daemon.wait_for("run_failed", 25)
    sandbox.set_faults(fail_rate=0.0)
    assert failed["error_type"] == "HaloUnavailableError" and failed["playbook"] == "close-spam"
    assert journal.get_run(failed["run_id"]).status == "failed"
    # 4. A broken edit + SIGHUP: reported with file:line, the old version keeps running.
    path = tmp_path / "playbooks" / "close-spam.yaml"
    path.write_text(playbook().replace("  - close:", "  - clsoe:"), encoding="utf-8")
    daemon.send(signal.SIGHUP)
    at, invalid = daemon.wait_for("playbook_invalid", 5, after=at)
    assert invalid["kept_previous"] is True
    assert re.match(rf"{re.escape(str(path))}:\d+:\d+: ", invalid["problems"][0])
    _, kept = daemon.wait_for("run_summary", 15, after=at)
    assert kept["status"] == "succeeded" and journal.get_run(kept["run_id"]).mode == "apply"
    assert daemon.proc.poll() is None
    status, text = http(daemon.health_url("/metrics"))
    assert re.search(
        r'halo_automate_runs_total\{halo_instance="default",playbook="close-spam",'
        r'status="failed"\} [1-9]',
        text,
    )
    # 5. A good edit + SIGHUP takes effect: the next run is a preview (shadow mode).
    path.write_text(playbook(mode="preview"), encoding="utf-8")
    daemon.send(signal.SIGHUP)
    at, _ = daemon.wait_for("playbooks_loaded", 5, after=at + 1, problems=0)
    _, shadow = daemon.wait_for("run_summary", 10, after=at, status="previewed")
    assert journal.get_run(shadow["run_id"]).mode == "preview"
    # 6. SIGTERM: a clean stop, exit 0.
    daemon.send(signal.SIGTERM)
    assert daemon.finish(15) == 0
    assert daemon.events[-1]["event"] == "daemon_stopped"
    assert daemon.not_json == [] and daemon.stdout == ""
    assert sandbox.client_secret not in json.dumps(daemon.events)
    assert journal.pending() == []
    journal.close()


def test_sigterm_mid_run_finishes_the_batch_and_exits_0(
    tmp_path: Path, sandbox_factory: Factory, spawn: Callable[..., DaemonProcess]
) -> None:
    """SIGTERM while a run is writing: the in-flight batch finishes and is journaled, the run
    is journaled as interrupted with no pending rows, the exit code is 0, `recover` has nothing
    to do, and the next run changes exactly the tickets that were not reached."""
    sandbox = sandbox_factory()
    hold = sandbox.hold_writes()  # writes wait until the test lets them through, one by one
    config = workspace(tmp_path, sandbox, playbook(), batch_size=2, stop_timeout_seconds=20)
    daemon = spawn(config, sandbox)
    assert hold.wait_until_caught(1, timeout=20)
    journal = Journal.open(tmp_path / "journal.db")

    def writing() -> RunRow | None:
        found = runs(journal)
        if found and found[0].status == "running":
            states = {c.state for c in journal.changes(found[0].run_id)}
            return found[0] if "done" in states else None
        return None

    while (run := writing()) is None:  # let writes land one at a time until a batch is done
        hold.release(1)
        assert hold.wait_until_caught(hold.caught + 1, timeout=20)
    daemon.send(signal.SIGTERM)  # while the next write is held: the run is mid-batch
    stopped = time.monotonic()
    daemon.wait_for("daemon_stopping", 5)  # the runner is told to stop after this batch ...
    hold.release()  # ... which then finishes
    assert daemon.finish(20) == 0
    assert time.monotonic() - stopped < 5
    after = journal.get_run(run.run_id)
    assert after.status == "interrupted" and 0 < after.counts.done < SPAM_TICKETS
    assert journal.pending() == []
    assert {c.state for c in journal.changes(run.run_id)} == {"done"}
    result = cli(config, sandbox, "recover")
    assert result.exit_code == 0 and "nothing to recover" in result.output
    once = spawn(config, sandbox, "--once")
    assert once.finish(30) == 0
    newest = runs(journal)[0]
    assert newest.run_id != run.run_id and newest.status == "succeeded"
    assert newest.counts.done == SPAM_TICKETS - after.counts.done
    journal.close()


def test_stop_timeout_exits_5_and_the_next_start_reconciles_the_pending_batch(
    tmp_path: Path, sandbox_factory: Factory, spawn: Callable[..., DaemonProcess]
) -> None:
    """If the in-flight batch outlasts stop_timeout_seconds the daemon still exits promptly,
    with code 5, leaving pending rows; the next start reconciles them before running anything,
    without posting any note twice, and `recover` then finds nothing left."""
    sandbox = sandbox_factory()
    hold = sandbox.hold_writes()  # every write hangs, unapplied, until the test lets it go
    config = workspace(tmp_path, sandbox, playbook(), batch_size=10, stop_timeout_seconds=0.5)
    daemon = spawn(config, sandbox)
    db = tmp_path / "journal.db"
    assert hold.wait_until_caught(1, timeout=15)  # the first batch is in flight, hanging
    journal = Journal.open(db)
    assert journal.pending()
    landed = sandbox.counters.get("writes_applied", 0)
    daemon.send(signal.SIGTERM)
    stopped = time.monotonic()
    assert daemon.finish(10) == 5
    assert time.monotonic() - stopped < 2
    daemon.wait_for("stop_timeout", 1)
    [run] = runs(journal)
    assert journal.get_run(run.run_id).status == "running" and journal.pending()
    hold.release()  # the hanging batch lands after the daemon has gone
    poll(lambda: sandbox.counters.get("writes_applied", 0) > landed, 10)
    restart = spawn(config, sandbox, "--once")  # a restart recovers before it runs anything
    assert restart.finish(30) == 0
    restart.wait_for("run_recovered", 1, run_id=run.run_id, status="succeeded")
    assert journal.pending() == []
    result = cli(config, sandbox, "recover")
    assert result.exit_code == 0 and "nothing to recover" in result.output
    recovered = journal.get_run(run.run_id)
    assert recovered.status == "succeeded" and recovered.counts.done == SPAM_TICKETS
    marked = [
        a
        for actions in sandbox.state.actions.values()
        for a in actions
        if f"{MARKER_PREFIX}{run.run_id}]" in str(a.get("note"))
    ]
    assert len(marked) == SPAM_TICKETS == len({a["ticket_id"] for a in marked})
    journal.close()


# ---------------------------------------------------------------------------- --once


def test_once_shadow_mode_writes_nothing_and_refusal_is_journaled(
    tmp_path: Path, sandbox: SandboxServer, spawn: Callable[..., DaemonProcess]
) -> None:
    """--once runs each scheduled playbook once and exits: a `mode: preview` playbook is
    journaled as a preview with its would-be changes and writes nothing; a plan over
    max_changes is refused, journaled and logged; the exit code is 4 (refused)."""
    config = workspace(
        tmp_path,
        sandbox,
        playbook("shadow-spam", mode="preview"),
        playbook("tight-spam", max_changes=5),
    )
    daemon = spawn(config, sandbox, "--once")
    assert daemon.finish(30) == 4
    with Journal.open(tmp_path / "journal.db") as journal:
        [shadow] = runs(journal, "shadow-spam")
        [tight] = runs(journal, "tight-spam")
    assert (shadow.mode, shadow.status, shadow.counts.planned) == ("preview", "previewed", 32)
    assert tight.status == "refused" and "max_changes (5)" in (tight.message or "")
    assert sandbox.counters.get("writes_applied", 0) == 0
    _, refused = daemon.wait_for("run_refused", 1)
    assert refused["run_id"] == tight.run_id
    summaries = [e for e in daemon.events if e["event"] == "run_summary"]
    assert {e["status"] for e in summaries} == {"previewed", "refused"}
    history = cli(config, sandbox, "history", "--json", "--playbook", "shadow-spam")
    assert history.exit_code == 0 and shadow.run_id in history.output


def test_once_respects_a_lock_held_by_another_run(
    tmp_path: Path, sandbox: SandboxServer, spawn: Callable[..., DaemonProcess]
) -> None:
    """While another process (a manual run) holds the playbook's journal lock, the scheduled
    run is refused with run_locked and writes nothing (exit 4); once it is free the run
    applies (exit 0)."""
    config = workspace(tmp_path, sandbox, playbook())
    with Journal.open(tmp_path / "journal.db") as journal:
        lock = journal.acquire_lock("close-spam", "manual-run")
        daemon = spawn(config, sandbox, "--once")
        assert daemon.finish(30) == 4
        _, locked = daemon.wait_for("run_locked", 1)
        assert "manual-run" in locked["error"]
        assert sandbox.counters.get("writes_applied", 0) == 0
        lock.release()
        again = spawn(config, sandbox, "--once")
        assert again.finish(30) == 0
        [run] = [r for r in runs(journal) if r.status == "succeeded"]
        assert run.counts.done == SPAM_TICKETS


# ---------------------------------------------------------------------------- in-process


def test_daemon_command_once_in_process(tmp_path: Path, sandbox: SandboxServer) -> None:
    """`daemon --once` (in-process, for coverage of the command) applies and exits 0."""
    config = workspace(tmp_path, sandbox, playbook())
    result = cli(config, sandbox, "daemon", "--once")
    assert result.exit_code == 0, result.output
    with Journal.open(tmp_path / "journal.db") as journal:
        [run] = runs(journal)
    assert (run.trigger, run.status, run.counts.done) == ("schedule", "succeeded", SPAM_TICKETS)


def test_daemon_command_config_errors_exit_2(tmp_path: Path, sandbox: SandboxServer) -> None:
    """A bad daemon setting (time zone, remote health address) is one line on stderr, exit 2."""
    config = workspace(tmp_path, sandbox, playbook(), timezone="Mars/Base")
    result = cli(config, sandbox, "daemon")
    assert result.exit_code == 2 and "daemon.timezone: unknown time zone" in result.output
    config.write_text(
        config.read_text().replace("Mars/Base", "UTC").replace("127.0.0.1:0", "0.0.0.0:0"),
        encoding="utf-8",
    )
    result = cli(config, sandbox, "daemon")
    assert result.exit_code == 2 and "not a loopback address" in result.output


def test_the_schedule_speedup_switch_shortens_intervals_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The switch these tests give the service divides `every` intervals and leaves cron times
    alone; unset, zero, below 1 or not a number, it changes nothing."""
    every, cron = parse_schedule("every 5s"), parse_schedule("0 3 * * *")
    tz = ZoneInfo("UTC")
    monkeypatch.setenv(SCHEDULE_SPEEDUP_ENV, "2.5")
    assert make_trigger(every, tz).interval == timedelta(seconds=2)
    assert str(make_trigger(cron, tz)) == str(make_trigger(cron, tz))  # cron: as written
    assert make_trigger(cron, tz).get_next_fire_time(None, T0) == T0.replace(hour=3)
    for value in ("", "0", "0.5", "fast", "inf", "nan"):
        monkeypatch.setenv(SCHEDULE_SPEEDUP_ENV, value)
        assert make_trigger(every, tz).interval == timedelta(seconds=5), value
    monkeypatch.delenv(SCHEDULE_SPEEDUP_ENV)
    assert make_trigger(every, tz).interval == timedelta(seconds=5)
