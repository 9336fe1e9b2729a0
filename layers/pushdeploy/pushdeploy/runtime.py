"""Process-wide wiring for the Lambda handlers: settings, ledger, targets, the domain services.

Built lazily on first use (so importing a handler does no I/O) and kept for the life of the container.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from pushdeploy.settings import settings

if TYPE_CHECKING:
    from pushdeploy.ledger import Ledger
    from pushdeploy.targets import TargetCatalog

# Domain modules are imported on first use, not at import: a cold start pays only for what it runs.


@cache
def ledger() -> Ledger:
    from pushdeploy.ledger import Ledger

    return Ledger(settings().table_name)


def catalog() -> TargetCatalog:
    from pushdeploy.targets import load_catalog

    current = settings()
    return load_catalog(current.targets_path, max_age=current.targets_cache_seconds)


@cache
def starter():  # type: ignore[no-untyped-def]
    from pushdeploy.releases import Starter

    return Starter(ledger(), settings().hook_function_prefix)


@cache
def deployer():  # type: ignore[no-untyped-def]
    from pushdeploy.deployer import Deployer

    return Deployer(ledger(), starter())


def reset() -> None:
    """Forget every cached service (tests; the local runner between environments)."""
    from pushdeploy import aws, deployments, targets
    from pushdeploy.settings import reset_settings

    for cached in (ledger, starter, deployer, notifier, lifecycle, alarm_responder):
        cached.cache_clear()
    reset_settings()
    aws.reset_clients()
    deployments.clear_cache()
    targets.clear_cache()


def hook_runner():  # type: ignore[no-untyped-def]
    """The hook of this function's stage (PUSHDEPLOY_HOOK_STAGE, set per function by the template)."""
    import os

    from pushdeploy.appspec import HOOK_STAGES
    from pushdeploy.errors import ConfigurationError
    from pushdeploy.hooks import HookRunner

    stage = os.environ.get("PUSHDEPLOY_HOOK_STAGE", "")
    if stage not in HOOK_STAGES:
        raise ConfigurationError(f"PUSHDEPLOY_HOOK_STAGE is {stage!r}, expected one of {HOOK_STAGES}")
    return HookRunner(stage, ledger(), catalog)  # type: ignore[arg-type]


@cache
def notifier():  # type: ignore[no-untyped-def]
    import os

    from pushdeploy.notify import Notifier

    return Notifier(settings().notification_topic_arn, os.environ.get("PUSHDEPLOY_SLACK_SECRET_ARN") or None)


@cache
def lifecycle():  # type: ignore[no-untyped-def]
    from pushdeploy.lifecycle import Lifecycle

    return Lifecycle(ledger(), starter(), notifier())


@cache
def alarm_responder():  # type: ignore[no-untyped-def]
    from pushdeploy.alarms import AlarmResponder

    return AlarmResponder(ledger(), lifecycle())
