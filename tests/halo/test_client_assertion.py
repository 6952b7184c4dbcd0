"""RFC 7523 client assertions: the client signs them, the sandbox verifies them (issue 14, #7).

Keys are generated at test time (RSA 2048 and EC P-256, with ``cryptography``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from conftest import SandboxFactory
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fault_tools import SecretWatch
from pydantic import SecretStr

from halo_automate.config import ClientAssertion, HaloSettings, RateLimit, settings_from_mapping
from halo_automate.errors import ConfigError, HaloAuthError
from halo_automate.halo.assertion import ASSERTION_TYPE, signer_for
from halo_automate.halo.auth import Scrubber
from halo_automate.halo.client import HaloClient
from halo_automate.sandbox import SandboxServer


def new_key(kind: str) -> Any:
    if kind == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_keys(key: Any, folder: Path, name: str = "halo") -> tuple[Path, Path]:
    private = folder / f"{name}.pem"
    public = folder / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


ALGS = [("RS256", "RSA"), ("PS256", "RSA"), ("ES256", "EC")]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("keys")
    return {kind: write_keys(new_key(kind), folder, kind) for kind in ("RSA", "EC")}


def settings(sb: SandboxServer, assertion: ClientAssertion | None, **over: Any) -> HaloSettings:
    values: dict[str, Any] = {
        "base_url": sb.base_url,
        "client_id": sb.client_id,
        "client_secret": SecretStr(sb.client_secret),
        "rate_limit": RateLimit(requests=100_000, per_seconds=1),
        "client_assertion": assertion,
    }
    return HaloSettings(**{**values, **over})


def token_request(sb: SandboxServer, **form: str) -> httpx.Response:
    body = {
        "grant_type": "client_credentials",
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
        "scope": "all",
        **form,
    }
    return httpx.post(f"{sb.base_url}/auth/token", data=body)


def signed(key: Any, alg: str, **claims: Any) -> str:
    now = int(time.time())
    base = {"iat": now, "exp": now + 120, "jti": f"j-{time.monotonic_ns()}"}
    return jwt.encode({**base, **claims}, key, algorithm=alg)


@pytest.mark.parametrize(("alg", "kind"), ALGS)
def test_client_authenticates_with_an_assertion(
    sandbox_factory: SandboxFactory, keys: dict[str, tuple[Path, Path]], alg: str, kind: str
) -> None:
    """With ``client_assertion`` set, the client's token request carries a signed JWT that
    the sandbox (requiring one) accepts; the API then answers."""
    private, public = keys[kind]
    sb = sandbox_factory(assertion_key=public)
    config = ClientAssertion(private_key_file=private, alg=alg)  # type: ignore[arg-type]
    with HaloClient(settings(sb, config)) as client:
        assert client.get("Status")
        assert client.auth_method == f"client assertion ({alg}) + client secret"
    assert sb.counters["tokens_issued"] == 1
    # Without an assertion, the same sandbox refuses the secret alone.
    with HaloClient(settings(sb, None)) as plain, pytest.raises(HaloAuthError) as info:
        plain.get("Status")
    assert "invalid_client" in str(info.value)
    assert sb.assertions is not None and "client_assertion_type" in sb.assertions.last_reason


def test_assertion_claims_follow_rfc_7523(keys: dict[str, tuple[Path, Path]]) -> None:
    """iss = sub = client id, aud = token endpoint (or the configured audience), a unique jti,
    exp at most 5 minutes after iat, the kid header when configured."""
    private, public = keys["RSA"]
    url = "https://acme.halopsa.com/auth/token"
    signer = signer_for(ClientAssertion(private_key_file=private, kid="key-1"), "my-client", url)
    key = serialization.load_pem_public_key(public.read_bytes())
    first, second = signer(), signer()
    claims = jwt.decode(first, key, algorithms=["RS256"], audience=url)  # type: ignore[arg-type]
    again = jwt.decode(second, key, algorithms=["RS256"], audience=url)  # type: ignore[arg-type]
    assert claims["iss"] == claims["sub"] == "my-client"
    assert claims["aud"] == url
    assert 0 < claims["exp"] - claims["iat"] <= 300
    assert claims["jti"] != again["jti"] and len(claims["jti"]) >= 16
    assert jwt.get_unverified_header(first)["kid"] == "key-1"
    other = signer_for(
        ClientAssertion(private_key_file=private, audience="https://idp.example/x"), "c", url
    )
    assert jwt.decode(other(), options={"verify_signature": False})["aud"] == (
        "https://idp.example/x"
    )


def test_sandbox_refuses_bad_assertions(
    sandbox_factory: SandboxFactory, keys: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    """Bad signature, expired, wrong audience, wrong issuer, replayed jti, missing: each is
    401 invalid_client; a good one is 200 once."""
    private, public = keys["RSA"]
    key = serialization.load_pem_private_key(private.read_bytes(), None)
    stranger = new_key("RSA")
    sb = sandbox_factory(assertion_key=public)
    aud = f"{sb.base_url}/auth/token"
    me = {"iss": sb.client_id, "sub": sb.client_id}
    now = int(time.time())
    cases = {
        "bad signature": signed(stranger, "RS256", aud=aud, **me),
        "expired": signed(key, "RS256", aud=aud, exp=now - 5, **me),
        "wrong audience": signed(key, "RS256", aud="https://elsewhere/token", **me),
        "wrong issuer": signed(key, "RS256", aud=aud, iss="x", sub=sb.client_id),
        "too long": signed(key, "RS256", aud=aud, exp=now + 3600, **me),
        "hmac": jwt.encode({"aud": aud, "exp": now + 60, "jti": "h", **me}, "k" * 32, "HS256"),
    }
    for why, assertion in cases.items():
        resp = token_request(sb, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion)
        assert (resp.status_code, resp.json()) == (401, {"error": "invalid_client"}), why
    assert token_request(sb).status_code == 401  # none at all
    good = signed(key, "RS256", aud=aud, **me)
    ok = token_request(sb, client_assertion_type=ASSERTION_TYPE, client_assertion=good)
    assert ok.status_code == 200
    replay = token_request(sb, client_assertion_type=ASSERTION_TYPE, client_assertion=good)
    assert replay.status_code == 401
    assert sb.assertions is not None and sb.assertions.last_reason == "jti replayed"
    # The secret is still required unless the sandbox is told it is not.
    fresh = signed(key, "RS256", aud=aud, **me)
    wrong = token_request(
        sb, client_secret="nope", client_assertion_type=ASSERTION_TYPE, client_assertion=fresh
    )
    assert wrong.status_code == 401


def test_assertion_without_secret(
    sandbox_factory: SandboxFactory, keys: dict[str, tuple[Path, Path]]
) -> None:
    """``send_secret: false`` leaves client_secret out of the form; a sandbox started with
    ``assertion_only`` accepts that, and one that wants the secret too refuses it."""
    private, public = keys["EC"]
    config = ClientAssertion(private_key_file=private, alg="ES256", send_secret=False)
    sb = sandbox_factory(assertion_key=public, assertion_only=True)
    seen: list[bytes] = []

    def spy(method: str, target: str, headers: Any, body: bytes, proceed: Any) -> Any:
        if target.startswith("/auth/token"):
            seen.append(body)
        return proceed(method, target, headers, body)

    sb.add_request_hook(spy)
    with HaloClient(settings(sb, config, client_secret=SecretStr(""))) as client:
        assert client.get("Status")
        assert client.auth_method == "client assertion (ES256)"
    assert seen and b"client_secret" not in seen[0] and b"client_assertion=" in seen[0]
    strict = sandbox_factory(assertion_key=public)
    with HaloClient(settings(strict, config)) as client, pytest.raises(HaloAuthError):
        client.get("Status")


def test_wrong_key_is_an_auth_error_that_leaks_nothing(
    sandbox_factory: SandboxFactory,
    keys: dict[str, tuple[Path, Path]],
    tmp_path: Path,
    watch: SecretWatch,
) -> None:
    """A client signing with a key the sandbox does not know gets a one-line auth error; no
    log line or error carries the secret, the key or an assertion."""
    _, public = keys["RSA"]
    private, _ = write_keys(new_key("RSA"), tmp_path, "other")
    sb = sandbox_factory(assertion_key=public)
    watch.watch(sb)
    config = ClientAssertion(private_key_file=private)
    with HaloClient(settings(sb, config)) as client, pytest.raises(HaloAuthError) as info:
        client.get("Status")
    text = str(info.value)
    watch.add("error", text)
    assert "\n" not in text and "invalid_client" in text
    key_text = private.read_text()
    body = key_text.splitlines()[1]
    assert body not in text and body not in watch.buffer.getvalue()
    assert "eyJ" not in text and "eyJ" not in watch.buffer.getvalue()  # no JWT anywhere


def test_scrubber_hides_a_remembered_assertion() -> None:
    scrub = Scrubber(SecretStr("s3cret"))
    scrub.remember("eyJhbGciOi.assertion.sig")
    assert scrub("echo: eyJhbGciOi.assertion.sig and s3cret") == "echo: *** and ***"


@pytest.mark.parametrize(
    ("alg", "kind", "problem"),
    [
        ("ES256", "RSA", "ES256 needs an EC key on the P-256 curve"),
        ("RS256", "EC", "RS256 needs an RSA key"),
        ("PS256", "EC", "PS256 needs an RSA key"),
    ],
)
def test_key_must_fit_the_algorithm(
    keys: dict[str, tuple[Path, Path]], alg: str, kind: str, problem: str
) -> None:
    private, _ = keys[kind]
    config = ClientAssertion(private_key_file=private, alg=alg)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=problem):
        signer_for(config, "c", "https://x/auth/token")


def test_unreadable_or_foreign_key_files(tmp_path: Path) -> None:
    missing = ClientAssertion(private_key_file=tmp_path / "none.pem")
    with pytest.raises(ConfigError, match="cannot read"):
        signer_for(missing, "c", "https://x/auth/token")
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="not a PEM private key") as info:
        signer_for(ClientAssertion(private_key_file=junk), "c", "https://x/auth/token")
    assert "not a key" not in str(info.value)


def test_config_keys_and_defaults(tmp_path: Path) -> None:
    """The ``client_assertion`` block of ``halo:``: defaults, checks, one-line errors."""
    halo = {"base_url": "https://a.example", "client_id": "x", "client_secret": "s"}
    s = settings_from_mapping(
        {"halo": {**halo, "client_assertion": {"private_key_file": "/etc/k.pem"}}}
    )
    a = s.halo.client_assertion
    assert a is not None
    assert (a.alg, a.kid, a.audience, a.send_secret, a.lifetime_seconds) == (
        "RS256", None, None, True, 300
    )  # fmt: skip
    assert settings_from_mapping({"halo": halo}).halo.client_assertion is None
    bad = {"private_key_file": "/k.pem", "alg": "HS256"}
    with pytest.raises(ConfigError, match=r"halo\.client_assertion\.alg"):
        settings_from_mapping({"halo": {**halo, "client_assertion": bad}})
    with pytest.raises(ConfigError, match=r"lifetime_seconds"):
        settings_from_mapping(
            {
                "halo": {
                    **halo,
                    "client_assertion": {"private_key_file": "/k", "lifetime_seconds": 900},
                }
            }
        )
    with pytest.raises(ConfigError, match=r"unknown key.*did you mean 'kid'"):
        settings_from_mapping(
            {"halo": {**halo, "client_assertion": {"private_key_file": "/k", "kidd": "1"}}}
        )


def test_relative_key_path_is_relative_to_the_config(tmp_path: Path) -> None:
    from halo_automate.config import load_settings

    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "halo:\n  base_url: https://a.example\n  client_id: x\n  client_secret: s\n"
        "  client_assertion: {private_key_file: keys/halo.pem, alg: ES256}\n"
    )
    a = load_settings(cfg).halo.client_assertion
    assert a is not None and a.private_key_file == tmp_path / "keys" / "halo.pem"


def test_doctor_reports_the_assertion_method(
    sandbox_factory: SandboxFactory, keys: dict[str, tuple[Path, Path]]
) -> None:
    """``doctor`` says which authentication method worked."""
    from halo_automate.engine.doctor import diagnose

    private, public = keys["EC"]
    sb = sandbox_factory(assertion_key=public)
    config = ClientAssertion(private_key_file=private, alg="ES256")
    report = diagnose(settings(sb, config), [])
    assert report.auth_method == "client assertion (ES256) + client secret"
    assert report.checks[0].status == "ok"
    assert "issued via client assertion (ES256) + client secret" in report.checks[0].detail


def test_a_retried_token_request_signs_a_fresh_assertion(
    sandbox_factory: SandboxFactory, keys: dict[str, tuple[Path, Path]]
) -> None:
    """The sandbox sees the first assertion, then the answer is lost (500): the retry re-sends
    that jti and is refused as a replay, so the client signs a fresh one and gets its token."""
    from halo_automate.halo.retry import RetryPolicy
    from halo_automate.sandbox.replies import empty

    private, public = keys["RSA"]
    sb = sandbox_factory(assertion_key=public)
    lost: list[int] = []

    def lose_first_answer(method: str, target: str, headers: Any, body: bytes, proceed: Any) -> Any:
        reply = proceed(method, target, headers, body)
        if target.startswith("/auth/token") and not lost:
            lost.append(reply.status)
            return empty(500)
        return reply

    sb.add_request_hook(lose_first_answer)
    config = ClientAssertion(private_key_file=private)
    fast = RetryPolicy(attempts=3, base_seconds=0.001, max_seconds=0.002)
    with HaloClient(settings(sb, config), retry=fast) as client:
        assert client.get("Status")
        assert client.stats.snapshot()["by_endpoint"]["POST /auth/token"] == 3
    assert lost == [200]
    assert sb.counters["tokens_issued"] == 2  # the lost one and the last one
