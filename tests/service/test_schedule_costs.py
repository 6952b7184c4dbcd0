"""Budget awareness (issue 15): each schedule's requests per hour, estimated from the journal's
recent runs, else the ticket count; the warning over the share; the /metrics families."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from halo_automate.cli import main
from halo_automate.config import RateLimit
from halo_automate.core.outcome import RunStatus
from halo_automate.core.playbook import Playbook, load_playbook_text
from halo_automate.service.budget import RequestRate, estimate, full_read_cost
from halo_automate.store.journal import Counts, Journal, RunStart

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LIMIT = RateLimit(requests=300, per_seconds=300)  # 3,600 an hour


def book(name: str, schedule: str | None) -> Playbook:
    line = f'schedule: "{schedule}"\n' if schedule else ""
    return load_playbook_text(f"name: {name}\n{line}actions:\n  - set: {{priority: Low}}\n")


def record(j: Journal, run_id: str, playbook: str, requests: int, scanned: int = 0) -> None:
    j.record_run(
        RunStart(run_id=run_id, playbook=playbook, playbook_hash="h", mode="apply",
                 trigger="schedule", started_by="t",
                 counts=Counts(requests=requests, scanned=scanned)),
        RunStatus.SUCCEEDED, None,
    )  # fmt: skip


def test_the_journal_first_then_the_ticket_count_then_an_assumption(tmp_path: Path) -> None:
    books = [book("fast", "every 5m"), book("quarter", "*/15 * * * *"), book("manual", None)]
    found = estimate(books, instance="default", limit=LIMIT, warn_share=0.5)
    assert [(c.playbook, c.runs_per_hour, c.source) for c in found.costs] == [
        ("fast", 12, "assumed (1,000 tickets)"), ("quarter", 4, "assumed (1,000 tickets)"),
    ]  # fmt: skip
    assert found.costs[0].requests_per_run == full_read_cost(1000) == 12

    clock = iter(T + timedelta(minutes=i) for i in range(50))
    with Journal.open(tmp_path / "j.db", clock=lambda: next(clock)) as j:
        record(j, "r1", "fast", 205, scanned=20_000)  # its first, full read
        for i, n in enumerate((6, 5, 7)):
            record(j, f"r{i + 2}", "fast", n, scanned=40)
        found = estimate(books, instance="default", limit=LIMIT, warn_share=0.5, journal=j)
    fast, quarter = found.costs
    assert (fast.requests_per_run, fast.source) == (6.5, "journal (4 runs)")
    assert (quarter.requests_per_run, quarter.source) == (202, "tickets (20,000)")
    assert found.total_per_hour == 12 * 6.5 + 4 * 202
    assert found.budget_per_hour == 3600
    assert not found.over
    assert found.lines()[-1] == (
        "budget: schedules on instance 'default' estimated at ~886 requests/hour, 25% of "
        "its 3,600/hour, under the warning share of 50%"
    )
    assert estimate(books, instance="eu", limit=LIMIT, warn_share=0.5, journal=None).costs


def test_over_the_share_warns() -> None:
    found = estimate([book("fast", "every 1m")], instance="default", limit=LIMIT,
                     warn_share=0.1)  # fmt: skip
    assert found.over and found.share == 720 / 3600


def test_metrics_export_the_last_hours_requests_and_the_budget() -> None:
    now = [T]
    rate = RequestRate(lambda: now[0], LIMIT)
    rate.record("close-spam", 200, T - timedelta(minutes=70))  # more than an hour ago
    rate.record("close-spam", 7, T - timedelta(minutes=20))
    rate.record("close-spam", 5, T - timedelta(minutes=5))
    rate.record("cleanup", 30, T - timedelta(minutes=1))
    text = rate.prometheus(["close-spam", "cleanup", "idle"])
    assert 'halo_automate_playbook_requests_per_hour{playbook="close-spam"} 12' in text
    assert 'halo_automate_playbook_requests_per_hour{playbook="cleanup"} 30' in text
    assert 'halo_automate_playbook_requests_per_hour{playbook="idle"} 0' in text
    assert "halo_automate_budget_requests_per_hour 3600" in text
    assert "halo_automate_budget_used_per_hour 42" in text
    assert "halo_automate_budget_used_ratio 0.0116667" in text
    rate.estimate = estimate([book("idle", "every 5m")], instance="default", limit=LIMIT,
                             warn_share=0.5)  # fmt: skip
    assert 'halo_automate_estimated_requests_per_hour{playbook="idle"} 144' in (
        rate.prometheus(["idle"])
    )


def test_validate_warns_when_the_schedules_pass_the_share(tmp_path: Path) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "fast.yaml").write_text(
        'name: fast\nschedule: "every 1m"\nactions:\n  - set: {priority: Low}\n', "utf-8"
    )
    config = tmp_path / "config.yaml"
    base = (
        "halo:\n  base_url: https://x.halopsa.com\n  client_id: a\n  client_secret: b\n"
        f"playbooks_dir: {folder}\njournal: {tmp_path / 'j.db'}\n"
    )
    config.write_text(base + "reads:\n  budget_warn_share: 0.1\n", "utf-8")
    result = CliRunner().invoke(main, ["validate", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "warning: budget: schedules on instance 'default' estimated at ~720 " in (result.output)
    assert "  fast (every 1m): ~720 requests/hour (60 runs x 12.0, from assumed" in result.output
    assert not (tmp_path / "j.db").exists()  # validate never creates the journal

    config.write_text(base, "utf-8")  # the default share (50%): quiet
    result = CliRunner().invoke(main, ["validate", "--config", str(config)])
    assert "budget" not in result.output
