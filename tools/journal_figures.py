"""Measure the journal after many large runs: its size, and ``history``'s time and peak RSS.

``python tools/journal_figures.py [--runs 50] [--changes 3800] [--dir DIR]`` builds a journal
directly through the Journal API (each run: a realistic close-spam plan of ``--changes``
changes, journaled in batches of 100 pending rows then marked done, as apply does), then
runs ``halo-automate history`` (and ``history --json``) in a fresh process and prints one
JSON object: journal bytes, plan bytes, and per command the wall time and peak RSS.
Issue 13.11's figures (before → after the v5 plan table) come from this script.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import MappingProxyType

from halo_automate.core.changes import ActionSpec, FieldChange, Plan, TicketChange
from halo_automate.core.plan import plan_to_json
from halo_automate.store.journal import Journal, NewChange, RunStart

WORDS = (
    "unsubscribe", "click", "here", "offer", "winner", "free", "prize", "claim", "account",
    "verify", "urgent", "invoice", "payment", "update", "your", "password", "reset", "alert",
)  # fmt: skip
BATCH = 100


def big_plan(run_id: str, changes: int, rng: random.Random) -> Plan:
    """A close-spam plan of ``changes`` tickets, with varied summaries and client names."""
    out = []
    for n in range(changes):
        summary = (
            " ".join(rng.choice(WORDS) for _ in range(8)).capitalize() + f" #{rng.randrange(10**6)}"
        )
        out.append(
            TicketChange(
                ticket_id=100_000 + n,
                client_name=f"Client {rng.randrange(400)} Ltd",
                summary=summary,
                reason="summary matches '(?i)unsubscribe.*click.*here' and status is New",
                fields=MappingProxyType({"status_id": FieldChange(1, 9)}),
                ticket_update=MappingProxyType({"status_id": 9}),
                actions=(
                    ActionSpec(
                        "note",
                        MappingProxyType(
                            {
                                "note": f"Closed as spam by halo-automate run {run_id}: {summary}",
                                "outcome_id": 7,
                                "hiddenfromuser": True,
                            }
                        ),
                    ),
                ),
            )
        )
    return Plan(
        version=1, run_id=run_id, playbook="close-spam", playbook_hash="h" * 64,
        created_at="2026-12-01T00:00:00+00:00", mode="apply", halo_rules=False,
        max_changes=10_000, expect_min=None, expect_max=None, query=MappingProxyType({}),
        scanned=changes * 3, matched=changes, changes=tuple(out), not_evaluated=(),
    )  # fmt: skip


def build(path: Path, runs: int, changes: int) -> int:
    """The journal of ``runs`` applied runs; the bytes of plan JSON it was given."""
    rng = random.Random(13)
    plan_bytes = 0
    with Journal.open(path) as journal:
        for r in range(runs):
            run_id = f"run-{r:03d}"
            plan = big_plan(run_id, changes, rng)
            text = plan_to_json(plan)
            plan_bytes += len(text.encode())
            journal.start_run(RunStart(run_id, "close-spam", "h", "apply", "cli", plan_json=text))
            for start in range(0, changes, BATCH):
                rows = [
                    NewChange(c.ticket_id, "status_id", 1, 9, batch=start // BATCH)
                    for c in plan.changes[start : start + BATCH]
                ]
                ids = journal.add_changes(run_id, rows)
                journal.mark(ids, "done")
            journal.finish_run(run_id, "succeeded")
    return plan_bytes


HWM = (
    "import atexit, sys\n"
    "def hwm():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            print('VmHWM', line.split()[1], file=sys.stderr)\n"
    "atexit.register(hwm)\n"
    "from halo_automate.cli import main\n"
    "main()\n"
)
"""The CLI, reporting its own peak RSS (``VmHWM``: this process's, unlike ``ru_maxrss``,
which a child forked from this big builder process inherits)."""


def measure(config: Path, *args: str) -> dict[str, float]:
    """Wall seconds and peak RSS (MB) of ``halo-automate <args>`` in a fresh process."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-c", HWM, *args, "--limit", "50", "--config", str(config)],
        capture_output=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{args} failed: {done.stderr.decode()[-500:]}")
    kib = int(done.stderr.decode().rsplit("VmHWM", 1)[1].split()[0])
    return {"seconds": round(wall, 3), "peak_rss_mb": round(kib / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--changes", type=int, default=3800)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="journal-figures-", dir=args.dir))
    path = folder / "journal.db"
    plan_bytes = build(path, args.runs, args.changes)
    config = folder / "config.yaml"
    config.write_text(
        "halo: {base_url: 'http://127.0.0.1:9', client_id: x, client_secret: y}\n"
        f"journal: {path}\n",
        encoding="utf-8",
    )
    with Journal.open(path) as journal:
        started = time.perf_counter()
        listed = journal.runs(limit=50)
        runs_seconds = time.perf_counter() - started
    assert len(listed) == args.runs
    figures = {
        "runs": args.runs,
        "changes_per_run": args.changes,
        "plan_json_bytes_given": plan_bytes,
        "journal_bytes": path.stat().st_size + sum(
            p.stat().st_size for p in folder.glob("journal.db-*")),
        "journal_runs_seconds": round(runs_seconds, 3),
        "history": measure(config, "history"),
        "history_json": measure(config, "history", "--json"),
    }  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
