"""Property-based fuzzing of the playbook and config loaders (and of condition matching on
malformed ticket rows): whatever the input, the only exception is the project's own
(PlaybookError / ConfigError), and every problem is one located line."""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fault_tools import record_figures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from halo_automate.config import load_settings, settings_from_mapping
from halo_automate.core.conditions import compile_where
from halo_automate.core.operators import Unknown
from halo_automate.core.playbook import load_playbook, load_playbook_text
from halo_automate.errors import ConfigError, PlaybookError

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = re.compile(r"^fuzz\.yaml:\d+:\d+: [^\n]+$")
# Inputs per property: the active Hypothesis profile's max_examples (conftest.py: 100 in the
# everyday run, 2000 with `pytest --hypothesis-profile=thorough`); no deadline, as one example
# may write a file.
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
COUNTS: Counter[str] = Counter()
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

PLAYBOOK_WORDS = [
    "name", "description", "schedule", "mode", "select", "where", "actions", "limits",
    "expect", "halo_rules", "set", "close", "note", "recategorize", "status", "text",
    "outcome", "private", "email", "field", "map", "empty", "max_changes", "min", "max",
    "all", "any", "not", "summary", "user_email", "status_id", "agent_id", "dateoccurred",
    "category_1", "priority", "team", "open_only", "client_id", "equals", "in", "contains",
    "matches", "domain", "older_than", "newer_than", "gt", "lt", "not_equals", "apply",
    "preview", "Closed", "High", "30d", "*/15 * * * *", "every 5m", "{playbook}",
    "{ticket.summary}", "(?i)^x", "[", "(", "id", "",
]  # fmt: skip
CONFIG_WORDS = [
    "halo", "base_url", "auth_url", "tenant", "client_id", "client_secret", "scope",
    "rate_limit", "requests", "per_seconds", "page_size", "concurrency", "batch_size",
    "timeout_seconds", "playbooks_dir", "journal", "daemon", "timezone", "health",
    "stop_timeout_seconds", "misfire_grace_seconds", "watch_playbooks", "https://a.example",
    "http://127.0.0.1:8080", "http://evil.example", "${HALO_SECRET}", "${MISSING}", "",
]  # fmt: skip
YAML_TOKENS = [
    "\n", "  ", "- ", ": ", "[", "]", "{", "}", ", ", "&a ", "*a", "!!str ", "!!python/name:x ",
    "'", '"', "#", "|\n", ">\n", "---\n", "...\n", "? ", "<<: ", "~", "0x1F", "1e999", ".nan",
    "2024-01-01", "12:30:45", "\t", "%YAML 1.1\n", "\\", "\x85", "\ufeff", "9" * 80,
]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def figures(request: pytest.FixtureRequest) -> Iterator[None]:
    """Record how many inputs the module fuzzed (and that none crashed)."""
    yield
    record_figures(request.config, request.node.nodeid,
                   {"inputs_fuzzed": sum(COUNTS.values()), "fuzz_crashes": 0})  # fmt: skip


def scalars(words: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(10**80), max_value=10**80),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(words),
        st.text(max_size=30),
    )


def structures(words: list[str], leaves: int = 30) -> st.SearchStrategy[Any]:
    keys = st.one_of(st.sampled_from(words), st.text(max_size=12))
    return st.recursive(
        scalars(words),
        lambda inner: st.one_of(
            st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=6)
        ),
        max_leaves=leaves,
    )


def yamlish(words: list[str]) -> st.SearchStrategy[str]:
    """Text built from YAML punctuation and the loader's own vocabulary (reaches deeper than
    uniformly random characters do)."""
    pieces = st.one_of(st.sampled_from(YAML_TOKENS), st.sampled_from(words))
    return st.lists(pieces, max_size=60).map("".join)


def problems_of(load: Callable[[], object], error: type[Exception]) -> list[str] | None:
    """The problems ``load`` reported (one per line), or None when it succeeded.

    Any exception other than ``error`` propagates and fails the property."""
    try:
        load()
    except error as e:
        return list(getattr(e, "problems", [str(e)]))
    return None


def check_playbook_text(text: str) -> None:
    COUNTS["playbook"] += 1
    problems = problems_of(lambda: load_playbook_text(text, "fuzz.yaml"), PlaybookError)
    if problems is not None:
        assert problems
        for problem in problems:
            assert PROBLEM.match(problem), problem


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@FUZZ
@given(st.text(max_size=400))
def test_playbook_loader_on_arbitrary_text(text: str) -> None:
    """Any text is a Playbook or a PlaybookError of `fuzz.yaml:line:col: message` lines."""
    check_playbook_text(text)


@FUZZ
@given(yamlish(PLAYBOOK_WORDS))
def test_playbook_loader_on_yaml_shaped_text(text: str) -> None:
    """YAML-shaped noise (anchors, tags, flow, block scalars, the playbook's own words) is a
    Playbook or a located PlaybookError, nothing else."""
    check_playbook_text(text)


@FUZZ
@given(structures(PLAYBOOK_WORDS))
def test_playbook_loader_on_arbitrary_structures(data: Any) -> None:
    """Any YAML-dumpable structure is a Playbook or a located PlaybookError."""
    check_playbook_text(dump(data))


def example_playbooks() -> list[dict[str, Any]]:
    return [
        yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted((ROOT / "playbooks").glob("*.yaml"))
    ]


EXAMPLES = example_playbooks()


def replace_at(data: Any, path: list[int], value: Any) -> Any:
    """``data`` with the node chosen by ``path`` (indexes into keys/items) set to ``value``."""
    if not path or not isinstance(data, dict | list) or not data:
        return value
    if isinstance(data, dict):
        keys = list(data)
        key = keys[path[0] % len(keys)]
        return {**data, key: replace_at(data[key], path[1:], value)}
    index = path[0] % len(data)
    return [*data[:index], replace_at(data[index], path[1:], value), *data[index + 1 :]]


@FUZZ
@given(
    st.sampled_from(EXAMPLES),
    st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=6),
    structures(PLAYBOOK_WORDS, leaves=10),
)
def test_playbook_loader_on_mutated_examples(
    example: dict[str, Any], path: list[int], value: Any
) -> None:
    """A shipped example with one node replaced by anything loads or fails cleanly."""
    check_playbook_text(dump(replace_at(example, path, value)))


VALID_WHERE = """
name: fuzz-where
where:
  any:
    - summary: {matches: '(?i)^(auto|out of office)', contains: re, not_equals: x}
    - user_email: {domain: [a.example, b.example]}
    - dateoccurred: {older_than: 30d, newer_than: 1000w, gt: '2020-01-01', lt: '2030-01-01'}
    - agent_id: {in: [0, 1, 2], gt: 0, lt: 100}
    - category_1: {empty: true}
    - status_id: {equals: 1}
    - dateclosed: {empty: false}
  not: [{summary: {contains: keep}}]
actions:
  - set: {priority: High}
"""
WHERE_FIELDS = ["summary", "user_email", "dateoccurred", "agent_id", "category_1",
                "status_id", "dateclosed", "id"]  # fmt: skip
MATCHER = compile_where(load_playbook_text(VALID_WHERE, "where.yaml").where, now=NOW)


@FUZZ
@given(st.dictionaries(st.sampled_from(WHERE_FIELDS), structures(["2024-01-01T00:00:00Z"], 8)))
def test_conditions_never_crash_on_malformed_ticket_rows(row: dict[str, Any]) -> None:
    """Halo rows with any JSON value in any field (numbers for text, lists for dates, junk
    dates) are matched, not matched or unknown, never an exception."""
    COUNTS["where"] += 1
    reason = MATCHER(row)
    assert reason is None or isinstance(reason, str | Unknown)


# ---------------------------------------------------------------------------- config

CONFIG_DIR = Path(tempfile.mkdtemp(prefix="halo-fuzz-config-"))


def check_config_text(text: str) -> None:
    COUNTS["config"] += 1
    path = CONFIG_DIR / "config.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    problems = problems_of(lambda: load_settings(path, env={"HALO_SECRET": "s"}), ConfigError)
    for message in problems or []:  # every problem at once, each one line naming the file
        lines = message.split("\n")
        assert all(line.startswith(f"{path}:") for line in lines), message


@FUZZ
@given(st.text(max_size=400))
def test_config_loader_on_arbitrary_text(text: str) -> None:
    """Any config text loads or is a one-line ConfigError naming the file."""
    check_config_text(text)


@FUZZ
@given(yamlish(CONFIG_WORDS))
def test_config_loader_on_yaml_shaped_text(text: str) -> None:
    """YAML-shaped noise with the config's own words loads or is a one-line ConfigError."""
    check_config_text(text)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["halo", "playbooks_dir", "journal", "daemon", "extra"]),
        st.one_of(
            structures(CONFIG_WORDS),
            st.dictionaries(st.sampled_from(CONFIG_WORDS), structures(CONFIG_WORDS)),
        ),
    )
)
def test_config_loader_on_arbitrary_structures(data: dict[str, Any]) -> None:
    """Any config structure, dumped to YAML or passed as data, loads or is a ConfigError."""
    check_config_text(dump(data))
    COUNTS["config"] += 1
    load = lambda: settings_from_mapping(data, "fuzz", env={"HALO_SECRET": "s"})  # noqa: E731
    problems = problems_of(load, ConfigError) or []
    # every problem at once (issue 19.3): each line one problem, naming the source
    assert all(line.startswith("fuzz: ") for p in problems for line in p.split("\n")), problems


def test_playbook_files_with_any_bytes(tmp_path: Path) -> None:
    """Files of arbitrary bytes (not UTF-8, BOMs, NULs) are located PlaybookErrors."""
    import random

    rng = random.Random(11)
    path = tmp_path / "fuzz.yaml"
    for size in [0, 1, 2, 3, 10, 100, 1000] * 20:
        COUNTS["playbook-bytes"] += 1
        path.write_bytes(bytes(rng.randrange(256) for _ in range(size)))
        problems = problems_of(lambda: load_playbook(path), PlaybookError) or []
        assert all(p.startswith(f"{path}:") and "\n" not in p for p in problems), problems
