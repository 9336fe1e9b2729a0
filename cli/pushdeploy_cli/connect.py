"""Connecting to a deployed pushdeploy: the profile and region to use, and the stack whose outputs name the
ledger table, the targets path and the hook functions. Nothing here writes ``os.environ``."""

from __future__ import annotations

from pushdeploy import runtime
from pushdeploy.model.targets import Target
from pushdeploy.runtime import Services
from pushdeploy.services.connection import settings_for_stack

from pushdeploy_cli.answers import BAD_INPUT, NOT_FOUND, CommandError


def connect(*, stack: str, profile: str | None, region: str | None) -> Services:
    """Services for the stack. ``PUSHDEPLOY_*`` variables, when all set, win (the rehearsal and tests use them)."""
    return runtime.configure(settings_for_stack(stack, profile=profile, region=region))


def target_named(services: Services, name: str) -> Target:
    catalog = services.catalog()
    target = catalog.by_name(name)
    if target is None:
        broken = catalog.error_for(name)
        if broken:
            raise CommandError(f"target {name!r} is invalid: {broken}", BAD_INPUT)
        known = ", ".join(t.name for t in catalog.targets) or "none"
        raise CommandError(f"unknown target {name!r} (targets: {known})", NOT_FOUND)
    return target
