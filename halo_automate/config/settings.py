"""The whole config as one validated model: instances, paths, the daemon.

``Settings.halo`` is always the *selected* instance (see :class:`Settings`). New top-level
sections get their own module in this package and one field here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from halo_automate.config.halo import HaloSettings, _Model
from halo_automate.config.notify import NotifySettings
from halo_automate.config.reads import ReadsSettings
from halo_automate.config.web import WebSettings
from halo_automate.config.webhooks import WebhookSettings
from halo_automate.core.suggest import did_you_mean
from halo_automate.errors import ConfigError, one_line


class DaemonSettings(_Model):
    timezone: str = "UTC"
    health: str | None = None
    health_allow_remote: bool = False
    stop_timeout_seconds: float = Field(30, gt=0, allow_inf_nan=False)
    misfire_grace_seconds: int = Field(300, ge=1)
    watch_playbooks: bool = True


DEFAULT_INSTANCE = "default"
"""The name of the instance a single ``halo:`` block defines."""
_INSTANCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class Settings(_Model):
    """The whole config. ``halo`` is always the *selected* instance's settings (the default
    one as loaded; :meth:`select_instance` picks another), and ``default_instance`` its name,
    so code that talks to one Halo reads ``settings.halo`` whichever form the file used:
    a single ``halo:`` block (the instance ``default``) or ``instances:`` by name plus
    ``default_instance:`` (optional when there is one instance)."""

    halo: HaloSettings
    instances: dict[str, HaloSettings] = Field(default_factory=dict)
    default_instance: str = DEFAULT_INSTANCE
    playbooks_dir: Path = Path("playbooks")
    journal: Path = Path("halo-automate.db")
    daemon: DaemonSettings = DaemonSettings()
    notify: NotifySettings = NotifySettings()
    web: WebSettings | None = None
    webhooks: WebhookSettings | None = None
    reads: ReadsSettings = ReadsSettings()

    @model_validator(mode="before")
    @classmethod
    def _one_halo_form(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        halo, instances = data.get("halo"), data.get("instances")
        if halo is not None and instances is not None:
            raise ValueError("give either halo: (one instance) or instances: (by name), not both")
        if instances is None:
            if halo is None:
                return data  # pydantic reports halo: missing
            name = data.get("default_instance", DEFAULT_INSTANCE)
            if name != DEFAULT_INSTANCE:
                raise ValueError(
                    f"default_instance: {name!r} names no instance (a halo: block is the "
                    f"instance {DEFAULT_INSTANCE!r}; use instances: to name several)"
                )
            return {**data, "instances": {DEFAULT_INSTANCE: halo}, "default_instance": name}
        if not isinstance(instances, dict) or not instances:
            raise ValueError("instances: expected a mapping of name -> Halo settings")
        for key in instances:
            if not isinstance(key, str) or not _INSTANCE_NAME.match(key):
                raise ValueError(
                    f"instances: {key!r} is not a valid instance name (letters, digits, . _ -)"
                )
        name = data.get("default_instance")
        if name is None:
            if len(instances) > 1:
                raise ValueError(
                    "default_instance: required when instances: names several "
                    f"({', '.join(sorted(instances))})"
                )
            name = next(iter(instances))
        if name not in instances:
            raise ValueError(
                f"default_instance: {name!r} is not one of instances:"
                f"{did_you_mean(str(name), list(instances))}"
            )
        return {**data, "halo": instances[name], "default_instance": name}

    @property
    def instance_name(self) -> str:
        """The selected instance's name (``default`` for a single ``halo:`` block)."""
        return self.default_instance

    def select_instance(self, name: str | None) -> Settings:
        """These settings with ``halo`` set to the instance ``name`` (None: unchanged).
        An unknown name is a ConfigError listing the closest names."""
        if name is None or name == self.default_instance:
            return self
        if name not in self.instances:
            known = ", ".join(sorted(self.instances))
            raise ConfigError(
                one_line(
                    f"no instance {name!r} in the config{did_you_mean(name, list(self.instances))}"
                    f" (instances: {known})"
                )
            )
        return self.model_copy(update={"halo": self.instances[name], "default_instance": name})

    @field_validator("playbooks_dir", "journal")
    @classmethod
    def _check_path(cls, value: Path) -> Path:
        if "\0" in str(value):
            raise ValueError("a path cannot contain a NUL character")
        return value
