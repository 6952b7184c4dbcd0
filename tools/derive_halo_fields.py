"""Derive the small field/parameter catalogue the package ships from Halo's OpenAPI document.

Usage: python tools/derive_halo_fields.py ../shared/halo-api/swagger-v2.json

Writes halo_automate/core/halo_fields.json: the /Tickets GET query parameters (name, type,
whether the value is a comma-separated id list), the ticket list-row fields (Faults_List),
the full ticket fields (Faults) and the action body fields (Actions). The 3.9 MB document is
never shipped; this file is re-derived when a newer spec is vendored.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Fields seen in real responses that the 2025-03 spec does not list (FACTS.md §2.4).
EXTRA_TICKET_FIELDS = {"team_id": "integer"}


def _type_of(schema: dict[str, object]) -> str:
    return str(schema.get("type") or schema.get("$ref", "object")).rsplit("/", 1)[-1]


def derive(spec_path: Path) -> dict[str, object]:
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    params: dict[str, dict[str, object]] = {}
    for p in spec["paths"]["/Tickets"]["get"]["parameters"]:
        desc = p.get("description") or ""
        params[p["name"]] = {
            "type": p["schema"].get("type", "string"),
            "id_list": desc.startswith("(array of int)"),
        }
    schemas = spec["components"]["schemas"]

    def fields(name: str) -> dict[str, str]:
        return {k: _type_of(v) for k, v in sorted(schemas[name]["properties"].items())}

    ticket = fields("Faults")
    ticket_list = fields("Faults_List")
    ticket.update(EXTRA_TICKET_FIELDS)
    ticket_list.update(EXTRA_TICKET_FIELDS)
    return {
        "source": f"{spec['info']['title']} {spec['info']['version']} ({spec_path.name})",
        "ticket_params": dict(sorted(params.items())),
        "ticket_list_fields": ticket_list,
        "ticket_fields": ticket,
        "action_fields": fields("Actions"),
    }


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "halo_automate" / "core" / "halo_fields.json"
    data = derive(Path(sys.argv[1]))
    out.write_text(json.dumps(data, indent=0, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
