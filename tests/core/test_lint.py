"""core/lint.py on its own: the cases the corpus pairs do not show."""

from __future__ import annotations

from pathlib import Path

from halo_automate.core.lint import Budget, lint, runs_per_day
from halo_automate.core.playbook import Playbook, load_playbook, load_playbook_text

ROOT = Path(__file__).resolve().parents[2]


def _pb(name: str, body: str) -> Playbook:
    return load_playbook_text(f"name: {name}\n{body}", f"{name}.yaml")


def test_quarantine_strategy_on_a_schedule_is_quiet() -> None:
    """The documented alternative (quarantine-spam scheduled, close-spam manual) warns nothing:
    close-quarantined releases the quarantine, and the two do not fight over the status."""
    shipped = {p.stem: load_playbook(p) for p in (ROOT / "playbooks").glob("*.yaml")}
    quarantine = shipped["quarantine-spam"].model_copy(
        update={"schedule": shipped["close-spam"].schedule}
    )
    spam = shipped["close-spam"].model_copy(update={"schedule": None})
    others = [p for k, p in shipped.items() if k not in {"quarantine-spam", "close-spam"}]
    assert lint([*others, quarantine, spam]) == []


def test_two_schedules_closing_to_the_same_status_do_not_fight() -> None:
    body = 'schedule: "0 * * * *"\nselect: {open_only: true}\nactions:\n  - close: {}\n'
    assert lint([_pb("a", body), _pb("b", body)]) == []


def test_recategorize_is_never_called_rematching() -> None:
    """Its map is its own condition: a recategorized ticket is not written again."""
    pb = _pb(
        "c",
        'schedule: "0 * * * *"\nactions:\n  - recategorize:\n      field: category_1\n'
        '      map: {"A": "B"}\n',
    )
    assert lint([pb]) == []


def test_runs_per_day_from_cron_and_interval() -> None:
    cron = _pb("d", 'schedule: "0,30 6,18 * * *"\nactions:\n  - close: {}\n')
    every = _pb("e", "schedule: every 10m\nactions:\n  - close: {}\n")
    assert runs_per_day(cron) == 4
    assert runs_per_day(every) == 144


def test_budget_share_is_split_over_the_scheduled_playbooks() -> None:
    """Each of four playbooks every 5 minutes costs 288 x 11 = 3,168 a day: within a quarter
    of half of 86,400, but not of half of 8,640."""
    pbs = [_pb(f"p{i}", 'schedule: "*/5 * * * *"\nactions:\n  - close: {}\n') for i in range(4)]
    assert lint(pbs) == []
    small = lint(pbs, Budget(requests=30))
    assert [w.rule for w in small] == ["over-budget"] * 4
    assert "split over 4 scheduled playbook(s)" in small[0].message
