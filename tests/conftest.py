"""Shared fixtures. Environment first: modules that build clients read it on first use."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
REGION = "us-west-2"  # the region of AWS's ECR push sample

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


def load_event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def push_event(
    *,
    repository: str | None = None,
    tag: str | None = "latest",
    digest: str | None = None,
    event_id: str | None = None,
    time: str | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """AWS's real ECR push sample, with the fields a test varies replaced."""
    event = copy.deepcopy(load_event("ecr-image-action-push.json"))
    if repository is not None:
        event["detail"]["repository-name"] = repository
    if digest is not None:
        event["detail"]["image-digest"] = digest
    if tag is None:
        event["detail"].pop("image-tag")
    else:
        event["detail"]["image-tag"] = tag
    if event_id is not None:
        event["id"] = event_id
    if time is not None:
        event["time"] = time
    event["detail"].update(detail)
    return event


_handlers: dict[str, ModuleType] = {}


def load_handler(function: str) -> ModuleType:
    """functions/<function>/app.py as a module of its own (each function's module is named app.py)."""
    if function not in _handlers:
        path = ROOT / "functions" / function / "app.py"
        spec = importlib.util.spec_from_file_location(f"handler_{function}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _handlers[function] = module
    return _handlers[function]


class LambdaContext:
    """The attributes Powertools reads from a Lambda context, with a real remaining-time budget."""

    def __init__(self, function_name: str = "pushdeploy-test", timeout_ms: int = 60_000) -> None:
        import time as _time

        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = "test-request"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "test"
        self._deadline = _time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        import time as _time

        return max(0, int((self._deadline - _time.monotonic()) * 1000))


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
    from pushdeploy_local.codedeploy_emulator import CodeDeployEmulator

    emulator = CodeDeployEmulator(region=REGION, seed=7)
    aws.use_client("codedeploy", emulator)
    return emulator


@pytest.fixture
def mocked_aws(pushdeploy_env: None) -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def world(mocked_aws: None, codedeploy: Any) -> Any:
    """The sample environment in moto + the emulator, with a target for AWS's sample repository."""
    from pushdeploy_local.environment import EnvironmentSpec, build

    spec = EnvironmentSpec(
        region=REGION, stage="test", repository="my-repository-name", tag_pattern=r"^(latest|main|v\d+\.\d+\.\d+)$"
    )
    return build(spec, codedeploy=codedeploy)
