"""Shared test helpers: AWS's real sample events, the handlers as modules, a Lambda context, the ledger."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pushdeploy.ledger import Ledger

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
REGION = "us-west-2"  # the region of AWS's ECR push sample
ACCOUNT = "123456789012"  # moto's, and the ECR push sample's


def stack_names(**parameters: Any) -> Any:
    """The test stack (pushdeploy-test, stage test) as the tests' world names its resources."""
    from pushdeploy_local.world.iam import StackNames

    return StackNames(
        stack="pushdeploy-test",
        account=ACCOUNT,
        region=REGION,
        parameters={"Stage": "test", **parameters},
        physical={
            "LedgerTable": {
                "Ref": "pushdeploy-ledger",
                "Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/pushdeploy-ledger",
            },
            "NotificationTopic": {"Ref": f"arn:aws:sns:{REGION}:{ACCOUNT}:pushdeploy-releases"},
        },
    )


def ledger() -> Ledger:
    """The ledger the handlers use (the process-wide services')."""
    from pushdeploy import runtime

    return runtime.services().ledger


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
    """AWS's real ECR push sample, with the fields a test varies replaced.

    Every push has its own event id (as in ECR): one derived from what the test varies, unless ``event_id`` is given,
    so the same arguments twice are a redelivery of one event.
    """
    event = copy.deepcopy(load_event("ecr-image-action-push.json"))
    if event_id is None and (repository, tag, digest, time, detail) != (None, "latest", None, None, {}):
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, repr((repository, tag, digest, time, sorted(detail.items())))))
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


class Handler:
    """A handler module whose ``lambda_handler`` runs under its own function's role when the world enforces IAM
    (as Lambda runs it), and as the test otherwise."""

    def __init__(self, module: ModuleType, code_uri: str) -> None:
        self.module, self.code_uri = module, code_uri

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)

    def lambda_handler(self, event: Any, context: Any) -> Any:
        from pushdeploy_local.world import iam

        enforcer = iam.current()
        if enforcer is None:
            return self.module.lambda_handler(event, context)
        with enforcer.acting_as(enforcer.function_for(self.code_uri, os.environ)):
            return self.module.lambda_handler(event, context)


def load_handler(function: str) -> Handler:
    """functions/<function>/app.py as a module of its own (each function's module is named app.py)."""
    if function not in _handlers:
        path = ROOT / "functions" / function / "app.py"
        spec = importlib.util.spec_from_file_location(f"handler_{function}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _handlers[function] = module
    return Handler(_handlers[function], f"functions/{function}/")


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


START = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to; sleeping moves it and is recorded."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        self.slept: list[float] = []

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
