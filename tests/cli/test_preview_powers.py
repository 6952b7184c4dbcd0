"""The preview says how many e-mails a run sends (and that they cannot be unsent), and what
custom fields cost in reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from halo_automate.cli.preview import totals_lines
from halo_automate.core.fixture_sample import SAMPLE_LOOKUPS
from halo_automate.core.lookups import Lookups, kind_table
from halo_automate.core.plan import make_plan, requests_needed
from halo_automate.core.playbook import load_playbook_text
from halo_automate.core.schema import lookup_kind

LOOKUPS = Lookups(
    MappingProxyType({k: kind_table(lookup_kind(k), v) for k, v in SAMPLE_LOOKUPS.items()})
)
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def rows(n: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"id": i, "client_name": "Contoso Ltd", **fields} for i in range(1, n + 1)]


def test_preview_counts_the_e_mails_a_run_sends() -> None:
    book = load_playbook_text(
        "name: w\nlifecycle:\n  - {after: 3d, note: {text: Reminder, email: true}}\n"
    )
    old = (NOW - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    plan = make_plan(book, rows(3, lastactiondate=old), LOOKUPS, now=NOW, run_id="r", query={})
    lines = totals_lines(plan)
    assert any(
        line.startswith("E-mails: applying sends 3 e-mail(s)") and "cannot be unsent" in line
        for line in lines
    ), lines


def test_preview_says_custom_fields_cost_a_read_per_ticket() -> None:
    book = load_playbook_text('name: c\nactions:\n  - set: {customfields: {"Contract Ref": C-1}}\n')
    array = [{"id": 101, "label": "Contract Ref", "value": ""}]
    plan = make_plan(book, rows(4, customfields=array), LOOKUPS, now=NOW, run_id="r", query={})
    assert requests_needed(plan) == 1 + 1 + 4
    lines = totals_lines(plan)
    # 6, plus the instance facts a writing run reads (issue 19.9: the estimate is what applies)
    assert "Apply needs 7 request(s)" in "\n".join(lines)
    assert any(line.startswith("Custom fields: 4 ticket(s)") for line in lines), lines
    assert not any(line.startswith("E-mails") for line in lines)
