"""Settings from a YAML file plus the environment.

``${VAR}`` anywhere in a string value expands from the environment (a missing variable is an
error naming the key). The client secret is a :class:`pydantic.SecretStr` from the moment it
is read, so no repr, log line or error ever shows it. Its variable alone is resolved lazily:
when it is unset the settings still load (an :class:`UnresolvedSecret` stands in), so the
commands that never talk to Halo (``validate``, ``history``, ``show``, ``test``) run without
the secret in their environment; reading it, and so building a Halo client
(:meth:`HaloSettings.check_secret`), raises the same one-line :class:`ConfigError` as before.
The file is found from ``--config``, else ``$HALO_AUTOMATE_CONFIG``, else ``./config.yaml``.

The file is read with a bounded safe loader: at most 1 MB of UTF-8, no aliases (no expansion
bombs), no duplicate keys, nesting, value count and number length capped, so a broken or
hostile file is a one-line :class:`ConfigError`, never a hang or a traceback.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from halo_automate.core.addresses import is_loopback
from halo_automate.core.suggest import did_you_mean
from halo_automate.core.yamlsafe import BoundedLoader, YamlProblem
from halo_automate.errors import ConfigError, one_line

ENV_VAR = "HALO_AUTOMATE_CONFIG"
DEFAULT_PATH = Path("config.yaml")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_CONFIG_BYTES = 1_048_576
MAX_CONFIG_DEPTH = 50
MAX_CONFIG_NODES = 10_000
MAX_NUMBER_CHARS = 64


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Model):
    requests: int = Field(300, ge=1)
    per_seconds: float = Field(300, gt=0, allow_inf_nan=False)


class ClientAssertion(_Model):
    """RFC 7523 ``private_key_jwt``: a signed JWT sent with the token request (Halo v2.216
    can require one, FACTS.md §9.7). ``audience`` defaults to the token endpoint's URL;
    ``send_secret`` also sends ``client_secret`` (Halo's "extra security measure" case)."""

    private_key_file: Path
    alg: Literal["RS256", "PS256", "ES256"] = "RS256"
    kid: str | None = None
    audience: str | None = None
    send_secret: bool = True
    lifetime_seconds: int = Field(300, ge=10, le=300)

    @field_validator("private_key_file")
    @classmethod
    def _check_key_path(cls, value: Path) -> Path:
        if "\0" in str(value):
            raise ValueError("a path cannot contain a NUL character")
        return value


class UnresolvedSecret(SecretStr):
    """The client secret whose ``${VAR}`` is unset: loads, but reading it raises ``problem``
    (the one-line error naming the key and the variable)."""

    def __init__(self, problem: str) -> None:
        super().__init__("")
        self.problem = problem

    def get_secret_value(self) -> str:
        raise ConfigError(self.problem)


class HaloSettings(_Model):
    base_url: str
    auth_url: str | None = None
    tenant: str | None = None
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    client_assertion: ClientAssertion | None = None
    scope: str = "all"
    rate_limit: RateLimit = RateLimit()
    page_size: int = Field(100, ge=1, le=100)
    concurrency: int = Field(4, ge=1, le=16)
    batch_size: int = Field(50, ge=1, le=100)
    timeout_seconds: float = Field(30, gt=0, allow_inf_nan=False)
    request_deadline_seconds: float = Field(300, gt=0, allow_inf_nan=False)
    max_rate_limit_wait_seconds: float = Field(600, ge=0, allow_inf_nan=False)
    run_deadline_seconds: float = Field(14400, gt=0, allow_inf_nan=False)

    @field_validator("base_url", "auth_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        check_url(value)
        return value.rstrip("/")

    def check_secret(self) -> None:
        """Raise the config error of an unset secret variable (whoever talks to Halo calls
        this before anything else, so the error comes first, as when loading failed)."""
        if isinstance(self.client_secret, UnresolvedSecret):
            raise ConfigError(self.client_secret.problem)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    @property
    def token_url(self) -> str:
        return f"{self.auth_url or self.base_url + '/auth'}/token"


class DaemonSettings(_Model):
    timezone: str = "UTC"
    health: str | None = None
    health_allow_remote: bool = False
    stop_timeout_seconds: float = Field(30, gt=0, allow_inf_nan=False)
    misfire_grace_seconds: int = Field(300, ge=1)
    watch_playbooks: bool = True


class Settings(_Model):
    halo: HaloSettings
    playbooks_dir: Path = Path("playbooks")
    journal: Path = Path("halo-automate.db")
    daemon: DaemonSettings = DaemonSettings()

    @field_validator("playbooks_dir", "journal")
    @classmethod
    def _check_path(cls, value: Path) -> Path:
        if "\0" in str(value):
            raise ValueError("a path cannot contain a NUL character")
        return value


def check_url(value: str) -> None:
    """Accept https URLs, and http only on loopback (the sandbox, a local proxy)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"http:// is only allowed on loopback; use https:// for {value!r}")


def find_config(explicit: str | Path | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_PATH


def expand_env(value: Any, env: dict[str, str], where: str = "") -> Any:
    """Expand ``${VAR}`` in every string of a YAML tree; a missing variable names its key."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise ConfigError(
                    one_line(f"{where or 'config'}: environment variable {name} is not set")
                )
            return env[name]

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {
            k: expand_env(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [expand_env(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    current: Any = model
    for part in loc[:-1]:
        fld = current.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(fld, "annotation", None)
        models = [a for a in (annotation, *get_args(annotation)) if _is_model(a)]
        if not models:
            return []
        current = models[0]
    return list(current.model_fields)


def settings_from_mapping(
    data: Any, source: str = "config", env: dict[str, str] | None = None
) -> Settings:
    """Validate a parsed YAML mapping; every problem is one line naming the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    variables = dict(os.environ) if env is None else env
    halo, deferred = data.get("halo"), None
    if isinstance(halo, dict) and isinstance(halo.get("client_secret"), str):
        try:  # the secret alone may be unset: see UnresolvedSecret
            expand_env(halo["client_secret"], variables, "halo.client_secret")
        except ConfigError as e:
            deferred = UnresolvedSecret(f"{source}: {e}")
            data = {**data, "halo": {**halo, "client_secret": ""}}
    try:
        expanded = expand_env(data, variables)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    if deferred is not None:
        expanded["halo"]["client_secret"] = deferred
    try:
        return Settings.model_validate(expanded)
    except ValidationError as e:
        err = e.errors()[0]
        key = _key_path(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            hint = did_you_mean(str(err["loc"][-1]), _allowed_keys(Settings, tuple(err["loc"])))
            raise ConfigError(one_line(f"{source}: {key}: unknown key{hint}")) from None
        if err["type"] == "missing":
            raise ConfigError(one_line(f"{source}: {key}: required key is missing")) from None
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(one_line(f"{source}: {key}: {msg}")) from None


class _ConfigLoader(BoundedLoader):
    """Bounded safe loading (see yamlsafe) plus no duplicate keys and capped numbers."""

    max_depth = MAX_CONFIG_DEPTH
    max_nodes = MAX_CONFIG_NODES
    alias_message = "YAML aliases (*name) are not allowed in the config"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a complex key: the constructor refuses it as unhashable
            if key_node.value in seen:
                raise YamlProblem(key_node.start_mark, f"duplicate key '{key_node.value}'")
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if len(str(node.value)) > MAX_NUMBER_CHARS:
            raise YamlProblem(node.start_mark, f"number longer than {MAX_NUMBER_CHARS} characters")
        return super().construct_yaml_int(node)


_ConfigLoader.add_constructor("tag:yaml.org,2002:int", _ConfigLoader.construct_yaml_int)


def read_config_text(found: Path) -> str:
    """The config file's text: at most 1 MB of UTF-8 (a FIFO or device is read bounded)."""
    try:
        with open(found, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{found}: cannot read config ({e.strerror or e})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{found}: config file is larger than 1 MB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{found}: config is not UTF-8 text ({e.reason})") from None


def parse_config_text(text: str, source: str) -> Any:
    """YAML text -> plain data with the bounded loader; problems are ``file:line:col``."""
    loader: _ConfigLoader | None = None
    try:
        loader = _ConfigLoader(text)  # the reader refuses unprintable characters right here
        return loader.get_single_data()
    except yaml.reader.ReaderError as e:  # a character YAML cannot read
        pos = max(0, min(e.position, len(text)))
        line, col = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        problem = str(e).splitlines()[0]
        raise ConfigError(one_line(f"{source}:{line}:{col}: {problem}")) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigError(one_line(f"{source}{where}: {problem}")) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read and validate the config file found from ``path``/environment/default."""
    found = find_config(path)
    data = parse_config_text(read_config_text(found), str(found))
    settings = settings_from_mapping(data, str(found), env)
    return _relative_to(settings, found.parent)


def _relative_to(settings: Settings, base: Path) -> Settings:
    """Resolve relative paths in the config against the config file's folder."""
    updates: dict[str, Any] = {}
    if not settings.playbooks_dir.is_absolute():
        updates["playbooks_dir"] = base / settings.playbooks_dir
    if not settings.journal.is_absolute():
        updates["journal"] = base / settings.journal
    assertion = settings.halo.client_assertion
    if assertion is not None and not assertion.private_key_file.is_absolute():
        key = assertion.model_copy(update={"private_key_file": base / assertion.private_key_file})
        updates["halo"] = settings.halo.model_copy(update={"client_assertion": key})
    return settings.model_copy(update=updates)
