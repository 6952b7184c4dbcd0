"""What an undo costs next to its apply, in requests that reach Halo (issue 12).

``python tools/undo_cost.py [TICKETS] [PLAYBOOK]`` seeds a sandbox Halo with TICKETS tickets
(default 20,000: about 1,100 spam tickets to close), applies PLAYBOOK (default close-spam, its
``max_changes`` lifted),
then undoes it; once with the default undo (the run's private notes kept, one "Reverted" note
per ticket in batches) and once, on a fresh sandbox, with ``--delete-notes`` (one DELETE per
note). Requests are the sandbox's own count of every request that reached it (token and
lookups included), with the default batch size (50) and page size (100); minutes are the least
time those requests take at a 300-per-300-s rate limit. Runs on a code base without
``prepare_undo`` too (the undo before issue 12: notes deleted), for a before/after figure.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from pydantic import SecretStr

from halo_automate.config import HaloSettings, RateLimit
from halo_automate.core.playbook import Limits, load_playbook
from halo_automate.engine import undo as undo_module
from halo_automate.engine.runner import Runner
from halo_automate.halo.client import HaloClient
from halo_automate.sandbox.testing import running_sandbox
from halo_automate.store.journal import Journal

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 300  # requests per 300 s


def minutes(requests: int) -> float:
    return (max(requests - 1, 0) // WINDOW) * WINDOW / 60


def measure(tickets: int, name: str, delete_notes: bool) -> dict[str, Any]:
    with running_sandbox(tickets=tickets) as sb, tempfile.TemporaryDirectory() as folder:
        settings = HaloSettings(
            base_url=sb.base_url, client_id=sb.client_id,
            client_secret=SecretStr(sb.client_secret),
            rate_limit=RateLimit(requests=1_000_000, per_seconds=1),
        )  # fmt: skip
        client = HaloClient(settings)
        journal = Journal.open(Path(folder) / "j.db")
        runner = Runner(client, journal, started_by="undo_cost")
        sb.reset_counters()
        playbook = load_playbook(ROOT / "playbooks" / f"{name}.yaml")
        playbook = playbook.model_copy(update={"limits": Limits(max_changes=100_000)})
        run = runner.run(playbook, trigger="cli", confirm=None)
        applied = dict(sb.counters)
        sb.reset_counters()
        now = datetime.now(UTC)
        prepare = getattr(undo_module, "prepare_undo", None)
        if prepare is not None:
            undo = prepare(client, journal, run.run_id, now=now, delete_notes=delete_notes)
            outcome = runner.apply_saved(undo.plan, confirm=None, guard=undo.guard())
        else:  # before issue 12: the run's notes are always deleted
            plan = undo_module.build_undo_plan(journal, run.run_id, now=now)
            outcome = runner.apply_saved(plan, confirm=None)
        undone = dict(sb.counters)
        deletes = sum(n for k, n in undone["requests_by_endpoint"].items() if k.startswith("DEL"))
        return {
            "playbook": name, "tickets_closed": run.changed, "delete_notes": delete_notes,
            "apply_requests": applied["requests"], "apply_minutes": minutes(applied["requests"]),
            "undo_requests": undone["requests"], "undo_minutes": minutes(undone["requests"]),
            "undo_deletes": deletes, "undo_status": str(outcome.status),
            "undo_changed": outcome.changed,
        }  # fmt: skip


def main(argv: list[str]) -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    tickets = int(argv[0]) if argv else 20_000
    name = argv[1] if len(argv) > 1 else "close-spam"
    modes = [False, True] if hasattr(undo_module, "prepare_undo") else [True]
    for delete_notes in modes:
        print(json.dumps(measure(tickets, name, delete_notes)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
