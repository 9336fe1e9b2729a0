"""The composition root: one typed :class:`Services` object wires settings, ledger and every use case.

Built lazily (importing a handler does no I/O and imports no pydantic), each service on first use, and kept for
the life of the container. The CLI and tests :func:`configure` it with their own settings.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pushdeploy.aws.scheduler import Continuations
    from pushdeploy.ledger import Ledger
    from pushdeploy.model.targets import TargetCatalog
    from pushdeploy.services.alarms import AlarmResponder
    from pushdeploy.services.deployer import Deployer
    from pushdeploy.services.ecs_hooks import EcsHookRunner
    from pushdeploy.services.hooks import HookRunner
    from pushdeploy.services.inspection import Inspection
    from pushdeploy.services.lifecycle import Lifecycle
    from pushdeploy.services.notify import Notifier
    from pushdeploy.services.retention import Retention
    from pushdeploy.services.reverts import Reverts
    from pushdeploy.services.starter import Starter
    from pushdeploy.services.target_admin import TargetAdmin
    from pushdeploy.settings import Settings

# Modules are imported on first use, not at import: a cold start pays only for what it runs.


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def catalog(self) -> TargetCatalog:
        """Every target under the stack's SSM path (cached by Powertools for ``targets_cache_seconds``)."""
        from pushdeploy.aws.ssm import load_catalog

        return load_catalog(self.settings.targets_path, max_age=self.settings.targets_cache_seconds)

    @cached_property
    def ledger(self) -> Ledger:
        from pushdeploy.ledger import Ledger

        return Ledger(self.settings.table_name)

    @cached_property
    def starter(self) -> Starter:
        from pushdeploy.services.starter import Starter

        return Starter(self.ledger, self.settings.hook_function_prefix, self.notifier)

    @cached_property
    def deployer(self) -> Deployer:
        from pushdeploy.services.deployer import Deployer

        return Deployer(self.ledger, self.starter)

    @cached_property
    def notifier(self) -> Notifier:
        from pushdeploy.services.notify import Notifier

        return Notifier(self.settings.notification_topic_arn, self.settings.slack_secret_arn)

    @cached_property
    def retention(self) -> Retention:
        from pushdeploy.services.retention import Retention

        return Retention(self.ledger)

    @cached_property
    def lifecycle(self) -> Lifecycle:
        from pushdeploy.services.lifecycle import Lifecycle
        from pushdeploy.services.rolling import RollingChecks

        rolling = RollingChecks(self.ledger, self.reverts.revert, continuations)
        return Lifecycle(self.ledger, self.starter, self.notifier, self.retention, rolling, self.reverts.revert)

    @cached_property
    def inspection(self) -> Inspection:
        from pushdeploy.services.inspection import Inspection

        return Inspection(self.ledger)

    @cached_property
    def reverts(self) -> Reverts:
        from pushdeploy.services.reverts import Reverts

        return Reverts(self.ledger, self.starter, self.inspection, self.notifier)

    @cached_property
    def alarms(self) -> AlarmResponder:
        from pushdeploy.services.alarms import AlarmResponder

        return AlarmResponder(self.ledger, self.lifecycle, self.reverts)

    @cached_property
    def target_admin(self) -> TargetAdmin:
        from pushdeploy.services.target_admin import TargetAdmin

        return TargetAdmin(self.settings.targets_path, self.catalog)

    def ecs_hook_runner(self) -> EcsHookRunner:
        """ECS's lifecycle hook (services under ECS's own controller): one function for every stage."""
        from pushdeploy.services.ecs_hooks import EcsHookRunner

        return EcsHookRunner(self.ledger, self.catalog)

    def hook_runner(self) -> HookRunner:
        """The hook of this function's stage (``PUSHDEPLOY_HOOK_STAGE``, set per function by the template)."""
        from pushdeploy.services.hooks import HookRunner
        from pushdeploy.settings import hook_stage

        return HookRunner(hook_stage(), self.ledger, self.catalog, continuations())


def continuations() -> Continuations | None:
    """Where this function schedules its later invocations (read per invocation: each function has its own
    environment, and the world runs them in one process); None when it has no schedule group."""
    from pushdeploy.aws.scheduler import Continuations
    from pushdeploy.settings import continuation_settings

    where = continuation_settings()
    return Continuations(*where) if where else None


_services: Services | None = None


def services() -> Services:
    """The process-wide services (settings read from the environment on first use)."""
    global _services
    if _services is None:
        from pushdeploy.settings import Settings

        _services = Services(Settings.from_env())
    return _services


def configure(settings: Settings) -> Services:
    """Use ``settings`` from now on (the CLI; tests): new services; clients and caches are kept."""
    global _services
    _services = Services(settings)
    return _services


def reset() -> None:
    """Forget every cached service, client and cache (tests; the local world between environments)."""
    global _services
    from pushdeploy import aws
    from pushdeploy.aws import codedeploy, ecs, ssm

    _services = None
    aws.reset_clients()
    codedeploy.clear_cache()
    ecs.clear_setups()
    ssm.clear_cache()
