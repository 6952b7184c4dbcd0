"""Logging: JSON off a terminal, console on one, run context on every line, one run summary."""

from __future__ import annotations

import io
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from halo_automate import logs
from halo_automate.config import HaloSettings
from halo_automate.core.playbook import load_playbook
from halo_automate.engine.runner import Runner
from halo_automate.halo.client import HaloClient
from halo_automate.sandbox.server import SandboxServer
from halo_automate.store.journal import Journal

ROOT = Path(__file__).resolve().parent.parent
SUMMARY_KEYS = {"scanned", "matched", "changed", "skipped", "failed", "requests", "seconds"}


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    for name in logs.STDLIB_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_lines_when_not_a_terminal() -> None:
    """Off a terminal every log call is one JSON object with event, level and a UTC timestamp."""
    out = io.StringIO()
    logs.configure(stream=out)
    structlog.get_logger("t").info("hello", count=3)
    [line] = lines(out)
    assert line["event"] == "hello" and line["count"] == 3 and line["level"] == "info"
    assert line["timestamp"].endswith("Z")


def test_console_output_on_a_terminal() -> None:
    """On a terminal the output is readable console text, not JSON."""
    out = Terminal()
    logs.configure(stream=out)
    structlog.get_logger("t").warning("disk_low", free="1G")
    text = out.getvalue()
    assert "disk_low" in text and "free" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_explicit_json_overrides_the_terminal_check() -> None:
    """json=True forces JSON even on a terminal; a closed or odd stream counts as no terminal."""
    out = Terminal()
    logs.configure(json=True, stream=out)
    structlog.get_logger("t").info("x")
    assert lines(out)[0]["event"] == "x"
    closed = io.StringIO()
    closed.close()
    assert logs.is_terminal(closed) is False


def test_level_filters_lower_levels() -> None:
    """level=WARNING drops info lines."""
    out = io.StringIO()
    logs.configure(stream=out, level="warning")
    log = structlog.get_logger("t")
    log.info("quiet")
    log.warning("loud")
    assert [line["event"] for line in lines(out)] == ["loud"]


def test_bound_context_is_on_every_line_inside_and_gone_after() -> None:
    """bound(run_id=..., playbook=...) puts both keys on each line logged inside the block."""
    out = io.StringIO()
    logs.configure(stream=out)
    log = structlog.get_logger("t")
    with logs.bound(run_id="r1", playbook="p"):
        log.info("a")
        structlog.get_logger("other").info("b")
    log.info("c")
    a, b, c = lines(out)
    assert (a["run_id"], a["playbook"], b["run_id"]) == ("r1", "p", "r1")
    assert "run_id" not in c


def test_library_warnings_are_rendered_as_json_once() -> None:
    """APScheduler's stdlib warnings come out as JSON lines too (info is dropped), and
    configuring twice does not duplicate them."""
    out = io.StringIO()
    logs.configure(stream=out)
    logs.configure(stream=out)
    logger = logging.getLogger("apscheduler.executors.default")
    logger.info("Running job")
    logger.warning("Run time of job %s was missed", "a")
    [line] = lines(out)
    assert line["event"] == "Run time of job a was missed"
    assert (line["level"], line["logger"]) == ("warning", "apscheduler.executors.default")


def test_a_run_writes_one_json_summary_line_and_tags_every_line(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    """A real run over the sandbox logs exactly one run_summary JSON line with the counts,
    requests and seconds, and every line of the run carries its run_id and playbook."""
    out = io.StringIO()
    logs.configure(stream=out, level="DEBUG")
    shutil.copy(ROOT / "playbooks" / "close-spam.yaml", tmp_path / "close-spam.yaml")
    settings = HaloSettings(
        base_url=sandbox.base_url,
        client_id=sandbox.client_id,
        client_secret=SecretStr(sandbox.client_secret),
    )
    with HaloClient(settings) as client, Journal.open(tmp_path / "j.db") as journal:
        outcome = Runner(client, journal).run(
            load_playbook(tmp_path / "close-spam.yaml"), trigger="schedule", confirm=None
        )
    records = lines(out)
    assert len(records) >= 2
    assert all(r["run_id"] == outcome.run_id and r["playbook"] == "close-spam" for r in records)
    [summary] = [r for r in records if r["event"] == "run_summary"]
    assert set(summary) >= SUMMARY_KEYS
    assert (summary["status"], summary["changed"], summary["matched"]) == ("succeeded", 32, 32)
    assert summary["requests"] == outcome.requests > 0
    assert sandbox.client_secret not in out.getvalue()
