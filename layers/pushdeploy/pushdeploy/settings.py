"""Every ``PUSHDEPLOY_*`` setting in one validated object: a missing variable is named, never defaulted.

The functions read them from their environment (:meth:`Settings.from_env`, the only reader of ``os.environ``
for these); the CLI builds them from the deployed stack's outputs instead (:meth:`Settings.from_stack_outputs`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pushdeploy.errors import ConfigurationError

HookStageName = Literal[
    "BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"
]

# field -> environment variable (template.yaml sets these on the functions)
VARIABLES = {
    "table_name": "PUSHDEPLOY_TABLE",
    "targets_path": "PUSHDEPLOY_TARGETS_PATH",
    "hook_function_prefix": "PUSHDEPLOY_HOOK_PREFIX",
    "notification_topic_arn": "PUSHDEPLOY_TOPIC_ARN",
    "slack_secret_arn": "PUSHDEPLOY_SLACK_SECRET_ARN",
    "targets_cache_seconds": "PUSHDEPLOY_TARGETS_CACHE_SECONDS",
}
CLI_LOG_LEVEL_VARIABLE = "PUSHDEPLOY_CLI_LOG_LEVEL"  # the CLI's domain log level on stderr (default ERROR)
HOOK_STAGE_VARIABLE = "PUSHDEPLOY_HOOK_STAGE"  # per hook function; read per invocation (see hook_stage())
# per hook function whose checks may outlast an invocation; read per invocation (see continuation_settings())
CONTINUATION_VARIABLES = (
    "PUSHDEPLOY_CONTINUATION_GROUP",
    "PUSHDEPLOY_CONTINUATION_ROLE_ARN",
    "PUSHDEPLOY_DEAD_LETTER_QUEUE_ARN",
)
# stack output -> field (the CLI's way in)
STACK_OUTPUTS = {
    "LedgerTableName": "table_name",
    "TargetsPath": "targets_path",
    "HookFunctionPrefix": "hook_function_prefix",
    "NotificationTopicArn": "notification_topic_arn",
}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    table_name: str = Field(min_length=1)
    targets_path: str = Field(min_length=1)
    hook_function_prefix: str = Field(min_length=1)
    notification_topic_arn: str | None = None
    slack_secret_arn: str | None = None
    targets_cache_seconds: int = Field(default=60, ge=0)

    @field_validator("targets_path")
    @classmethod
    def _ends_with_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @classmethod
    def _validated(cls, values: Mapping[str, str | None], name_of: Mapping[str, str]) -> Settings:
        present = {k: v for k, v in values.items() if v not in (None, "")}
        try:
            return cls.model_validate(present)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else "?"
                what = name_of.get(field, field)
                problems.append(f"{what} is not set" if error["type"] == "missing" else f"{what}: {error['msg']}")
            raise ConfigurationError("; ".join(problems)) from exc

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values = {field: (environ.get(variable) or "").strip() or None for field, variable in VARIABLES.items()}
        return cls._validated(values, {f: f"environment variable {v}" for f, v in VARIABLES.items()})

    @classmethod
    def from_stack_outputs(cls, outputs: Mapping[str, str], stack: str) -> Settings:
        values = {field: outputs.get(output) for output, field in STACK_OUTPUTS.items()}
        return cls._validated(values, {f: f"stack {stack} output {o}" for o, f in STACK_OUTPUTS.items()})


def hook_stage(environ: Mapping[str, str] | None = None) -> HookStageName:
    """The lifecycle stage this hook function validates (``PUSHDEPLOY_HOOK_STAGE``, set per function).

    Read per invocation, not cached with the rest: the local world runs the five hook functions in one process.
    """
    from typing import get_args

    value = (os.environ if environ is None else environ).get(HOOK_STAGE_VARIABLE, "")
    stages: tuple[HookStageName, ...] = get_args(HookStageName)
    for stage in stages:
        if stage == value:
            return stage
    raise ConfigurationError(f"environment variable {HOOK_STAGE_VARIABLE} is {value!r}, expected one of {stages}")


def continuation_settings(environ: Mapping[str, str] | None = None) -> tuple[str, str, str | None] | None:
    """(schedule group, role Scheduler invokes with, dead-letter queue ARN) for a check that carries on in a new
    invocation; None when this function has no schedule group (its checks never outlast an invocation)."""
    values = [((os.environ if environ is None else environ).get(v) or "").strip() for v in CONTINUATION_VARIABLES]
    group, role, dead_letters = values
    return (group, role, dead_letters or None) if group and role else None


def cli_log_level(environ: Mapping[str, str] | None = None) -> str:
    """The level of the domain's logs the CLI shows on stderr (``PUSHDEPLOY_CLI_LOG_LEVEL``, default ERROR: the
    command's answer already says what happened; WARNING or INFO show the structured logs behind it)."""
    value = (os.environ if environ is None else environ).get(CLI_LOG_LEVEL_VARIABLE, "ERROR").strip().upper()
    return value if value in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else "ERROR"
