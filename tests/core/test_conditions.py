"""The where language: every operator, negation, nesting, durations, reasons, regex safety."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from halo_automate.core import operators
from halo_automate.core.conditions import (
    Check,
    Group,
    compile_where,
    describe,
    fields_of,
    op_names,
    parse_where,
)
from halo_automate.core.operators import Unknown, email_domain, field_kind, is_empty

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def match(where: dict[str, Any], ticket: dict[str, Any]) -> str | Unknown | None:
    node, problems = parse_where(where)
    assert problems == []
    return compile_where(node, now=NOW)(ticket)


def matched(where: dict[str, Any], ticket: dict[str, Any]) -> bool:
    """Whether the verdict is a match (a reason): neither false nor unknown."""
    return isinstance(match(where, ticket), str)


T = {
    "id": 1,
    "summary": "Automatic reply: Printer offline",
    "user_email": "Jo.Smith@Contoso.Example",
    "client_name": "Contoso Ltd",
    "client_id": 1,
    "status_id": 2,
    "chargehours": 1.5,
    "onhold": False,
    "category_1": "",
    "lastactiondate": "2026-11-20T12:00:00.0000000Z",  # 4 days before NOW
    "dateoccurred": "2026-11-24T06:00:00Z",  # 6 hours before NOW
    "deadlinedate": "1900-01-01T00:00:00",
    "child_ticket_ids": [],
    "agent_id": None,  # every list row carries agent_id (here: unassigned, null)
}

CASES = [
    # equals / in
    ({"client_name": {"equals": "contoso ltd"}}, True),
    ({"client_name": {"equals": "Contoso"}}, False),
    ({"client_id": {"equals": 1}}, True),
    ({"client_id": {"equals": 2}}, False),
    ({"onhold": {"equals": False}}, True),
    ({"status_id": {"in": [1, 2]}}, True),
    ({"status_id": {"in": [3, 4]}}, False),
    ({"client_name": {"in": ["Fabrikam Inc", "CONTOSO LTD"]}}, True),
    ({"onhold": {"in": [True]}}, False),
    ({"onhold": {"in": [False]}}, True),
    ({"summary": {"in": ["x"]}, "client_id": {"equals": 1}}, False),
    # contains / matches / domain
    ({"summary": {"contains": "PRINTER"}}, True),
    ({"summary": {"contains": "laptop"}}, False),
    ({"summary": {"matches": "^Automatic reply"}}, True),
    ({"summary": {"matches": "^automatic reply"}}, False),
    ({"summary": {"matches": "(?i)^automatic reply"}}, True),
    ({"summary": {"matches": "offline$"}}, True),
    ({"user_email": {"domain": "contoso.example"}}, True),
    ({"user_email": {"domain": ["news.example", "CONTOSO.example"]}}, True),
    ({"user_email": {"domain": "example"}}, False),
    # empty
    ({"category_1": {"empty": True}}, True),
    ({"summary": {"empty": True}}, False),
    ({"summary": {"empty": False}}, True),
    ({"deadlinedate": {"empty": True}}, True),
    ({"lastactiondate": {"empty": True}}, False),
    ({"child_ticket_ids": {"empty": True}}, True),
    ({"agent_id": {"empty": True}}, True),
    # durations on dates
    ({"lastactiondate": {"older_than": "3d"}}, True),
    ({"lastactiondate": {"older_than": "5d"}}, False),
    ({"lastactiondate": {"newer_than": "1w"}}, True),
    ({"dateoccurred": {"newer_than": "5h"}}, False),
    ({"dateoccurred": {"older_than": "300m"}}, True),
    ({"dateoccurred": {"newer_than": "21601s"}}, True),
    ({"deadlinedate": {"older_than": "1d"}}, False),
    ({"deadlinedate": {"newer_than": "1d"}}, False),
    # gt / lt, numbers and dates
    ({"status_id": {"gt": 1}}, True),
    ({"status_id": {"gt": 2}}, False),
    ({"status_id": {"lt": 3}}, True),
    ({"chargehours": {"gt": 1.25, "lt": 2}}, True),
    ({"chargehours": {"gt": 1.25, "lt": 1.4}}, False),
    ({"lastactiondate": {"gt": "2026-11-01"}}, True),
    ({"lastactiondate": {"lt": "2026-11-01"}}, False),
    ({"lastactiondate": {"lt": "2026-12-01T00:00:00Z"}}, True),
    ({"deadlinedate": {"lt": "2026-12-01"}}, False),
    ({"agent_id": {"gt": 0}}, False),
    # negations
    ({"client_name": {"not_equals": "Contoso Ltd"}}, False),
    ({"client_name": {"not_in": ["Fabrikam Inc"]}}, True),
    ({"summary": {"not_contains": "printer"}}, False),
    ({"summary": {"not_matches": "^Re:"}}, True),
    ({"user_email": {"not_domain": "news.example"}}, True),
    ({"category_1": {"not_empty": True}}, False),
    ({"lastactiondate": {"not_older_than": "3d"}}, False),
    ({"lastactiondate": {"not_newer_than": "3d"}}, True),
    ({"status_id": {"not_gt": 5}}, True),
    ({"status_id": {"not_lt": 5}}, False),
]


@pytest.mark.parametrize(("where", "expected"), CASES)
def test_operators(where: dict[str, Any], expected: bool) -> None:
    """Each operator (and its not_ form) decides a ticket as documented."""
    verdict = match(where, T)
    assert not isinstance(verdict, Unknown), verdict
    assert (verdict is not None) is expected


MISSING_CASES = [
    ("equals", "x", False),
    ("contains", "x", False),
    ("matches", "x", False),
    ("domain", "x.example", False),
    ("not_contains", "x", True),
    ("not_matches", "x", True),
    ("not_domain", "x.example", True),
]


@pytest.mark.parametrize(("op", "value", "expected"), MISSING_CASES)
def test_missing_field_never_satisfies_positive_ops(op: str, value: str, expected: bool) -> None:
    """A missing field that list rows omit when unset (category_2) fails every positive test,
    so its not_ form passes."""
    verdict = match({"category_2": {op: value}}, {"id": 1})
    assert not isinstance(verdict, Unknown), verdict
    assert (verdict is not None) is expected


def test_unset_values_fail_bounds_and_unreadable_ones_are_unknown() -> None:
    """gt/lt on an unset value is false; on a boolean or unparseable value it is unknown (so
    its negation is unknown too, never true), not an error."""
    assert match({"status_id": {"gt": 0}}, {"id": 1, "status_id": None}) is None
    assert isinstance(match({"status_id": {"gt": 0}}, {"id": 1, "status_id": True}), Unknown)
    unknown = match({"lastactiondate": {"gt": "2020-01-01"}}, {"lastactiondate": "soon"})
    assert isinstance(unknown, Unknown)
    assert unknown.why == "field lastactiondate is 'soon', not a date"
    assert isinstance(
        match({"lastactiondate": {"older_than": "1d"}}, {"lastactiondate": 5}), Unknown
    )
    assert isinstance(match({"status_id": {"not_gt": 0}}, {"status_id": True}), Unknown)


def test_equals_does_not_confuse_booleans_and_numbers() -> None:
    """equals 1 does not match true, equals true does not match 1 (each is unknown: neither
    reads as its field's type)."""
    assert not matched({"client_id": {"equals": 1}}, {"client_id": True})
    assert not matched({"onhold": {"equals": True}}, {"onhold": 1})
    assert not matched({"status_id": {"in": [1]}}, {"status_id": True})
    assert not matched({"status_id": {"in": [1]}}, {"status_id": [1]})
    assert not matched({"client_id": {"not_equals": 1}}, {"client_id": True})


def test_domain_is_exact_not_subdomain() -> None:
    """domain compares the part after the last @ exactly, ignoring case and a closing >."""
    where = {"user_email": {"domain": "news.example"}}
    assert match(where, {"user_email": "a@news.example"}) is not None
    assert match(where, {"user_email": "<a@NEWS.example>"}) is not None
    assert match(where, {"user_email": "a@mail.news.example"}) is None
    assert match(where, {"user_email": "a@promo-news.example"}) is None
    assert match(where, {"user_email": "news.example"}) is None
    assert email_domain("x@") is None


def test_nesting_all_any_not() -> None:
    """all/any/not nest freely and a mapping ANDs its fields and groups."""
    where = {
        "status_id": {"in": [1, 2]},
        "any": [
            {"summary": {"contains": "laptop"}},
            {"all": [{"client_id": {"equals": 1}}, {"summary": {"contains": "printer"}}]},
        ],
        "not": [{"user_email": {"domain": "news.example"}}, {"onhold": {"equals": True}}],
    }
    assert match(where, T) is not None
    assert match(where, {**T, "status_id": 9}) is None
    assert match(where, {**T, "client_id": 2}) is None
    assert match(where, {**T, "onhold": True}) is None
    assert match(where, {**T, "user_email": "x@news.example"}) is None


def test_single_entry_groups() -> None:
    """all/any with one entry behave like the entry itself."""
    assert match({"all": [{"client_id": {"equals": 1}}]}, T) == "client_id equals 1"
    assert match({"all": [{"client_id": {"equals": 2}}]}, T) is None
    assert match({"any": [{"client_id": {"equals": 1}}]}, T) == "any[0]: client_id equals 1"


def test_not_with_one_mapping_means_not_all_of_it() -> None:
    """not: {a, b} is false only when both a and b hold."""
    where = {"not": {"client_id": {"equals": 1}, "onhold": {"equals": True}}}
    assert match(where, T) is not None
    assert match(where, {**T, "onhold": True}) is None


def test_reason_names_the_matching_branch() -> None:
    """The reason says which any-branch matched and restates the not-conditions."""
    where = {
        "any": [
            {"user_email": {"domain": ["news.example"]}},
            {"summary": {"matches": "(?i)^automatic reply"}},
        ],
        "not": [{"client_name": {"in": ["Fabrikam Inc"]}}],
    }
    reason = match(where, T)
    assert reason == (
        "any[1]: summary matches '(?i)^automatic reply' and not(client_name in ['Fabrikam Inc'])"
    )


def test_no_where_matches_everything() -> None:
    """An absent where selects every ticket, saying so."""
    assert compile_where(None, now=NOW)({"id": 1}) == "no conditions (every selected ticket)"
    assert parse_where(None) == (None, [])


def test_describe_and_fields_of() -> None:
    """describe() renders a static tree; fields_of() lists the fields it reads."""
    node, _ = parse_where(
        {"any": [{"summary": {"contains": "a", "not_contains": "b"}}, {"client_id": {"equals": 1}}]}
    )
    assert node is not None
    assert describe(node) == (
        "((summary contains 'a' and summary not_contains 'b') or client_id equals 1)"
    )
    assert fields_of(node) == {"summary", "client_id"}
    assert fields_of(None) == set()
    assert describe(Group("not", (Check("summary", "contains", False, "x"),))) == (
        "not(summary contains 'x')"
    )


PARSE_ERRORS = [
    (
        {"sumary": {"contains": "x"}},
        ("where", "sumary"),
        "unknown ticket field 'sumary' (did you mean 'summary'?)",
    ),
    (
        {"summary": {"contians": "x"}},
        ("where", "summary", "contians"),
        "unknown operator 'contians' (did you mean 'contains'?)",
    ),
    (
        {"summary": {"not_matchs": "x"}},
        ("where", "summary", "not_matchs"),
        "did you mean 'not_matches'?",
    ),
    ({"summary": "x"}, ("where", "summary"), "'summary' needs a mapping of operators"),
    ({"summary": {}}, ("where", "summary"), "needs a mapping of operators"),
    (
        {"summary": {"older_than": "3d"}},
        ("where", "summary", "older_than"),
        "'older_than' does not apply to summary (a text field)",
    ),
    (
        {"status_id": {"contains": "1"}},
        ("where", "status_id", "contains"),
        "does not apply to status_id (a whole-number field)",
    ),
    (
        {"dateoccurred": {"equals": "2024-01-01"}},
        ("where", "dateoccurred", "equals"),
        "does not apply to dateoccurred (a date field)",
    ),
    (
        {"lastactiondate": {"older_than": "3 days"}},
        ("where", "lastactiondate", "older_than"),
        "bad duration '3 days'",
    ),
    (
        {"lastactiondate": {"older_than": "0d"}},
        ("where", "lastactiondate", "older_than"),
        "more than zero",
    ),
    (
        {"lastactiondate": {"older_than": 3}},
        ("where", "lastactiondate", "older_than"),
        "a duration is text",
    ),
    (
        {"lastactiondate": {"gt": "tomorrow"}},
        ("where", "lastactiondate", "gt"),
        "'tomorrow' is not a date",
    ),
    ({"lastactiondate": {"gt": 5}}, ("where", "lastactiondate", "gt"), "5 is not a date"),
    (
        {"lastactiondate": {"gt": "1900-01-01T00:00:00"}},
        ("where", "lastactiondate", "gt"),
        "use 'empty' instead",
    ),
    (
        {"status_id": {"gt": "high"}},
        ("where", "status_id", "gt"),
        "'high' is not a value for a number field",
    ),
    (
        {"status_id": {"equals": "1"}},
        ("where", "status_id", "equals"),
        "'1' is not a value for a whole-number field",
    ),
    ({"status_id": {"equals": True}}, ("where", "status_id", "equals"), "True is not a value"),
    ({"onhold": {"equals": "yes"}}, ("where", "onhold", "equals"), "true/false field"),
    ({"chargehours": {"equals": "x"}}, ("where", "chargehours", "equals"), "a number field"),
    ({"status_id": {"in": 1}}, ("where", "status_id", "in"), "non-empty list"),
    ({"status_id": {"in": []}}, ("where", "status_id", "in"), "non-empty list"),
    ({"summary": {"contains": ""}}, ("where", "summary", "contains"), "non-empty text"),
    (
        {"summary": {"matches": "(unclosed"}},
        ("where", "summary", "matches"),
        "bad regular expression '(unclosed'",
    ),
    ({"user_email": {"domain": "@news.example"}}, ("where", "user_email", "domain"), "without '@'"),
    ({"user_email": {"domain": []}}, ("where", "user_email", "domain"), "non-empty list"),
    ({"user_email": {"domain": [5]}}, ("where", "user_email", "domain"), "5 is not a domain"),
    ({"category_1": {"empty": "yes"}}, ("where", "category_1", "empty"), "true or false"),
    ({"any": []}, ("where", "any"), "'any' holds a non-empty list"),
    ({"all": {"summary": {"contains": "x"}}}, ("where", "all"), "'all' holds a non-empty list"),
    ({"any": ["summary"]}, ("where", "any", 0), "expected a mapping"),
]


@pytest.mark.parametrize(("where", "path", "message"), PARSE_ERRORS)
def test_parse_errors(where: dict[str, Any], path: tuple[Any, ...], message: str) -> None:
    """Each mistake is reported once, at the path of the offending key, with a clear message."""
    node, problems = parse_where(where)
    assert node is None
    assert len(problems) == 1
    assert problems[0][0] == path
    assert message in problems[0][1]


def test_every_mapping_must_be_valid_for_the_tree() -> None:
    """One bad entry anywhere makes the whole tree invalid (no half-parsed conditions)."""
    node, problems = parse_where({"not": [{"summary": {"contains": "x"}}, {"nope": {}}]})
    assert node is None
    assert problems[0][0] == ("where", "not", 1, "nope")
    assert parse_where({})[1][0][0] == ("where",)


def test_too_deep_nesting_is_an_error() -> None:
    """More than 20 nested levels is refused rather than recursed into."""
    where: dict[str, Any] = {"summary": {"contains": "x"}}
    for _ in range(25):
        where = {"all": [where]}
    node, problems = parse_where(where)
    assert node is None
    assert "nested too deeply" in problems[0][1]


def test_field_kinds_come_from_the_list_fields() -> None:
    """Dates, numbers, texts and booleans are told apart; unknown fields are None."""
    assert field_kind("lastactiondate") == "date"
    assert field_kind("summary") == "str"
    assert field_kind("status_id") == "int"
    assert field_kind("chargehours") == "num"
    assert field_kind("onhold") == "bool"
    assert field_kind("child_ticket_ids") == "array"
    assert field_kind("nope") is None
    assert "not_older_than" in op_names()


def test_is_empty() -> None:
    """Empty means None, '', [] and (for dates) an unset or unreadable date."""
    assert is_empty(None)
    assert is_empty("")
    assert is_empty([])
    assert not is_empty("x")
    assert not is_empty(0)
    assert is_empty("0001-01-01T00:00:00", date=True)
    assert not is_empty("2024-01-01", date=True)


CATASTROPHIC = r"^(a+)+$"


def test_catastrophic_regex_is_linear_time() -> None:
    """A pattern that backtracks catastrophically elsewhere answers at once under RE2, and
    correctly (no timeout exists to trip, under load or during a GC pause)."""
    node, _ = parse_where({"summary": {"matches": CATASTROPHIC}})
    matcher = compile_where(node, now=NOW)
    started = time.monotonic()
    assert matcher({"summary": "a" * 5000 + "!"}) is None
    assert matcher({"summary": "a" * 5000}) is not None
    assert time.monotonic() - started < 0.5


def test_regex_input_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the first REGEX_MAX_INPUT characters of a value are searched."""
    monkeypatch.setattr(operators, "REGEX_MAX_INPUT", 10)
    node, _ = parse_where({"summary": {"matches": "needle"}})
    matcher = compile_where(node, now=NOW)
    assert matcher({"summary": "x" * 5 + "needle"}) is None  # 11 chars: cut at 10
    assert matcher({"summary": "x" * 4 + "needle"}) is not None


def test_a_regex_in_the_reason_is_shown_as_written() -> None:
    """Issue 19.8/19.1: the "Matched because" of a preview echoes a regex as the playbook wrote
    it, not with every backslash doubled (repr)."""
    where = {"summary": {"matches": r"(?i)^delivery status notification\b|^x"}}
    reason = match(where, {**T, "summary": "Delivery Status Notification (Failure)"})
    assert reason == r"summary matches '(?i)^delivery status notification\b|^x'"
