"""``validate`` lint warnings (core/lint.py): each rule's corpus pair, through the CLI."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from halo_automate.cli import main

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "playbook_corpus" / "lint"


def _validate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["validate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_shipped_playbooks_have_no_warning() -> None:
    """The shipped playbooks pass --strict: no lint warning on them."""
    code, out, err = _validate("--strict", str(ROOT / "playbooks"))
    assert code == 0, out
    assert "0 warning(s)" in err


def test_quarantine_without_release_warns() -> None:
    """A status set that no playbook selects and moves on warns, at the name key."""
    path = CORPUS / "quarantine_warns"
    code, out, _ = _validate(str(path))
    assert code == 0
    hold = path / "hold.yaml"
    assert out.strip() == (
        f"{hold}:2:1: warning [quarantine-without-release]: hold-for-review moves tickets to "
        "status 'On Review' but no playbook selects status 'On Review' and releases or closes "
        "them; they stay there until an agent moves them (add a playbook with "
        "select: {status: ['On Review']} and a close or set: {status: ...})"
    )
    code, _, _ = _validate("--strict", str(path))
    assert code == 2


def test_quarantine_with_release_is_quiet() -> None:
    """The same playbook beside one that closes that status: no warning, --strict passes."""
    code, out, err = _validate("--strict", str(CORPUS / "quarantine_ok"))
    assert code == 0, out
    assert "2 valid, 0 problem(s), 0 warning(s)" in err


def test_fighting_playbooks_warn() -> None:
    """Two schedules setting priority to High and Low on overlapping tickets warn."""
    path = CORPUS / "fight_warns"
    code, out, _ = _validate(str(path))
    assert code == 0
    high, low = path / "high.yaml", path / "low.yaml"
    assert out.strip() == (
        f"{low}:2:1: warning [fighting-playbooks]: lower-all sets priority to 'Low' and "
        f"raise-woodgrove ({high}:2:1) sets it to 'High', on selections that can overlap: on "
        "every run each would undo the other on the same tickets (make their select or where "
        "exclude each other, e.g. by priority)"
    )
    assert _validate("--strict", str(path))[0] == 2


def test_playbook_leaving_its_selection_does_not_fight() -> None:
    """A playbook whose status write takes tickets out of its own select acts once: quiet."""
    code, out, err = _validate("--strict", str(CORPUS / "fight_ok"))
    assert code == 0, out
    assert "0 warning(s)" in err


def test_rematching_playbook_warns() -> None:
    """A schedule that sets priority and never reads it warns."""
    path = CORPUS / "rematch_warns"
    code, out, _ = _validate(str(path))
    assert code == 0
    assert out.strip() == (
        f"{path / 'escalate.yaml'}:3:1: warning [rematching-playbook]: escalate-vip runs on a "
        "schedule but its select and where read none of the fields it sets (priority_id): a "
        "ticket it changed matches again on every run, so it overrides anyone who changes the "
        "field back and its matched count only grows; add a where that excludes tickets "
        "already done (e.g. a 'not' on priority_id)"
    )
    assert _validate("--strict", str(path))[0] == 2


def test_playbook_excluding_done_tickets_is_quiet() -> None:
    """The same playbook with a where on priority: no warning."""
    code, out, err = _validate("--strict", str(CORPUS / "rematch_ok"))
    assert code == 0, out
    assert "0 warning(s)" in err


def test_over_budget_warns(tmp_path: Path) -> None:
    """A 10-second schedule costs more than the default rate limit's share: warns."""
    path = CORPUS / "budget_warns"
    no_config = str(tmp_path / "none.yaml")
    code, out, _ = _validate("--config", no_config, str(path))
    assert code == 0
    assert out.strip() == (
        f"{path / 'poll.yaml'}:2:1: warning [over-budget]: close-bounces-fast runs 'every 10s' "
        "(8640 runs a day); assuming each run scans 1000 tickets (11 requests), that is 95,040 "
        "requests a day, more than its share 43,200 (50% of the rate limit 300 per 300s, split "
        "over 1 scheduled playbook(s)); run it less often or narrow its select"
    )
    assert _validate("--strict", "--config", no_config, str(path))[0] == 2


def test_within_budget_is_quiet_unless_the_config_limit_is_lower(tmp_path: Path) -> None:
    """Every 15 minutes fits the default limit; the config's lower rate limit makes it warn."""
    path = str(CORPUS / "budget_ok")
    code, out, err = _validate("--strict", "--config", str(tmp_path / "none.yaml"), path)
    assert code == 0, out
    assert "0 warning(s)" in err
    config = tmp_path / "config.yaml"
    config.write_text(
        "halo:\n  base_url: https://halo.example\n  client_id: x\n  client_secret: s\n"
        "  rate_limit: {requests: 60, per_seconds: 3600}\n"
    )
    code, out, _ = _validate("--strict", "--config", str(config), path)
    assert code == 2
    assert "1,056 requests a day, more than its share 720 (50% of the rate limit 60 per" in out
