"""Note templates: ``{playbook}``, ``{run_id}``, ``{ticket.<field>}`` and, in a ``group:``
playbook, ``{survivor.<field>}`` (the duplicate's survivor: :mod:`halo_automate.core.groups`).

Parsed (and every variable checked) when a playbook is loaded, rendered per ticket when
planning; a missing or null ticket field renders as ''. Ticket values are sanitised
(:func:`~halo_automate.sanitize.clean_text`) before they reach a note: a summary's ANSI
escapes or lone surrogates would otherwise be posted to Halo (and break the journal's UTF-8).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any, TypeAlias

from halo_automate.core.fields import ticket_list_fields
from halo_automate.core.suggest import did_you_mean, field_hint
from halo_automate.sanitize import clean_text

TEMPLATE_VARIABLES = ("playbook", "run_id", "ticket.<field>", "survivor.<field>")
_ROWS = ("ticket.", "survivor.")

TemplatePieces: TypeAlias = tuple[tuple[str, str | None], ...]


def parse_template(text: str) -> TemplatePieces:
    """Split a note template into (literal, variable) pieces; ValueError names the problem."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise ValueError(f"bad template {text!r}: {e} (write {{{{ and }}}} for braces)") from e
    pieces: list[tuple[str, str | None]] = []
    for literal, variable, spec, conversion in parsed:
        if variable is not None:
            if spec or conversion:
                raise ValueError(f"template variable {{{variable}}} takes no format or conversion")
            _check_variable(variable)
        pieces.append((literal, variable))
    return tuple(pieces)


def _check_variable(variable: str) -> None:
    if variable in ("playbook", "run_id"):
        return
    if variable.startswith(_ROWS):
        name = variable.partition(".")[2]
        if name not in ticket_list_fields():
            hint = field_hint(name, ticket_list_fields())
            raise ValueError(f"unknown ticket field in template {{{variable}}}{hint}")
        return
    hint = did_you_mean(variable, ["playbook", "run_id", "ticket.summary"])
    raise ValueError(
        f"unknown template variable {{{variable}}}{hint}: use {{playbook}}, {{run_id}}, "
        "{ticket.<field>} or {survivor.<field>}"
    )


def render_template(
    pieces: TemplatePieces,
    *,
    playbook: str,
    run_id: str,
    ticket: Mapping[str, Any],
    survivor: Mapping[str, Any] | None = None,
) -> str:
    """Fill a parsed template; a missing or null field (no survivor: every
    ``survivor.<field>``) renders as ''."""
    out: list[str] = []
    for literal, variable in pieces:
        out.append(literal)
        if variable == "playbook":
            out.append(playbook)
        elif variable == "run_id":
            out.append(run_id)
        elif variable is not None:
            row, _, name = variable.partition(".")
            value = (ticket if row == "ticket" else survivor or {}).get(name)
            out.append("" if value is None else clean_text(str(value)))
    return "".join(out)
