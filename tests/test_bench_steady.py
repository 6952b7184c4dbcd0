"""Smoke test of the steady-state benchmark (bench/steady.py): the simulated daemon runs the
four scheduled playbooks on a small sandbox over simulated hours, in both modes, and the
figures hold together (not a performance assertion: the benchmark measures those)."""

from __future__ import annotations

import logging

import structlog

from bench.steady import Simulation, markdown, second_runs


def test_both_modes_run_every_schedule_and_incremental_reads_less() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    today = Simulation(800, hours=1, incremental=False).run()
    inc = Simulation(800, hours=1, incremental=True).run()
    for result in (today, inc):
        assert result["failed"] == [] and result["skipped"] == 0
        assert result["runs"] == 17  # 02:00-03:00: 12 every-5m, 4 quarter-hourly, 02:30 nightly
        assert result["floor_per_hour"] == today["floor_per_hour"]  # whoever does it
    assert inc["requests_per_hour"] < today["requests_per_hour"]
    assert inc["requests_per_hour"] >= inc["floor_per_hour"] * 0.9  # the floor is a floor
    full = {name: p["full_reads"] for name, p in inc["per_playbook"].items()}
    assert full == {"close-spam": 0, "close-spam-5m": 0, "category-cleanup": 1}  # its first
    doc = {"steady_state": {"hours": 1, "churn_per_hour": 0.02, "sizes": [
        {"tickets": 800, "today": today, "incremental": inc,
         "fewer_than_today": today["requests_per_hour"] / inc["requests_per_hour"]}]},
        "second_runs": second_runs(800, runs=3)}  # fmt: skip
    text = markdown(doc)
    assert "| 800 | floor |" in text and "| today | " in text
    assert doc["second_runs"]["incremental"]["requests"][-1] <= 3
