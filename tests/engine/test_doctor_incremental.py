"""``doctor`` says which last-update form scheduled runs use, or that they read in full
(issue 15): the form it reports is the first the runs' own verification would accept."""

from __future__ import annotations

from apply_support import settings_for
from conftest import SandboxFactory

from halo_automate.core.incremental import LAST_UPDATE_FORMS
from halo_automate.engine.doctor import diagnose


def facts(sandbox_factory: SandboxFactory, **options: object) -> dict[str, tuple[str, str]]:
    sb = sandbox_factory(**options)
    report = diagnose(settings_for(sb), [])
    return {c.name: (c.status, c.detail) for c in report.checks}


def test_doctor_names_the_form_incremental_runs_use(sandbox_factory: SandboxFactory) -> None:
    status, detail = facts(sandbox_factory)["incremental reads"]
    assert status == "ok"
    assert detail.endswith("with datesearch=last_update")
    assert [name for name, _ in LAST_UPDATE_FORMS][-1] == "datesearch=last_update"


def test_doctor_warns_when_no_form_is_honoured(sandbox_factory: SandboxFactory) -> None:
    found = facts(sandbox_factory, ignore_date_filter=True)
    assert found["last-update filter"][0] == "warn"
    assert found["incremental reads"] == (
        "warn",
        "scheduled runs read every ticket (see docs/incremental.md)",
    )
