"""HTTP replies in Halo's shapes: JSON bodies, empty bodies and the two 400 error styles."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

EMPTY: Any = object()
"""Body marker for "no body at all" (Halo's 401/404/500 answers are empty)."""

_DOTNET_TRACE = (
    "   at Halo.API.Services.FaultsService.Save(List`1 items)\r\n"
    "   at Halo.API.Controllers.BaseController.PostRecords(Object body)"
)


@dataclass
class Reply:
    status: int
    body: Any = EMPTY
    headers: dict[str, str] = field(default_factory=dict)
    tickets_written: int = 0
    actions_written: int = 0
    links: int = 0  # parent_id writes among tickets_written (linking.py)
    merges: int = 0  # merges among tickets_written
    payload: bytes | None = None
    events: list[tuple[str, int]] = field(default_factory=list)  # webhook events (webhooks.py)

    def encode(self) -> bytes:
        """The body as bytes (computed once: encode under the lock that guards the body)."""
        if self.payload is not None:
            return self.payload
        if self.body is EMPTY:
            return b""
        text = json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: Halo sends it as the JSON escape \ud83d
            return json.dumps(self.body, separators=(",", ":")).encode("ascii")


class Rejected(Exception):
    """Raised inside a handler to answer with ``reply`` and apply nothing."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply
        self.prepared: list[Any] = []
        """The valid elements before the bad one (applied in ``partial_commit`` mode)."""


def empty(status: int) -> Reply:
    return Reply(status)


def model_error(path: str, message: str) -> Rejected:
    """ASP.NET model-binding 400: ``{"<path>": ["<message>"]}``."""
    return Rejected(Reply(400, {path: [message]}))


def not_valid(path: str, value: object) -> Rejected:
    return model_error(path, f"The value '{value}' is not valid.")


def dotnet_error(message: str) -> Rejected:
    """A business-rule 400: Halo serialises the .NET exception it threw."""
    body = {
        "ClassName": "System.Exception",
        "Message": message,
        "Data": None,
        "InnerException": None,
        "HelpURL": None,
        "StackTraceString": _DOTNET_TRACE,
        "RemoteStackTraceString": None,
        "RemoteStackIndex": 0,
        "ExceptionMethod": None,
        "HResult": -2146233088,
        "Source": "Halo.API",
        "WatsonBuckets": None,
    }
    return Rejected(Reply(400, body))
