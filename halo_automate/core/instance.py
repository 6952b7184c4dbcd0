"""The facts of one Halo instance that a run records: its version and hosting track.

``GET /api/InstanceInfo`` answers ``app_version``, ``database_version`` and ``hosted_group``
(stable or beta track; FACTS §9.8). Each run that talks to Halo reads it once, where the
application may: a run that writes right after it is journaled, a preview or a run with
nothing to change once it has planned (a 403 is tolerated: recorded as not readable; any
other failure of the read leaves the facts unrecorded, never fails the run; a run that never
reached Halo, or ended on Halo or journal trouble, spends no request on it), and the journal
keeps the facts with the run
(``runs.instance``), so that ``show`` can say which Halo a run wrote to, and a change of
behaviour can be tied to a Halo upgrade. Pure: the record is JSON text, built and described
here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

FIELDS = ("app_version", "database_version", "hosted_group")
NOT_READABLE = json.dumps({"readable": False})


def instance_record(info: Mapping[str, Any] | None) -> str:
    """The journal text for an InstanceInfo answer (None: not readable, e.g. a 403)."""
    if info is None:
        return NOT_READABLE
    return json.dumps({k: info[k] for k in FIELDS if isinstance(info.get(k), str | int)})


def describe_instance(record: str | None) -> str | None:
    """One line for ``show``: ``Halo 2.216.1 (database 2.216.1, stable)``; None when the
    run predates the record."""
    if record is None:
        return None
    try:
        facts = json.loads(record)
    except ValueError:
        return None
    if not isinstance(facts, dict) or facts.get("readable") is False:
        return "not readable by this API application (InstanceInfo answered 403)"
    version = facts.get("app_version", "unknown version")
    extra = [f"database {facts['database_version']}"] if facts.get("database_version") else []
    extra += [str(facts["hosted_group"])] if facts.get("hosted_group") else []
    return f"Halo {version}" + (f" ({', '.join(extra)})" if extra else "")
