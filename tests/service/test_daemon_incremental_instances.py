"""Incremental reads per instance (issue 15 over issue 12's instances): one daemon serving
prod and uat keeps a watermark per playbook *and* instance, and learns each Halo's date
filter on its own: uat ignoring it falls back to full reads while prod reads incrementally."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import SandboxFactory
from instance_support import PROD_SECRET, SPAM, UAT_SECRET, environment, write_instances_config
from structlog.testing import capture_logs

from halo_automate.config import load_settings
from halo_automate.service.daemon import Daemon
from halo_automate.service.instances import Served
from halo_automate.store.journal import Journal


@pytest.fixture
def config(
    tmp_path: Path, sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    prod = sandbox_factory(client_secret=PROD_SECRET)
    uat = sandbox_factory(client_secret=UAT_SECRET, ignore_date_filter=True)
    path = write_instances_config(tmp_path, prod, uat, {"close-spam": SPAM})
    for key, value in environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return path


def test_each_instance_has_its_own_watermark_and_its_own_date_filter(config: Path) -> None:
    settings = load_settings(config)
    journal = Journal.open(settings.journal)
    served = Served.open(settings, (), journal)
    reads: list[dict[str, Any]] = []
    try:
        service = Daemon(settings, served, install_signals=False)
        assert service.run_once() == 0
        with capture_logs() as logs:
            assert service.run_once() == 0
        reads = [e for e in logs if e["event"] == "tickets_read"]
        marks = {name: journal.watermark("close-spam", name) for name in ("prod", "uat")}
    finally:
        served.close()
        journal.close()
    assert all(mark is not None for mark in marks.values())
    assert {(e["instance"], e["read"], e["reason"]) for e in reads} == {
        ("prod", "incremental", "updated since the last read"),
        ("uat", "full", "fallback"),
    }
    ignored = [e for e in logs if e["event"] == "incremental_unavailable"]
    assert [e["instance"] for e in ignored] == [served_identity(config, "uat")]


def served_identity(config: Path, name: str) -> str:
    return load_settings(config).select_instance(name).halo.identity
