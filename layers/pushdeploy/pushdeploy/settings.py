"""The functions' environment, read once and validated: a missing variable is named, never defaulted."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pushdeploy.errors import ConfigurationError


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


@dataclass(frozen=True)
class Settings:
    table_name: str
    targets_path: str
    hook_function_prefix: str
    notification_topic_arn: str | None
    targets_cache_seconds: int

    @classmethod
    def from_env(cls) -> Settings:
        prefix = _required("PUSHDEPLOY_TARGETS_PATH")
        return cls(
            table_name=_required("PUSHDEPLOY_TABLE"),
            targets_path=prefix if prefix.endswith("/") else prefix + "/",
            hook_function_prefix=_required("PUSHDEPLOY_HOOK_PREFIX"),
            notification_topic_arn=os.environ.get("PUSHDEPLOY_TOPIC_ARN") or None,
            targets_cache_seconds=int(os.environ.get("PUSHDEPLOY_TARGETS_CACHE_SECONDS", "60")),
        )


_settings: Settings | None = None


def settings() -> Settings:
    """The process-wide settings (read on first use)."""
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def reset_settings() -> None:
    global _settings
    _settings = None
