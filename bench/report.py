"""Targets, the machine, and the results as a rich table, Markdown and JSON."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS_FORMAT = "halo-automate/bench"
RESULTS_VERSION = 1
COLUMNS = (
    "Scenario", "Who", "Requests", "× floor", "429s", "Wall s", "× time floor", "Peak RSS MB",
)  # fmt: skip


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        "memory_gb": _memory_gb(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def _proc_field(path: str, name: str) -> str | None:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def _memory_gb() -> float | None:
    value = _proc_field("/proc/meminfo", "MemTotal")
    return round(int(value.split()[0]) / 1024 / 1024, 1) if value else None


# ---------------------------------------------------------------- targets


def _target(name: str, scenario: str | None, measured: float | None, limit: float, *,
            at_least: bool = False) -> dict[str, Any]:  # fmt: skip
    met = None if measured is None else (measured >= limit if at_least else measured <= limit)
    return {"target": name, "scenario": scenario, "measured": measured, "limit": limit,
            "met": met}  # fmt: skip


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with the measured value (None = not measurable here)."""
    out = []
    arrival = results.get("arrival")
    if arrival and arrival.get("p95") is not None:
        out.append(_target("arrival to close p95 <= 2 s (webhooks)", "arrival", arrival["p95"], 2))
    for s in results["scenarios"]:
        ha = s["halo_automate"]
        out.append(_target("requests <= 1.02 x floor", s["key"], ha["requests_vs_floor"], 1.02))
        out.append(_target("zero 429s", s["key"], ha["rate_limited"], 0))
        out.append(_target("wall <= 1.2 x time floor", s["key"], ha["time_vs_floor"], 1.2))
        if s["key"] == "spam-sweep" and s["baseline"] is not None:
            out.append(
                _target(
                    ">= 10x fewer requests than the baseline",
                    s["key"],
                    s["baseline_requests_per_halo_request"],
                    10,
                    at_least=True,
                )
            )
        if s["key"] == "scan":
            out.append(_target("peak RSS <= 150 MB", s["key"], ha["peak_rss_mb"], 150))
    cpu = results.get("plan_cpu")
    if cpu is not None:
        name = f"planning {cpu['tickets']:,} tickets <= 3 s CPU"
        out.append(_target(name, None, cpu["cpu_seconds"], 3.0))
    return out


# ---------------------------------------------------------------- rows


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def rows(results: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """The table's rows: floor, halo_automate and baseline for each scenario."""
    for s in results["scenarios"]:
        job, floor, ha = s["job"], s["floor"], s["halo_automate"]
        labels = iter(
            (
                s["title"],
                f"{job['tickets_read']:,} read, {job['changes']:,} changed",
                f"(sandbox {s['sandbox_tickets']:,})",
            )
        )
        yield (next(labels), "floor", f"{floor['requests']:,}", "1.00×", "0",
               _num(floor["seconds"], 2), "1.00×", "")  # fmt: skip
        yield (next(labels), "halo_automate", f"{ha['requests']:,}",
               _times(ha["requests_vs_floor"]), str(ha["rate_limited"]),
               _num(ha["wall_seconds"], 2), _times(ha["time_vs_floor"]),
               _num(ha["peak_rss_mb"]))  # fmt: skip
        for row in _baseline_rows(s):
            yield (next(labels, ""), *row)


def _baseline_rows(s: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    bl = s["baseline"]
    if bl is None:
        return
    floor = s["floor"]
    capped = bl["extrapolated"] is not None
    who = f"baseline ({bl['processed']:,} of {bl['changes']:,})" if capped else "baseline"
    yield (who, f"{bl['requests']:,}", _times(bl["requests"] / floor["requests"]),
           str(bl["rate_limited"]), _num(bl["wall_seconds"], 2),
           _times(_ratio(bl["wall_seconds"], floor["seconds"])),
           _num(bl["peak_rss_mb"]))  # fmt: skip
    if capped:
        ex = bl["extrapolated"]
        yield ("baseline, all (extrapolated)", f"≈{ex['requests']:,.0f}",
               _times(bl["requests_vs_floor"]), f"≈{ex['rate_limited']:,.0f}",
               f"≈{ex['wall_seconds']:,.1f}", _times(bl["time_vs_floor"]), "")  # fmt: skip


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def table(results: dict[str, Any]) -> Table:
    out = Table(title="halo_automate vs the floor and the baseline")
    for name in COLUMNS:
        out.add_column(name, justify="left" if name in ("Scenario", "Who") else "right",
                       no_wrap=True)  # fmt: skip
    all_rows = list(rows(results))
    for i, row in enumerate(all_rows):
        last = i + 1 == len(all_rows) or all_rows[i + 1][1] == "floor"
        out.add_row(*row, end_section=last)
    return out


def targets_table(results: dict[str, Any]) -> Table:
    out = Table(title="Targets")
    for name in ("Target", "Scenario", "Measured", "Limit", "Met"):
        out.add_column(name)
    for t in results["targets"]:
        met = {True: "yes", False: "NO", None: "n/a"}[t["met"]]
        out.add_row(t["target"], t["scenario"] or "", _num(t["measured"], 2), f"{t['limit']:g}",
                    met)  # fmt: skip
    return out


def arrival_line(results: dict[str, Any]) -> str | None:
    """Arrival to action with webhooks, one line (None when not measured)."""
    a = results.get("arrival")
    if not a or a.get("p50") is None:
        return None
    return (
        f"Arrival to action (webhooks, {a['latency_seconds'] * 1000:g} ms latency, "
        f"{a['coalesce_seconds']:g} s coalescing): {a['closed']} of {a['arrivals']} spam tickets "
        f"closed, p50 {a['p50']:.2f} s, p95 {a['p95']:.2f} s, max {a['max']:.2f} s; "
        f"{a['daemon_requests_per_arrival']:.1f} daemon requests per arrival, "
        f"{a['daemon_rate_limited']} 429s"
    )


def polling_line(results: dict[str, Any]) -> str | None:
    """Arrival to action with scheduled incremental polling, one line (None: not measured)."""
    a = results.get("arrival_poll")
    if not a or a.get("p50") is None:
        return None
    scaled = (
        f", {a['speedup']:g}x faster: every {a['interval_seconds']:g} s" if a["speedup"] > 1 else ""
    )
    return (
        f"Arrival to action (polling every 1m{scaled}, incremental reads, "
        f"{a['latency_seconds'] * 1000:g} ms latency): {a['closed']} of {a['arrivals']} spam "
        f"tickets closed, p50 {a['p50']:.2f} s, p95 {a['p95']:.2f} s, max {a['max']:.2f} s; "
        f"{a['runs']} runs, {a['daemon_requests_per_run']:.1f} daemon requests per run, "
        f"{a['daemon_rate_limited']} 429s"
    )


def print_results(results: dict[str, Any], console: Console) -> None:
    console.print(table(results))
    for line in (arrival_line(results), polling_line(results)):
        if line is not None:
            console.print(line)
    cpu = results.get("plan_cpu")
    if cpu is not None:
        for p in cpu["plans"]:
            console.print(
                f"make_plan CPU: {p['playbook']} over {p['tickets']:,} tickets: "
                f"{p['cpu_seconds']:.2f} s ({p['changes']:,} changes)"
            )
    console.print(targets_table(results))


def markdown(results: dict[str, Any]) -> str:
    """The results table and the targets as Markdown (for BENCHMARKS.md)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    for line in (arrival_line(results), polling_line(results)):
        if line is not None:
            lines += ["", line]
    lines += ["", "| Target | Scenario | Measured | Limit | Met |", "|---|---|---|---|---|"]
    for t in results["targets"]:
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        lines.append(
            f"| {t['target']} | {t['scenario'] or ''} | {_num(t['measured'], 2)} | "
            f"{t['limit']:g} | {met} |"
        )
    return "\n".join(lines) + "\n"
