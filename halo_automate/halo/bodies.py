"""Reading Halo's answers: JSON bodies, and Halo's error messages in one line.

:func:`decode_json` decodes a read's body (a body that is not JSON is a
:class:`~halo_automate.errors.HaloResponseError` naming the endpoint, never a traceback);
:func:`halo_message` turns any error body Halo sends (FACTS §5.2: model-binding objects,
serialized exceptions, bare strings, ``{"error": ...}``) into one line.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from halo_automate.errors import HaloResponseError

MAX_MESSAGE_CHARS = 500
_JSON_MESSAGE_BYTES = 1024 * 1024  # larger error bodies are quoted, not parsed


def halo_message(body: bytes, content_type: str = "") -> str:
    """Halo's error message from either 400 shape, a bare string, or ``{"error": ...}``.

    Always one line of at most :data:`MAX_MESSAGE_CHARS` characters.
    """
    if not body.strip():
        return "(empty body)"
    try:
        if len(body) > _JSON_MESSAGE_BYTES:
            raise ValueError("too large to parse")
        message = _message_of(json.loads(body.decode("utf-8", "replace")))
    except (ValueError, RecursionError):
        kind = content_type.split(";")[0] or "text"
        text = _one_line(body[:4096].decode("utf-8", "replace"))
        more = f" ... ({len(body)} bytes)" if len(text) > 120 or len(body) > 4096 else ""
        return f"not JSON ({kind}): {text[:120]}{more}"
    return _one_line(message)[:MAX_MESSAGE_CHARS]


def _message_of(data: Any) -> str:
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        if isinstance(data.get("Message"), str):
            return str(data["Message"])
        if isinstance(data.get("error"), str):
            desc = data.get("error_description")
            return f"{data['error']}: {desc}" if isinstance(desc, str) else str(data["error"])
        parts = [
            f"{key}: {'; '.join(map(str, val)) if isinstance(val, list) else val}"
            for key, val in list(data.items())[:20]
        ]
        return ", ".join(parts)[:MAX_MESSAGE_CHARS] or "(empty object)"
    return json.dumps(data)[:MAX_MESSAGE_CHARS]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def decode_json(resp: httpx.Response, endpoint: str) -> Any:
    """The JSON body of a read response (None when empty), or a HaloResponseError."""
    if not resp.content:
        return None
    try:
        return json.loads(resp.content)
    except RecursionError:
        raise HaloResponseError(
            f"HTTP {resp.status_code} body is JSON nested too deeply to read", endpoint=endpoint
        ) from None
    except ValueError:
        msg = halo_message(resp.content, resp.headers.get("content-type", ""))
        raise HaloResponseError(
            f"HTTP {resp.status_code} body is {msg}", endpoint=endpoint
        ) from None
