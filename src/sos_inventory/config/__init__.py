"""The job's configuration: the YAML file (load), its values (settings), its rules, and the
credentials from the environment."""

from __future__ import annotations

from sos_inventory.config.credentials import Credentials, credentials_from_env
from sos_inventory.config.load import config_from_mapping, load_config, with_overrides
from sos_inventory.config.rules import Rule, RuleSet
from sos_inventory.config.settings import (
    DEFAULT_BUILD_WINDOW,
    DEFAULT_CONFIG,
    DEFAULT_MAX_BODY_MB,
    Config,
    DevicesSpec,
    RetryPolicy,
    Safety,
    parse_duration,
)

__all__ = [
    "DEFAULT_BUILD_WINDOW",
    "DEFAULT_CONFIG",
    "DEFAULT_MAX_BODY_MB",
    "Config",
    "Credentials",
    "DevicesSpec",
    "RetryPolicy",
    "Rule",
    "RuleSet",
    "Safety",
    "config_from_mapping",
    "credentials_from_env",
    "load_config",
    "parse_duration",
    "with_overrides",
]
