"""``python -m bench``: run the benchmark, print the table, write bench/results.json."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from bench import report
from bench.scenarios import ROOT, BenchSettings, quick
from bench.suite import run_suite
from halo_automate.sandbox.command import parse_duration, parse_rate_limit

NOTES = [
    "requests: counted by the sandbox (every request that reached it, 429s included); "
    "client_requests: the client's own count",
    "floor: see bench/floor.py (token + lookups + pages + stale-check pages + write batches; "
    "time from the rolling window, latency and concurrency)",
    "times are scaled: a real tenant's seconds = these seconds x settings.scale (CPU time "
    "does not scale, so CPU-bound parts look scale times larger here than on a tenant)",
    "peak_rss_mb: VmHWM of the job's own process (a fresh process per job)",
    "baseline.extrapolated: the write phase of a run capped at baseline_limit changed "
    "tickets, scaled linearly to all changes; the read phase as measured",
]
SCENARIO_KEYS = (
    "spam-sweep", "category-cleanup", "bulk-edit", "scan", "arrival", "arrival-poll", "plan-cpu",
)  # fmt: skip


def _parsed(parser: Any) -> Any:
    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        try:
            return parser(value)
        except ValueError as e:
            raise click.BadParameter(str(e)) from None

    return callback


def build_settings(quick_run: bool, overrides: dict[str, Any]) -> BenchSettings:
    """Defaults, then the quick variant, then every option given on the command line."""
    settings = quick(BenchSettings()) if quick_run else BenchSettings()
    given = {k: v for k, v in overrides.items() if v is not None}
    rate = given.pop("rate", None)
    if rate is not None:
        given["rate_requests"], given["rate_window_real"] = rate
    if given.get("baseline_limit") == 0:
        given["baseline_limit"] = None
    return replace(settings, **given)


def run(
    settings: BenchSettings, out: Path, command: str, keep: bool, console: Console
) -> dict[str, Any]:
    """Run the suite in a scratch folder and write the results document to ``out``."""
    workdir = Path(tempfile.mkdtemp(prefix="halo-bench-"))
    started = time.monotonic()
    try:
        results = run_suite(settings, workdir, lambda text: console.print(text, style="dim"))
    except BaseException:
        console.print(f"logs kept in {workdir}", style="red")
        raise
    if keep:
        console.print(f"logs kept in {workdir}", style="dim")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    doc: dict[str, Any] = {
        "format": report.RESULTS_FORMAT,
        "version": report.RESULTS_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "seconds": round(time.monotonic() - started, 1),
        "machine": report.machine(),
        "settings": settings.to_dict(),
        "notes": NOTES,
        **results,
    }
    doc["targets"] = report.targets(doc)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--quick", "quick_run", is_flag=True, help="Small counts and a 3 s window (the CI smoke test)."
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True),
    help="Divide every time (window, latency, baseline sleep) by this. [10]",
)
@click.option(
    "--rate-limit",
    "rate",
    callback=_parsed(parse_rate_limit),
    help="The real tenant's limit before scaling. [300/300s]",
)
@click.option(
    "--latency",
    "latency_real",
    callback=_parsed(parse_duration),
    help="Per-request latency of the real tenant before scaling. [200ms]",
)
@click.option("--spam-tickets", type=click.IntRange(min=1), help="Scenario 1 size. [20000]")
@click.option("--category-tickets", type=click.IntRange(min=1), help="Scenario 2 size. [50000]")
@click.option(
    "--client-tickets",
    type=click.IntRange(min=1),
    help="Scenario 3: the client's open tickets. [2000]",
)
@click.option("--scan-tickets", type=click.IntRange(min=1), help="Scenario 4 size. [100000]")
@click.option(
    "--plan-tickets",
    "plan_cpu_tickets",
    type=click.IntRange(min=1),
    help="Tickets for the make_plan CPU measure. [100000]",
)
@click.option(
    "--baseline-limit",
    type=click.IntRange(min=0),
    help="Changed tickets the baseline writes before extrapolating; 0 = all. [500]",
)
@click.option(
    "--no-baseline", "baseline", flag_value=False, default=None, help="Measure halo_automate only."
)
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(SCENARIO_KEYS),
    help="Run only these scenarios (repeatable).",
)
@click.option(
    "--arrivals", type=click.IntRange(min=1), help="Spam arrivals timed to their close. [20]"
)
@click.option(
    "--poll-speedup",
    type=click.FloatRange(min=1),
    help="arrival-poll (minutes of real time, run only when named in --only): the daemon's "
    "'every 1m' schedule and the arrivals this many times faster (a scaled measurement). [1]",
)
@click.option("--batch-size", type=click.IntRange(1, 100), help="Objects per write. [100]")
@click.option("--concurrency", type=click.IntRange(1, 16), help="Parallel page reads. [4]")
@click.option(
    "--write-concurrency",
    type=click.IntRange(1, 16),
    help="Write batches of one phase in flight (1 = one at a time, as before issue 15). [4]",
)
@click.option("--seed", type=int, help="Sandbox data seed. [1]")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Results file. [bench/results.json; --quick: bench/results-quick.json]",
)
@click.option(
    "--markdown",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the tables as Markdown here.",
)
@click.option("--keep", is_flag=True, help="Keep the scratch folder (logs, playbooks).")
@click.option(
    "--steady",
    is_flag=True,
    help="Run only the steady state of scheduled playbooks (simulated hours, bench/steady.py).",
)
@click.option("--steady-hours", type=click.FloatRange(min=1), default=24.0, show_default=True,
              help="Simulated hours measured after a one-hour warm-up.")  # fmt: skip
@click.option("--steady-tickets", multiple=True, type=click.IntRange(min=100),
              help="Sandbox sizes of the steady state (repeatable). [20000, 100000]")  # fmt: skip
def main(quick_run: bool, out: Path | None, markdown: Path | None, keep: bool,
         only: tuple[str, ...], steady: bool, steady_hours: float,
         steady_tickets: tuple[int, ...], **overrides: Any) -> None:  # fmt: skip
    """Benchmark halo_automate against the request floor and a naive baseline.

    Each measurement starts a fresh sandbox Halo in its own process (real HTTP, seeded data,
    rate limit scaled by --scale) and runs the job in a fresh process to take its peak RSS.
    With --steady: scheduled playbooks over simulated hours, today vs incremental vs the floor.
    """
    if steady:
        run_steady(steady_tickets or (20_000, 100_000), steady_hours, out, markdown)
        return
    settings = build_settings(quick_run, {**overrides, "only": only or None})
    default = "results-quick.json" if quick_run else "results.json"
    out = out or ROOT / "bench" / default
    command = "python -m bench " + shlex.join(sys.argv[1:])
    console = Console() if sys.stdout.isatty() else Console(width=150)
    results = run(settings, out, command.strip(), keep, console)
    report.print_results(results, console)
    console.print(f"Results written to {out}")
    if markdown is not None:
        markdown.write_text(report.markdown(results), encoding="utf-8")


def run_steady(sizes: tuple[int, ...], hours: float, out: Path | None,
               markdown: Path | None) -> None:  # fmt: skip
    """``--steady``: bench/steady.py's simulation; bench/results-steady.json and its tables."""
    import logging

    import structlog

    from bench import steady as steady_bench

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    console = Console() if sys.stdout.isatty() else Console(width=150)
    started = time.monotonic()
    doc: dict[str, Any] = {
        "format": "halo-automate/bench-steady",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench " + shlex.join(sys.argv[1:]),
        "machine": report.machine(),
        "steady_state": steady_bench.steady_state(sizes, hours, console.print),
        "second_runs": steady_bench.second_runs(),
    }
    doc["seconds"] = round(time.monotonic() - started, 1)
    out = out or ROOT / "bench" / "results-steady.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    text = steady_bench.markdown(doc)
    console.print(text)
    console.print(f"Results written to {out}")
    if markdown is not None:
        markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
