"""Settings from a YAML file plus the environment.

``${VAR}`` anywhere in a string value expands from the environment (a missing variable is an
error naming the key). The client secret is a :class:`pydantic.SecretStr` from the moment it
is read, so no repr, log line or error ever shows it. The file is found from ``--config``,
else ``$HALO_AUTOMATE_CONFIG``, else ``./config.yaml``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from halo_automate.errors import ConfigError
from halo_automate.suggest import did_you_mean

ENV_VAR = "HALO_AUTOMATE_CONFIG"
DEFAULT_PATH = Path("config.yaml")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Model):
    requests: int = Field(300, ge=1)
    per_seconds: float = Field(300, gt=0)


class HaloSettings(_Model):
    base_url: str
    auth_url: str | None = None
    tenant: str | None = None
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    scope: str = "all"
    rate_limit: RateLimit = RateLimit()
    page_size: int = Field(100, ge=1, le=100)
    concurrency: int = Field(4, ge=1, le=16)
    batch_size: int = Field(50, ge=1, le=100)
    timeout_seconds: float = Field(30, gt=0)

    @field_validator("base_url", "auth_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        check_url(value)
        return value.rstrip("/")

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    @property
    def token_url(self) -> str:
        return f"{self.auth_url or self.base_url + '/auth'}/token"


class DaemonSettings(_Model):
    timezone: str = "UTC"
    health: str | None = None
    stop_timeout_seconds: float = Field(30, gt=0)
    misfire_grace_seconds: int = Field(300, ge=1)
    watch_playbooks: bool = True


class Settings(_Model):
    halo: HaloSettings
    playbooks_dir: Path = Path("playbooks")
    journal: Path = Path("halo-automate.db")
    daemon: DaemonSettings = DaemonSettings()


def check_url(value: str) -> None:
    """Accept https URLs, and http only on loopback (the sandbox, a local proxy)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(f"http:// is only allowed on loopback; use https:// for {value!r}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
                raise ConfigError(f"{where or 'config'}: environment variable {name} is not set")
            return env[name]

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {
            k: expand_env(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [expand_env(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


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
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        current = annotation
    return list(current.model_fields)


def settings_from_mapping(
    data: Any, source: str = "config", env: dict[str, str] | None = None
) -> Settings:
    """Validate a parsed YAML mapping; every problem is one line naming the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        expanded = expand_env(data, dict(os.environ) if env is None else env)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    try:
        return Settings.model_validate(expanded)
    except ValidationError as e:
        err = e.errors()[0]
        key = _key_path(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            hint = did_you_mean(str(err["loc"][-1]), _allowed_keys(Settings, tuple(err["loc"])))
            raise ConfigError(f"{source}: {key}: unknown key{hint}") from None
        if err["type"] == "missing":
            raise ConfigError(f"{source}: {key}: required key is missing") from None
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{source}: {key}: {msg}") from None


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read and validate the config file found from ``path``/environment/default."""
    found = find_config(path)
    try:
        text = found.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{found}: cannot read config ({e.strerror or e})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigError(f"{found}{where}: {problem}") from None
    settings = settings_from_mapping(data, str(found), env)
    return _relative_to(settings, found.parent)


def _relative_to(settings: Settings, base: Path) -> Settings:
    """Resolve relative paths in the config against the config file's folder."""
    updates: dict[str, Path] = {}
    if not settings.playbooks_dir.is_absolute():
        updates["playbooks_dir"] = base / settings.playbooks_dir
    if not settings.journal.is_absolute():
        updates["journal"] = base / settings.journal
    return settings.model_copy(update=updates)
