"""Connecting to a deployed pushdeploy: the profile and region to use, and the stack whose outputs name the
ledger table, the targets path and the hook functions. Nothing here writes ``os.environ``."""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any

from pushdeploy import runtime
from pushdeploy.model.targets import Target
from pushdeploy.runtime import Services
from pushdeploy.services.connection import profile_region, settings_for_stack

from pushdeploy_cli.answers import BAD_INPUT, NOT_FOUND, CommandError


def connect(*, stack: str | None, profile: str | None, region: str | None, config_env: str = "default") -> Services:
    """Services for the stack. ``PUSHDEPLOY_*`` variables, when all set, win (the rehearsal and tests use them)."""
    chosen, samconfig_region = stack_and_region(stack, config_env)
    if region is None and samconfig_region and not profile_region(profile):
        region = samconfig_region  # --region, then the profile's (or the environment's) own, then samconfig's
    return runtime.configure(settings_for_stack(chosen, profile=profile, region=region))


def stack_and_region(
    stack: str | None, config_env: str = "default", where: Path | None = None
) -> tuple[str, str | None]:
    """The stack the way people expect it found: ``--stack``, then ``$PUSHDEPLOY_STACK``, then samconfig.toml's
    ``stack_name`` for ``config_env`` (the file ``sam deploy`` used, in this directory), then ``pushdeploy``; and
    samconfig's region for that environment, if it names one (``--region`` and the profile's region win). An
    environment samconfig.toml does not have is an error, not a silent fallback."""
    samconfig = _samconfig(where or Path.cwd() / "samconfig.toml")
    if config_env != "default" and config_env not in samconfig:
        known = [k for k in samconfig if k != "version"]
        close = difflib.get_close_matches(config_env, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        where_text = f"samconfig.toml has: {', '.join(known)}" if known else "no samconfig.toml in this directory"
        raise CommandError(f"no --config-env {config_env!r}{hint}: {where_text}", BAD_INPUT)
    config = samconfig.get(config_env, {})
    parameters = {**config.get("global", {}).get("parameters", {}), **config.get("deploy", {}).get("parameters", {})}
    region = parameters.get("region")
    name = stack or os.environ.get("PUSHDEPLOY_STACK") or parameters.get("stack_name") or "pushdeploy"
    return str(name), str(region) if region else None


def _samconfig(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


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
