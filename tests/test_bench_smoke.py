"""Smoke test of the benchmark harness (not a timing assertion): the quick variant runs, its
results file has the documented structure, and halo_automate sends no more requests than the
baseline. Also pins the floor arithmetic the harness reports against."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.baseline import BaselineReport, Phase, extrapolate
from bench.floor import Job, floor_requests, floor_seconds, ratio

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {"spam-sweep", "category-cleanup", "bulk-edit", "scan"}


# The quick variant on smaller sandboxes: this test pins the harness and the results format,
# not throughput, and a measurement's cost is mostly its two processes' start-up anyway.
SMALL = ["--spam-tickets", "600", "--category-tickets", "600", "--client-tickets", "30",
         "--scan-tickets", "1000", "--plan-tickets", "2000"]  # fmt: skip


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", *SMALL, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert time.monotonic() - started < 60
    return json.loads(out.read_text(encoding="utf-8"))


def test_quick_results_have_every_scenario_and_section(quick_results: dict) -> None:
    """The quick run writes one entry per scenario plus machine, settings, CPU and targets."""
    assert quick_results["format"] == "halo-automate/bench"
    assert {s["key"] for s in quick_results["scenarios"]} == SCENARIOS
    assert {"nproc", "cpu_model", "memory_gb", "python"} <= set(quick_results["machine"])
    assert quick_results["settings"]["quick"] is True
    assert quick_results["plan_cpu"]["cpu_seconds"] > 0
    assert {t["target"] for t in quick_results["targets"]} >= {
        "requests <= 1.02 x floor",
        "zero 429s",
        "peak RSS <= 150 MB",
    }


def test_each_scenario_reports_both_clients_against_the_floor(quick_results: dict) -> None:
    """Every scenario has the floor and, for both clients, requests, 429s, wall time and RSS."""
    for s in quick_results["scenarios"]:
        assert s["floor"]["requests"] >= 2
        for who in ("halo_automate", "baseline"):
            entry = s[who]
            for key in ("requests", "client_requests", "rate_limited", "wall_seconds"):
                assert entry[key] >= 0, (s["key"], who, key)
            assert entry["peak_rss_mb"] > 10
            assert entry["writes_verified"] is True, (s["key"], who)
        assert s["baseline"]["same_job"] is True


def test_halo_automate_needs_no_more_requests_than_the_baseline(quick_results: dict) -> None:
    """halo_automate's request count is at most the baseline's (extrapolated when capped),
    plus the one id-only listing (``ticketidonly``) its scan adds so that a ticket changing
    during the scan is never missed (issue 13); the baseline reads pages only and misses it.
    Plus one ``GET /api/InstanceInfo``: every run that talks to Halo records the instance's
    version with the run (issue 14 point 8); the baseline records nothing."""
    for s in quick_results["scenarios"]:
        baseline = s["baseline"]["extrapolated"] or s["baseline"]
        assert s["halo_automate"]["requests"] <= baseline["requests"] + 1 + 1, s["key"]
        assert s["halo_automate"]["requests"] == s["halo_automate"]["client_requests"]


def test_a_sandbox_process_loads_neither_pydantic_nor_the_config() -> None:
    """`python -m halo_automate.sandbox` (every measurement starts one, and so do the CLI
    tests) needs only the loopback rule from the config, which lives in the pure core: the
    config models and pydantic were most of its start-up time."""
    code = (
        "import sys, halo_automate.sandbox.command; "
        "print([m for m in sys.modules if m.split('.')[0] == 'pydantic' "
        "or m == 'halo_automate.config'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "[]", done.stdout


def test_floor_requests_counts_token_lookups_pages_stale_check_and_batches() -> None:
    """1 token + lookups + pages of 100 + stale pages + one batch per write kind."""
    job = Job(lookups=2, tickets_read=7521, changes=1079, ticket_updates=0, actions=1079)
    assert floor_requests(job, 100) == 1 + 2 + 76 + 11 + 11
    empty = Job(lookups=1, tickets_read=0, changes=0, ticket_updates=0, actions=0)
    assert floor_requests(empty, 50) == 3
    with pytest.raises(ValueError, match="batch_size"):
        floor_requests(empty, 0)


@pytest.mark.parametrize(
    ("requests", "latency", "concurrency", "expected"),
    [
        (0, 0.0, 1, 0.0),
        (300, 0.0, 4, 0.0),  # one window's worth goes at once
        (301, 0.0, 4, 30.0),  # the 301st waits for the first to leave the window
        (1001, 0.0, 4, 90.0),
        (301, 0.02, 4, 30.02),  # the last window's one request still takes its latency
        (100, 0.02, 4, 0.5),  # within one window only latency / concurrency binds
    ],
)
def test_floor_seconds_under_a_rolling_window(
    requests: int, latency: float, concurrency: int, expected: float
) -> None:
    """The time floor of 300 per 30 s: whole windows waited plus the last part's latency."""
    assert floor_seconds(requests, 300, 30.0, latency, concurrency) == pytest.approx(expected)


def test_floor_seconds_without_a_limit_and_ratio_of_a_zero_floor() -> None:
    """No limit leaves only latency; a zero floor has no ratio."""
    assert floor_seconds(10, 0, 30.0, 0.1, 2) == pytest.approx(0.5)
    assert ratio(5.0, 0.0) is None
    assert ratio(3.0, 2.0) == 1.5


def test_extrapolate_scales_the_write_phase_only_when_capped() -> None:
    """A capped baseline's writes scale to all changes; an uncapped one is not extrapolated."""
    report = BaselineReport(
        changes=100,
        processed=25,
        read=Phase(requests=10, rate_limited=1, seconds=2.0),
        write=Phase(requests=50, rate_limited=4, seconds=5.0),
    )
    assert extrapolate(report) == {"requests": 210, "rate_limited": 17, "wall_seconds": 22.0}
    report.processed = 100
    assert extrapolate(report) is None


def test_quick_results_time_spam_arrivals_to_their_close(quick_results: dict) -> None:
    """The arrival-to-action measure ran: every spam ticket created was closed by a webhook
    run, with its seconds, and the target row is there."""
    arrival = quick_results["arrival"]
    assert arrival["closed"] == arrival["arrivals"] > 0 and arrival["missed"] == 0
    assert 0 < arrival["p50"] <= arrival["p95"] <= arrival["max"]
    assert arrival["daemon_rate_limited"] == 0
    assert any(t["scenario"] == "arrival" for t in quick_results["targets"])


def test_the_polling_line_says_what_was_measured_and_how_it_was_scaled() -> None:
    """``--only arrival-poll`` (minutes of real time, not in the quick run): its one-line
    report names the schedule, a speed-up when there was one, and the figures."""
    from bench.report import polling_line

    measured = {
        "p50": 31.2, "p95": 57.9, "max": 59.8, "closed": 20, "arrivals": 20, "runs": 6,
        "daemon_requests_per_run": 4.5, "daemon_rate_limited": 0, "latency_seconds": 0.02,
        "speedup": 1.0, "interval_seconds": 60.0,
    }  # fmt: skip
    line = polling_line({"arrival_poll": measured})
    assert line is not None and "every 1m, incremental" in line and "faster" not in line
    assert "p50 31.20 s, p95 57.90 s" in line and "6 runs, 4.5 daemon requests per run" in line
    scaled = polling_line({"arrival_poll": {**measured, "speedup": 10.0, "interval_seconds": 6.0}})
    assert scaled is not None and "10x faster: every 6 s" in scaled
    assert polling_line({"arrival_poll": None}) is None
