"""Reaching a deployed pushdeploy from outside its functions (the CLI): profile, region, the stack's outputs."""

from __future__ import annotations

from pushdeploy import aws
from pushdeploy.aws.account import stack_outputs
from pushdeploy.aws.failures import Kind, explain
from pushdeploy.errors import ConfigurationError
from pushdeploy.settings import Settings


def settings_for_stack(stack: str, *, profile: str | None, region: str | None) -> Settings:
    """Use ``profile``/``region`` for every client; the settings come from the stack's outputs.

    When every ``PUSHDEPLOY_*`` variable is set they win instead (the rehearsal and tests point the CLI that way).
    """
    aws.configure(profile=profile, region=region)
    try:
        return Settings.from_env()
    except ConfigurationError:
        return Settings.from_stack_outputs(stack_outputs(stack), stack)


def explain_failure(exc: BaseException, *, profile: str | None, region: str | None) -> tuple[str, Kind]:
    """What went wrong reaching AWS, as one line for the operator, and its kind (bad input, not found, failed)."""
    return explain(exc, profile=profile, region=region)


def region_in_use() -> str | None:
    """The region the clients talk to (for messages such as "stack x not found in eu-west-1")."""
    try:
        return str(aws.client("cloudformation").meta.region_name)
    except Exception:  # noqa: BLE001 - only for a message
        return None


def profile_region(profile: str | None) -> str | None:
    """The region the profile (or the environment) names, if any."""
    return aws.profile_region(profile)
