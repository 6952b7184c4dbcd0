"""Settings from a YAML file plus the environment (the package: halo.py one instance,
settings.py the whole model, load.py the file).

``${VAR}`` anywhere in a string value expands from the environment (a missing variable is an
error naming the key). The client secret is a :class:`pydantic.SecretStr` from the moment it
is read, so no repr, log line or error ever shows it. Its variable alone is resolved lazily:
when it is unset the settings still load (an :class:`UnresolvedSecret` stands in), so the
commands that never talk to Halo (``validate``, ``history``, ``show``, ``test``) run without
the secret in their environment; reading it, and so building a Halo client
(:meth:`HaloSettings.check_secret`), raises the same one-line :class:`ConfigError` as before.
``webhooks.password`` is deferred the same way: only the daemon's listener reads it.
The file is found from ``--config``, else ``$HALO_AUTOMATE_CONFIG``, else ``./config.yaml``.

The file is read with a bounded safe loader: at most 1 MB of UTF-8, no aliases (no expansion
bombs), no duplicate keys, nesting, value count and number length capped, so a broken or
hostile file is a one-line :class:`ConfigError`, never a hang or a traceback.
"""

from halo_automate.config.halo import (
    ClientAssertion,
    HaloSettings,
    RateLimit,
    UnresolvedSecret,
    check_url,
)
from halo_automate.config.load import (
    DEFAULT_PATH,
    ENV_VAR,
    MAX_CONFIG_BYTES,
    expand_env,
    find_config,
    load_settings,
    parse_config_text,
    read_config_text,
    settings_from_mapping,
)
from halo_automate.config.settings import DEFAULT_INSTANCE, DaemonSettings, Settings

__all__ = [
    "DEFAULT_INSTANCE",
    "DEFAULT_PATH",
    "ENV_VAR",
    "MAX_CONFIG_BYTES",
    "ClientAssertion",
    "DaemonSettings",
    "HaloSettings",
    "RateLimit",
    "Settings",
    "UnresolvedSecret",
    "check_url",
    "expand_env",
    "find_config",
    "load_settings",
    "parse_config_text",
    "read_config_text",
    "settings_from_mapping",
]
