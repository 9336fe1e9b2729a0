"""Shared fixtures. Environment first: modules that build clients read it on first use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import ACCOUNT, REGION, LambdaContext, stack_names

os.environ.update(
    {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "pushdeploy",
        "POWERTOOLS_DEV": "false",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
)
for variable in [v for v in os.environ if v.startswith("AWS_ENDPOINT_URL")]:
    del os.environ[variable]


@pytest.fixture(autouse=True)
def domain_log_level() -> Iterator[None]:
    """The CLI quiets the domain's logger for its own output (process-wide): the next test starts where it was."""
    from pushdeploy.observability import logger

    level = logger.log_level
    yield
    logger.setLevel(level)


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def pushdeploy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from pushdeploy import runtime

    monkeypatch.setenv("PUSHDEPLOY_TABLE", "pushdeploy-ledger")
    monkeypatch.setenv("PUSHDEPLOY_TARGETS_PATH", "/pushdeploy/test/targets/")
    monkeypatch.setenv("PUSHDEPLOY_HOOK_PREFIX", "CodeDeployHook_pushdeploy-test")
    monkeypatch.setenv("PUSHDEPLOY_TARGETS_CACHE_SECONDS", "0")
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture
def codedeploy(pushdeploy_env: None) -> Any:
    """The local CodeDeploy emulator, installed as the process's codedeploy client."""
    from pushdeploy import aws
    from pushdeploy_local.emulator.codedeploy.backend import CodeDeployEmulator

    emulator = CodeDeployEmulator(region=REGION, seed=7)
    aws.use_client("codedeploy", emulator)
    return emulator


@pytest.fixture
def mocked_aws(pushdeploy_env: None) -> Iterator[None]:
    from moto import mock_aws
    from pushdeploy_local.emulator.ecr import registry_as_ecr

    registry_as_ecr()
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def principals() -> dict[str, Any]:
    """Each function's role as template.yaml renders for the test stack (pushdeploy-test, stage test)."""
    from pushdeploy_local.world.iam import render_principals

    return render_principals(stack_names())


@pytest.fixture
def iam(principals: dict[str, Any], codedeploy: Any) -> Iterator[Any]:
    """IAM enforced on every call a handler makes (botocore clients and the CodeDeploy emulator alike)."""
    from pushdeploy import aws
    from pushdeploy_local.world import iam as world_iam

    def group_of(deployment_id: str) -> tuple[str, str] | None:
        found = codedeploy.deployments.get(deployment_id)
        return (found["applicationName"], found["deploymentGroupName"]) if found else None

    enforcer = world_iam.Enforcer(dict(principals), ACCOUNT, group_of)  # a test may change its copy
    aws.use_client("codedeploy", enforcer.guard("codedeploy", codedeploy, REGION))
    world_iam.install(enforcer)
    yield enforcer
    world_iam.uninstall(enforcer)


@pytest.fixture
def world(mocked_aws: None, codedeploy: Any, iam: Any) -> Any:
    """The sample environment in moto + the emulator, with a target for AWS's sample repository; IAM enforced."""
    from pushdeploy_local.world.environment import EnvironmentSpec, build

    spec = EnvironmentSpec(
        region=REGION, stage="test", repository="my-repository-name", tag_pattern=r"^(latest|main|v\d+\.\d+\.\d+)$"
    )
    return build(spec, codedeploy=codedeploy)
