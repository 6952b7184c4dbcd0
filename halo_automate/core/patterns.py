"""Playbook regular expressions: RE2 (linear time), and clear errors for what RE2 refuses.

``matches`` patterns run on text that ticket senders write, so a backtracking engine lets one
e-mail body make every run slow or time out (``(?i)unsubscribe.*click.*here`` against a body
repeating "unsubscribe click" is quadratic to cubic there). RE2 (Google's engine, through the
``google-re2`` binding) matches in time linear in the text, whatever the pattern, so matching
needs no timeout: nothing a ticket holds can make it slow, and a GC pause cannot fail a run.

RE2 leaves out the constructs that need backtracking. :func:`compile_pattern` names each one
with a hint, so ``validate`` reports ``file:line:col: summary matches: ...`` at load time rather
than a run failing later. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import re2

MAX_PATTERN_MEMORY = 8 << 20
"""RE2's compiled-program budget (bytes); a pattern needing more is refused at load time."""

# (what RE2's error names, the construct, a hint). First match wins.
_UNSUPPORTED: tuple[tuple[str, str, str], ...] = (
    ("(?=", "lookahead (?=...)", "match the text itself, or add a second condition"),
    ("(?!", "negative lookahead (?!...)", "use not_matches in a separate condition"),
    ("(?<=", "lookbehind (?<=...)", "match the text itself, or add a second condition"),
    ("(?<!", "negative lookbehind (?<!...)", "use not_matches in a separate condition"),
    ("(?>", "atomic group (?>...)", "write a plain group (...): RE2 never backtracks anyway"),
    ("(?P=", "named backreference (?P=name)", "repeat the text, or use a second condition"),
    ("(?P>", "recursion (?P>name)", "RE2 has no recursion; simplify the pattern"),
    ("(?(", "conditional group (?(...)...)", "split it into conditions under any/all"),
    ("(?#", "comment (?#...)", "remove the comment (YAML # comments work outside the quotes)"),
    ("(?|", "branch reset (?|...)", "write a plain group (...)"),
    ("(?x", "verbose flag (?x)", "remove the flag and the spaces it allowed"),
    ("(?R", "recursion (?R)", "RE2 has no recursion; simplify the pattern"),
    ("++", "possessive quantifier ++", "write + (RE2 never backtracks anyway)"),
    ("*+", "possessive quantifier *+", "write * (RE2 never backtracks anyway)"),
    ("?+", "possessive quantifier ?+", "write ? (RE2 never backtracks anyway)"),
    ("}+", "possessive quantifier {n,m}+", "write {n,m} (RE2 never backtracks anyway)"),
    ("escape sequence: \\Z", "\\Z", "write $ (RE2's \\z also works)"),
    ("escape sequence: \\k", "named backreference \\k<name>", "repeat the text instead"),
    ("escape sequence: \\g", "backreference \\g<...>", "repeat the text instead"),
    ("escape sequence: \\G", "\\G (continue at last match)", "anchor with ^ instead"),
    ("escape sequence: \\R", "\\R (any line break)", "write (?:\\r\\n|\\n|\\r)"),
    ("escape sequence: \\X", "\\X (grapheme cluster)", "write . or a character class"),
    ("repetition size", "a repetition count over 1000", "write a smaller {n,m}, or .*"),
)


def _backreference(message: str) -> bool:
    return message.startswith("invalid escape sequence: \\") and message[-1:].isdigit()


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    options.max_mem = MAX_PATTERN_MEMORY
    return options


def compile_pattern(pattern: str) -> Any:
    """Compile a playbook pattern with RE2; ValueError names an unsupported construct."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as e:
        raise ValueError(_explain(pattern, e)) from e
    except (TypeError, UnicodeError) as e:
        raise ValueError(f"bad regular expression {_shown(pattern)}: {e}") from e


def _shown(pattern: str) -> str:
    """The pattern as the playbook wrote it, quoted (repr would double every backslash)."""
    return f"'{pattern}'" if "'" not in pattern and pattern.isprintable() else repr(pattern)


def _explain(pattern: str, error: Exception) -> str:
    raw = error.args[0] if error.args else error
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    message = message.removesuffix(f": {pattern}")  # RE2 echoes the pattern: said once
    if _backreference(message):
        return (
            f"bad regular expression {_shown(pattern)}: backreference {message.rsplit(' ', 1)[-1]} "
            "is not supported (RE2 syntax, linear time); repeat the text, or add a second "
            "condition"
        )
    operator = "perl operator" in message  # RE2 quotes only the first bytes: look at the pattern
    for needle, construct, hint in _UNSUPPORTED:
        if needle in message or (operator and needle.startswith("(?") and needle in pattern):
            return (
                f"bad regular expression {_shown(pattern)}: {construct} is not supported "
                f"(RE2 syntax, linear time); {hint}"
            )
    return f"bad regular expression {_shown(pattern)}: {message}"
