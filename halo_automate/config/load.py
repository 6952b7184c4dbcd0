"""Reading the config file: find it, bound it, parse it, expand ``${VAR}``, validate it.

The file is found from ``--config``, else ``$HALO_AUTOMATE_CONFIG``, else ``./config.yaml``.
It is read with a bounded safe loader: at most 1 MB of UTF-8, no aliases (no expansion
bombs), no duplicate keys, nesting, value count and number length capped, so a broken or
hostile file is a one-line :class:`ConfigError`, never a hang or a traceback.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from halo_automate.config.halo import HaloSettings, UnresolvedSecret
from halo_automate.config.settings import Settings
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
    data, deferred = _defer_unset_secrets(data, variables, source)
    try:
        expanded = expand_env(data, variables)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    for path, secret in deferred.items():
        block = expanded[path[0]] if len(path) == 2 else expanded[path[0]][path[1]]
        block[path[-1]] = secret
    try:
        return Settings.model_validate(expanded)
    except ValidationError as e:
        # ``halo`` is a copy of one ``instances:`` entry (or the reverse): report the form
        # the file used
        echo = "halo" if "instances" in data else "instances"
        errors = [err for err in e.errors() if err["loc"][:1] != (echo,)] or e.errors()
        problems = list(dict.fromkeys(_problem(err, errors) for err in errors))
        raise ConfigError("\n".join(one_line(f"{source}: {p}") for p in problems)) from None


def _problem(err: Any, errors: list[Any]) -> str:
    """One validation error as ``key: message`` (every error of a file is reported at once)."""
    loc = tuple(err["loc"])
    key = _key_path(loc)
    if not key:  # a whole-config rule (the halo:/instances: forms)
        return str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown key{did_you_mean(str(loc[-1]), _allowed_keys(Settings, loc))}"
    if err["type"] == "missing":
        unknown = [
            str(other["loc"][-1])
            for other in errors
            if other["type"] == "extra_forbidden" and tuple(other["loc"])[:-1] == loc[:-1]
        ]
        near = difflib.get_close_matches(str(loc[-1]), unknown, n=1, cutoff=0.6)
        hint = f" (is '{near[0]}' a misspelling of it?)" if near else ""
        return f"{key}: required key is missing{hint}"
    return f"{key}: {str(err['msg']).removeprefix('Value error, ')}"


def _defer_unset_secrets(
    data: dict[str, Any], variables: dict[str, str], source: str
) -> tuple[dict[str, Any], dict[tuple[str, ...], UnresolvedSecret]]:
    """Blank each instance block's ``client_secret`` (and ``webhooks.password``) whose
    variable is unset, returning the :class:`UnresolvedSecret` to put back after expansion
    (keyed by the secret's path: block keys, then the secret's key)."""
    deferred: dict[tuple[str, ...], UnresolvedSecret] = {}
    blocks: list[tuple[tuple[str, ...], Any]] = [(("halo", "client_secret"), data.get("halo"))]
    instances = data.get("instances")
    if isinstance(instances, dict):
        blocks += [(("instances", str(k), "client_secret"), v) for k, v in instances.items()]
    blocks.append((("webhooks", "password"), data.get("webhooks")))  # fails when it listens
    for path, block in blocks:
        key = path[-1]
        if not isinstance(block, dict) or not isinstance(block.get(key), str):
            continue
        where = ".".join(path)
        try:  # the secret alone may be unset: see UnresolvedSecret
            expand_env(block[key], variables, where)
        except ConfigError as e:
            deferred[path] = UnresolvedSecret(f"{source}: {e}")
            blank = {**block, key: ""}
            if len(path) == 2:
                data = {**data, path[0]: blank}
            else:
                data = {**data, "instances": {**data["instances"], path[1]: blank}}
    return data, deferred


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
    instances = {name: _key_relative(halo, base) for name, halo in settings.instances.items()}
    updates["instances"] = instances
    updates["halo"] = instances[settings.default_instance]
    return settings.model_copy(update=updates)


def _key_relative(halo: HaloSettings, base: Path) -> HaloSettings:
    assertion = halo.client_assertion
    if assertion is None or assertion.private_key_file.is_absolute():
        return halo
    key = assertion.model_copy(update={"private_key_file": base / assertion.private_key_file})
    return halo.model_copy(update={"client_assertion": key})
