"""Issue 13 point 9: the scrubber masks every encoding of the client secret, not only the raw
text. A token endpoint that echoes the form body shows it URL-encoded (``Zx9%2BQr%2F7Ab``);
a JSON echo escapes it; a proxy echoing the request headers shows it base64 in a Basic header.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus, urlencode

import httpx
import pytest
import respx
from pydantic import SecretStr

from halo_automate.config import HaloSettings, RateLimit
from halo_automate.errors import HaloAuthError
from halo_automate.halo.auth import Scrubber
from halo_automate.halo.client import HaloClient, RetryPolicy

BASE = "https://acme.halopsa.example"
CLIENT_ID = "cid-42"
SECRET = 'Zx9+Qr/7Ab "q" \\ é=&?#%'  # every character class an encoder changes


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


ENCODINGS = {
    "raw": SECRET,
    "form (quote_plus)": quote_plus(SECRET),
    "url (quote, %20)": quote(SECRET, safe=""),
    "url, lower-case hex": quote_plus(SECRET).replace("%2B", "%2b").replace("%2F", "%2f"),
    "json-escaped": json.dumps(SECRET)[1:-1],
    "json-escaped ascii": json.dumps(SECRET, ensure_ascii=True)[1:-1],
    "json, escaped slash": json.dumps(SECRET)[1:-1].replace("/", "\\/"),
    "basic header": _b64(f"{CLIENT_ID}:{SECRET}"),
    "basic header, form-encoded": _b64(f"{quote_plus(CLIENT_ID)}:{quote_plus(SECRET)}"),
    "base64 of the secret": _b64(SECRET),
}


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_scrubber_masks_each_encoding(name: str) -> None:
    """Each encoding of the secret, inside other text, becomes ***."""
    scrub = Scrubber(SecretStr(SECRET), client_id=CLIENT_ID)
    encoded = ENCODINGS[name]
    out = scrub(f"before {encoded} after")
    assert encoded not in out and out == "before *** after", out


def test_scrubber_leaves_other_text_alone() -> None:
    scrub = Scrubber(SecretStr(SECRET), client_id=CLIENT_ID)
    text = "grant_type=client_credentials&client_id=cid-42&scope=all"
    assert scrub(text) == text


def test_token_endpoint_echoing_the_form_body_leaks_no_encoding() -> None:
    """The reported case: the token endpoint answers 400 with the form body it was sent; the
    error shows none of the secret's encodings (the URL-encoded one passed before)."""
    form = urlencode({"client_id": CLIENT_ID, "client_secret": SECRET})
    echo = {
        "error": "invalid_request",
        "error_description": f"body was {form}; json {json.dumps(SECRET)}; "
        f"header Basic {_b64(f'{CLIENT_ID}:{SECRET}')}",
    }
    settings = HaloSettings(
        base_url=BASE,
        client_id=CLIENT_ID,
        client_secret=SecretStr(SECRET),
        rate_limit=RateLimit(requests=1000, per_seconds=300),
    )
    with respx.mock(base_url=BASE) as mock:
        mock.post("/auth/token").mock(return_value=httpx.Response(400, json=echo))
        client = HaloClient(settings, retry=RetryPolicy(attempts=1), sleep=lambda s: None)
        with pytest.raises(HaloAuthError) as caught:
            client.get("Status")
    text = str(caught.value)
    assert "***" in text
    for name, encoded in ENCODINGS.items():
        assert encoded not in text, (name, text)
    assert "%2B" not in text and "Zx9" not in text
