"""pushdeploy.settings: the PUSHDEPLOY_* variables (or the stack's outputs), validated; the missing ones named."""

from __future__ import annotations

from typing import get_args

import pytest
from pushdeploy.errors import ConfigurationError
from pushdeploy.settings import HookStageName, Settings, hook_stage

ENVIRON = {
    "PUSHDEPLOY_TABLE": "pushdeploy-ledger",
    "PUSHDEPLOY_TARGETS_PATH": "/pushdeploy/prod/targets/",
    "PUSHDEPLOY_HOOK_PREFIX": "CodeDeployHook_pushdeploy-prod",
    "HOME": "/root",  # unrelated variables are not settings
}
OUTPUTS = {
    "LedgerTableName": "pushdeploy-ledger",
    "TargetsPath": "/pushdeploy/prod/targets",
    "HookFunctionPrefix": "CodeDeployHook_pushdeploy-prod",
    "NotificationTopicArn": "arn:aws:sns:us-west-2:123456789012:pushdeploy",
    "SomethingElse": "ignored",
}


def env(**changes: str | None) -> dict[str, str]:
    environ = {**ENVIRON, **changes}
    return {k: v for k, v in environ.items() if v is not None}


def test_settings_from_a_complete_environment() -> None:
    settings = Settings.from_env(
        env(
            PUSHDEPLOY_TOPIC_ARN="arn:aws:sns:us-west-2:123456789012:pushdeploy",
            PUSHDEPLOY_SLACK_SECRET_ARN="arn:aws:secretsmanager:us-west-2:123456789012:secret:slack",
            PUSHDEPLOY_TARGETS_CACHE_SECONDS="30",
        )
    )

    assert settings.table_name == "pushdeploy-ledger"
    assert settings.targets_path == "/pushdeploy/prod/targets/"
    assert settings.hook_function_prefix == "CodeDeployHook_pushdeploy-prod"
    assert settings.notification_topic_arn == "arn:aws:sns:us-west-2:123456789012:pushdeploy"
    assert settings.slack_secret_arn == "arn:aws:secretsmanager:us-west-2:123456789012:secret:slack"
    assert settings.targets_cache_seconds == 30


def test_optional_settings_default() -> None:
    settings = Settings.from_env(env())

    assert settings.notification_topic_arn is None
    assert settings.slack_secret_arn is None
    assert settings.targets_cache_seconds == 60


@pytest.mark.parametrize(("given", "expected"), [("/p/targets", "/p/targets/"), ("/p/targets/", "/p/targets/")])
def test_the_targets_path_ends_with_a_slash(given: str, expected: str) -> None:
    assert Settings.from_env(env(PUSHDEPLOY_TARGETS_PATH=given)).targets_path == expected


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_a_missing_variable_is_named(blank: str | None) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(env(PUSHDEPLOY_TABLE=blank))

    assert str(raised.value) == "environment variable PUSHDEPLOY_TABLE is not set"


def test_every_missing_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({})

    message = str(raised.value)
    for variable in ("PUSHDEPLOY_TABLE", "PUSHDEPLOY_TARGETS_PATH", "PUSHDEPLOY_HOOK_PREFIX"):
        assert f"environment variable {variable} is not set" in message
    assert "PUSHDEPLOY_TOPIC_ARN" not in message  # optional


@pytest.mark.parametrize("value", ["soon", "1.5", "-1"])
def test_a_bad_cache_seconds_is_named(value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^environment variable PUSHDEPLOY_TARGETS_CACHE_SECONDS: "):
        Settings.from_env(env(PUSHDEPLOY_TARGETS_CACHE_SECONDS=value))


def test_values_are_stripped() -> None:
    settings = Settings.from_env(env(PUSHDEPLOY_TABLE="  ledger \n", PUSHDEPLOY_TARGETS_CACHE_SECONDS=" 0 "))

    assert settings.table_name == "ledger"
    assert settings.targets_cache_seconds == 0


def test_settings_from_stack_outputs() -> None:
    settings = Settings.from_stack_outputs(OUTPUTS, "pushdeploy-prod")

    assert settings.table_name == "pushdeploy-ledger"
    assert settings.targets_path == "/pushdeploy/prod/targets/"
    assert settings.notification_topic_arn == "arn:aws:sns:us-west-2:123456789012:pushdeploy"
    assert settings.targets_cache_seconds == 60


def test_a_missing_stack_output_is_named_with_the_stack() -> None:
    outputs = {k: v for k, v in OUTPUTS.items() if k != "HookFunctionPrefix"}

    with pytest.raises(ConfigurationError) as raised:
        Settings.from_stack_outputs(outputs, "pushdeploy-prod")

    assert str(raised.value) == "stack pushdeploy-prod output HookFunctionPrefix is not set"


@pytest.mark.parametrize("stage", get_args(HookStageName))
def test_hook_stage(stage: str) -> None:
    assert hook_stage({"PUSHDEPLOY_HOOK_STAGE": stage}) == stage


@pytest.mark.parametrize("value", [None, "", "beforeinstall", "ApplicationStop", " BeforeInstall"])
def test_an_invalid_hook_stage_is_named(value: str | None) -> None:
    environ = {} if value is None else {"PUSHDEPLOY_HOOK_STAGE": value}

    with pytest.raises(ConfigurationError) as raised:
        hook_stage(environ)

    assert str(raised.value).startswith(f"environment variable PUSHDEPLOY_HOOK_STAGE is {value or ''!r}")
    assert "AfterAllowTestTraffic" in str(raised.value)
