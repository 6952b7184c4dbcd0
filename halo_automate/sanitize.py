"""Make ticket-supplied text safe to show: the one function every output boundary uses.

A ticket's summary, client name or body is written by whoever e-mailed the service desk. It may
hold ANSI escape sequences (which repaint a terminal, so a ticket could rewrite the preview the
user approves), other control characters, bidirectional overrides (which reorder what is shown)
or lone UTF-16 surrogates (``\\ud83d``: valid in JSON, not encodable as UTF-8, so printing,
logging or storing them raises). :func:`clean_text` neutralises all of these: controls and bidi
overrides become visible escapes (``\\x1b``, ``\\u202e``), surrogates become U+FFFD, newlines and
tabs stay. :func:`clean_value` applies it to every string (and key) inside a JSON-like value.

Used at each boundary where ticket text leaves the program: the rich preview and ``show``
(``cli/preview.py``, ``cli/report.py``), note bodies rendered from templates
(:mod:`halo_automate.core.templates`), the display fields of a plan (:mod:`halo_automate.core.plan`)
and every log line (``logs.py``). It sits in the lowest layer, below ``logs`` and ``errors``,
so that every layer can use the same function. Pure: no I/O, standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REPLACEMENT = "\ufffd"

# C0 controls except tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates,
# and the line/paragraph separators (which some terminals treat as newlines).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (so it cannot be encoded as UTF-8)."""
    return _SURROGATE.search(text) is not None


def clean_text(text: str) -> str:
    """``text`` safe for a terminal, a log line or a note: controls escaped, surrogates replaced."""
    if text.isascii() and text.isprintable():
        return text  # the common case, without a regex pass
    return _UNSAFE.sub(_escape, _SURROGATE.sub(REPLACEMENT, text))


def clean_value(value: object) -> object:
    """``value`` with :func:`clean_text` applied to every string in it (keys included)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list | tuple):
        return [clean_value(v) for v in value]
    if isinstance(value, Mapping):
        return {clean_text(str(k)): clean_value(v) for k, v in value.items()}
    return value
