"""Benchmark settings and the four scenarios (playbooks, sandbox sizes)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOKS = ROOT / "playbooks"
NO_LIMIT = 10_000_000
SHARE_SAMPLE = 20_000
BULK_CLIENT_ID = 9  # Woodgrove Bank (notes/seed.md), the client of bulk-edit-woodgrove.yaml
CLOSED_STATUS = 9
SCAN_NOTHING = """\
name: scan-nothing
description: Read every ticket and match none (read throughput and memory).
select: {}
where:
  user_email: {domain: [no-such-sender.example]}
actions:
  - set: {priority: Low}
limits: {max_changes: 1}
"""


@dataclass(frozen=True)
class BenchSettings:
    """Everything a run depends on. Times are a real tenant's, divided by ``scale``."""

    scale: float = 10.0
    rate_requests: int = 300  # Halo: ~300 requests ...
    rate_window_real: float = 300.0  # ... per rolling 5 minutes
    latency_real: float = 0.2  # seconds the sandbox adds to every request (real tenant)
    retry_sleep_real: float = 5.0  # the baseline's fixed sleep after a 429
    concurrency: int = 4
    write_concurrency: int = 4  # write batches of one phase in flight (halo.write_concurrency)
    batch_size: int = 100
    seed: int = 1
    spam_tickets: int = 20_000
    category_tickets: int = 50_000
    client_tickets: int = 2_000
    scan_tickets: int = 100_000
    plan_cpu_tickets: int = 100_000
    arrivals: int = 20  # spam tickets timed from arrival to close (webhooks; bench.arrival)
    poll_speedup: float = 1.0  # arrival-poll: the "every 1m" schedule this many times faster
    baseline_limit: int | None = 500  # changed tickets the baseline writes (None = all)
    baseline: bool = True
    only: tuple[str, ...] = ()
    quick: bool = False
    share_sample: int = SHARE_SAMPLE  # tickets generated to size the bulk-edit sandbox

    @property
    def window(self) -> float:
        return self.rate_window_real / self.scale

    @property
    def latency(self) -> float:
        return self.latency_real / self.scale

    @property
    def retry_sleep(self) -> float:
        return self.retry_sleep_real / self.scale

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "rate_limit": {"requests": self.rate_requests, "per_seconds": self.window},
            "rate_limit_real": {
                "requests": self.rate_requests,
                "per_seconds": self.rate_window_real,
            },
            "latency_seconds": self.latency,
            "latency_seconds_real": self.latency_real,
            "baseline_retry_sleep_seconds": self.retry_sleep,
            "concurrency": self.concurrency,
            "write_concurrency": self.write_concurrency,
            "poll_speedup": self.poll_speedup,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "baseline_limit": self.baseline_limit,
            "quick": self.quick,
        }


QUICK: dict[str, Any] = {
    "scale": 100.0,
    "spam_tickets": 2_000,
    "category_tickets": 2_000,
    "client_tickets": 150,
    "scan_tickets": 5_000,
    "plan_cpu_tickets": 10_000,
    "arrivals": 3,
    "baseline_limit": 40,
    "quick": True,
    "share_sample": 2_000,
}


def quick(settings: BenchSettings) -> BenchSettings:
    """The CI smoke variant: small counts, a 3-second window."""
    return replace(settings, **QUICK)


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    playbook: Path
    sandbox_tickets: int
    note: str = ""


def raised_copy(source: Path, dest: Path, *, drop_select: bool = False) -> Path:
    """A copy of a playbook with ``limits.max_changes`` out of the way (and no schedule)."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["limits"] = {**(data.get("limits") or {}), "max_changes": NO_LIMIT}
    data.pop("schedule", None)
    if drop_select:
        data.pop("select", None)
    dest.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return dest


def client_open_share(seed: int, sample: int = SHARE_SAMPLE) -> float:
    """The share of sandbox tickets that are open tickets of the bulk-edit client."""
    from halo_automate.sandbox.data import generate

    state = generate(sample, seed, datetime.now(UTC))
    hits = sum(
        1
        for t in state.tickets.values()
        if t["client_id"] == BULK_CLIENT_ID and t["status_id"] != CLOSED_STATUS
    )
    return hits / sample


def scenarios(settings: BenchSettings, workdir: Path) -> list[Scenario]:
    """The scenarios selected by ``settings.only`` (all by default), playbooks in ``workdir``."""
    wanted = set(settings.only) or {"spam-sweep", "category-cleanup", "bulk-edit", "scan"}
    out: list[Scenario] = []
    if "spam-sweep" in wanted:
        out.append(
            Scenario(
                "spam-sweep",
                "1. Spam sweep",
                raised_copy(PLAYBOOKS / "close-spam.yaml", workdir / "close-spam.yaml"),
                settings.spam_tickets,
            )
        )
    if "category-cleanup" in wanted:
        out.append(
            Scenario(
                "category-cleanup",
                "2. Category cleanup",
                raised_copy(PLAYBOOKS / "category-cleanup.yaml", workdir / "category-cleanup.yaml"),
                settings.category_tickets,
            )
        )
    if "bulk-edit" in wanted:
        share = client_open_share(settings.seed, settings.share_sample)
        size = math.ceil(settings.client_tickets / share)
        out.append(
            Scenario(
                "bulk-edit",
                "3. Bulk edit, one client",
                raised_copy(PLAYBOOKS / "bulk-edit-woodgrove.yaml", workdir / "bulk-edit.yaml"),
                size,
                note=f"Woodgrove Bank's open tickets in a {size:,}-ticket sandbox",
            )
        )
    if "scan" in wanted:
        path = workdir / "scan-nothing.yaml"
        path.write_text(SCAN_NOTHING, encoding="utf-8")
        out.append(Scenario("scan", "4. Scan, no match", path, settings.scan_tickets))
    return out


def plan_cpu_playbooks(workdir: Path) -> list[Path]:
    """close-spam and category-cleanup without ``select``: every ticket meets the matcher."""
    return [
        raised_copy(PLAYBOOKS / name, workdir / f"cpu-{name}", drop_select=True)
        for name in ("close-spam.yaml", "category-cleanup.yaml")
    ]
