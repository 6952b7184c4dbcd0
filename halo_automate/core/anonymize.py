"""Consistent pseudonyms for recorded tickets (``halo-automate record --anonymize``).

A fixture recorded from a live Halo may leave the building (a repository, a support case),
so names, e-mail local parts and free text are replaced before it is written. Three rules
keep the fixture useful:

* **consistent**: one input word always gives one pseudonym within a recording (``Contoso``
  in a client name and in a summary stay the same word), so grouping and matching on them
  still behave as they did;
* **domains kept**: ``ann@contoso.example`` becomes ``<pseudonym>@contoso.example``, because
  spam and routing rules match on domains;
* **the playbook's own words kept**: a word the playbook's source mentions (``Automatic``,
  ``reply``, ``MAILER``) is left as it is, so conditions such as ``contains: Automatic reply``
  still see it. Digits and punctuation are kept too (``[Alert] Disk 91%`` keeps its shape).

Pseudonyms come from an HMAC of the word under a key chosen per recording (a random key by
default), so they cannot be reversed by trying a dictionary of names without that key. Pure:
no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

_WORD = re.compile(r"[^\W\d_]+")
_EMAIL = re.compile(r"([^\s@<>()\[\],;:\"']+)@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_CONSONANTS = "bcdfghjklmnprstvwz"
_VOWELS = "aeiou"

FREE_TEXT_KEYS = frozenset(
    {"summary", "details", "details_html", "symptom", "note", "note_html", "resolution"}
)
"""Ticket fields of free text: every word not in the playbook is replaced."""
KEPT_NAME_KEYS = frozenset(
    {
        "status_name", "priority_name", "tickettype_name", "team_name", "sla_name",
        "category_name", "outcome_name", "impact_name", "urgency_name",
    }
)  # fmt: skip
"""``*_name`` fields that name a configuration item, not a person or a customer: kept."""


def words_of(text: str) -> frozenset[str]:
    """The words (letters only, casefolded) of ``text``: what a playbook mentions."""
    return frozenset(w.casefold() for w in _WORD.findall(text))


class Pseudonymizer:
    """Replaces words with pseudonyms, consistently, keeping ``keep`` (casefolded words)."""

    def __init__(self, keep: Iterable[str] = (), *, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self._keep = frozenset(w.casefold() for w in keep)
        self.replaced: set[str] = set()
        """The distinct words replaced so far (a count for the command's report)."""

    def word(self, word: str) -> str:
        """The pseudonym of one word (same word, any case → same letters, case pattern kept)."""
        folded = word.casefold()
        if folded in self._keep:
            return word
        self.replaced.add(folded)
        digest = hmac.new(self._key, folded.encode("utf-8"), hashlib.sha256).digest()
        length = min(max(len(word), 3), 12)
        letters = [
            (_CONSONANTS if i % 2 == 0 else _VOWELS)[
                digest[i] % (len(_CONSONANTS) if i % 2 == 0 else len(_VOWELS))
            ]
            for i in range(length)
        ]
        out = "".join(letters)
        if word.isupper() and len(word) > 1:
            return out.upper()
        return out.capitalize() if word[:1].isupper() else out

    def text(self, text: str) -> str:
        """Free text: e-mail local parts and every word not kept are replaced; digits,
        punctuation, spacing and e-mail domains stay."""
        parts: list[str] = []
        last = 0
        for match in _EMAIL.finditer(text):
            parts.append(self._words(text[last : match.start()]))
            parts.append(self.email(match.group(0)))
            last = match.end()
        parts.append(self._words(text[last:]))
        return "".join(parts)

    def _words(self, text: str) -> str:
        return _WORD.sub(lambda m: self.word(m.group(0)), text)

    def email(self, address: str) -> str:
        """``local@domain`` → ``<pseudonym>@domain`` (the domain is kept: rules match on it)."""
        local, at, domain = address.rpartition("@")
        if not at:
            return self._words(address)
        return f"{self._words(local)}@{domain}"

    def row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A ticket row with its names, e-mail addresses and free text replaced."""
        return {key: self.value(key, value) for key, value in row.items()}

    def value(self, key: str, value: Any) -> Any:
        """One field's value, replaced according to what the field holds."""
        if not isinstance(value, str) or not value:
            return value
        lowered = key.lower()
        if "email" in lowered:
            return _EMAIL.sub(lambda m: self.email(m.group(0)), value)
        if lowered in FREE_TEXT_KEYS:
            return self.text(value)
        if lowered.endswith("_name") and lowered not in KEPT_NAME_KEYS:
            return self.text(value)
        if lowered in ("reportedby", "user", "contact", "username"):
            return self.text(value)
        return value
