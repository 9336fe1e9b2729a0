"""Process-wide wiring for the Lambda handlers: settings, ledger, targets, the domain services.

Built lazily on first use (so importing a handler does no I/O) and kept for the life of the container.
"""

from __future__ import annotations

from functools import cache

from pushdeploy.ledger import Ledger
from pushdeploy.settings import settings
from pushdeploy.targets import TargetCatalog, load_catalog


@cache
def ledger() -> Ledger:
    return Ledger(settings().table_name)


def catalog() -> TargetCatalog:
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

    for cached in (ledger, starter, deployer):
        cached.cache_clear()
    reset_settings()
    aws.reset_clients()
    deployments.clear_cache()
    targets.clear_cache()
