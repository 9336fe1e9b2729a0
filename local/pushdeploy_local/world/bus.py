"""The local event router: the EventBridge rules of template.yaml, delivered to the handlers in-process.

Rules are read from the template (nothing is duplicated here) and matched with moto's EventBridge pattern
matcher. Delivery follows Lambda's asynchronous invocation: an exception is retried up to the function's
``MaximumRetryAttempts``, then the event goes to the dead-letter queue, with its error.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pushdeploy import clock

from pushdeploy_local.paths import ROOT


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation's short-form intrinsics (!Ref, !Sub, ...) as plain mappings."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path | None = None) -> dict[str, Any]:
    with open(path or ROOT / "template.yaml", encoding="utf-8") as handle:
        return dict(yaml.load(handle, Loader=_CfnLoader))  # noqa: S506 - a SafeLoader subclass


@dataclass
class Function:
    logical_id: str
    name: str
    code_uri: str
    handler: str
    timeout: int
    environment: dict[str, str]
    retries: int
    own_variables: tuple[str, ...] = ()  # every variable of its own Environment, resolved or not (!Ref, !GetAtt)


@dataclass
class Rule:
    name: str
    function: Function
    pattern: dict[str, Any]


@dataclass
class Schedule:
    """An EventBridge Scheduler schedule of the template (``ScheduleV2``): its function, rate and input."""

    name: str
    function: Function
    every_minutes: int
    payload: dict[str, Any]


@dataclass
class Delivery:
    detail_type: str
    function: str
    outcome: str
    reason: str
    attempts: int = 1
    response: Any = None


class LambdaContext:
    """Lambda's context object. The function's timeout runs on the domain clock (the virtual one in a rehearsal):
    a hook that bakes for ten virtual minutes has ten minutes less left, as on AWS."""

    def __init__(self, function: Function, region: str, account: str) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function.name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = f"local-{time.monotonic_ns()}"
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = "local"
        self._deadline = clock.now() + timedelta(seconds=function.timeout)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - clock.now()).total_seconds() * 1000))


def _sub(value: Any, stack_name: str) -> str:
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"]
    return str(value).replace("${AWS::StackName}", stack_name)


@dataclass
class EventRouter:
    stack_name: str
    region: str = "us-east-1"
    account: str = "123456789012"
    template: dict[str, Any] = field(default_factory=load_template)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    on_dead_letter: Callable[[dict[str, Any], str], None] | None = None
    # Runs an invocation as the function's own role (IAM enforced); None: as the caller.
    acting_as: Callable[[str], contextlib.AbstractContextManager[Any]] | None = None

    def __post_init__(self) -> None:
        self.functions: dict[str, Function] = {}
        self.rules: list[Rule] = []
        self.schedules: list[Schedule] = []
        self._modules: dict[str, ModuleType] = {}
        self._lock = threading.RLock()
        globals_ = self.template.get("Globals", {}).get("Function", {})
        for logical_id, resource in self.template["Resources"].items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            props = resource["Properties"]
            variables = (props.get("Environment") or {}).get("Variables", {})
            env = {k: v for k, v in variables.items() if isinstance(v, str)}
            function = Function(
                logical_id=logical_id,
                name=_sub(props.get("FunctionName", logical_id), self.stack_name),
                code_uri=props["CodeUri"],
                handler=props["Handler"],
                timeout=int(props.get("Timeout", globals_.get("Timeout", 3))),
                environment=env,
                retries=int((props.get("EventInvokeConfig") or {}).get("MaximumRetryAttempts", 2)),
                own_variables=tuple(variables),
            )
            self.functions[function.name] = function
            for event in (props.get("Events") or {}).values():
                if event.get("Type") == "ScheduleV2":
                    rate = str(event["Properties"]["ScheduleExpression"])
                    minutes = int(rate.removeprefix("rate(").split()[0])
                    self.schedules.append(
                        Schedule(
                            _sub(event["Properties"].get("Name", logical_id), self.stack_name),
                            function,
                            minutes,
                            json.loads(event["Properties"].get("Input", "{}")),
                        )
                    )
                if event.get("Type") == "EventBridgeRule":
                    self.rules.append(
                        Rule(
                            _sub(event["Properties"].get("RuleName", logical_id), self.stack_name),
                            function,
                            event["Properties"]["Pattern"],
                        )
                    )

    def _module(self, function: Function) -> ModuleType:
        key = function.code_uri
        if key not in self._modules:
            path = ROOT / function.code_uri / (function.handler.split(".")[0] + ".py")
            spec = importlib.util.spec_from_file_location(f"local_{Path(function.code_uri).name}", path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._modules[key] = module
        return self._modules[key]

    def invoke(self, function_name: str, payload: Any) -> Any:
        """Invoke a function synchronously (once), with its own environment variables set, as its own role."""
        function = self.functions[function_name]
        module = self._module(function)
        handler = getattr(module, function.handler.split(".", 1)[1])
        identity = self.acting_as(function.name) if self.acting_as else contextlib.nullcontext()
        if not function.environment:  # nothing to set: invocations may run concurrently
            with identity:
                return handler(payload, LambdaContext(function, self.region, self.account))
        with self._lock:  # per-function variables (the hook's stage) are process-wide: one at a time
            saved = {k: os.environ.get(k) for k in function.environment}
            os.environ.update(function.environment)
            try:
                with identity:
                    return handler(payload, LambdaContext(function, self.region, self.account))
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value

    def invoke_async(self, function_name: str, payload: Any, detail_type: str = "") -> Delivery:
        """Lambda's asynchronous invocation: retries, then the dead-letter queue."""
        function = self.functions[function_name]
        error = ""
        for attempt in range(1, function.retries + 2):
            try:
                response = self.invoke(function_name, payload)
            except Exception as exc:  # noqa: BLE001 - Lambda's async retry semantics, then the DLQ
                error = f"{type(exc).__name__}: {exc}"
                continue
            outcome, reason = _summarise(response)
            return Delivery(detail_type, function.logical_id, outcome, reason, attempt, response)
        self.dead_letters.append({"function": function.name, "event": payload, "error": error})
        if self.on_dead_letter:
            self.on_dead_letter(payload, error)
        return Delivery(
            detail_type,
            function.logical_id,
            "failed",
            f"dead-lettered after {function.retries + 1} attempts: {error}",
            function.retries + 1,
        )

    def matching(self, event: dict[str, Any]) -> list[Rule]:
        from moto.events.models import EventPattern

        return [rule for rule in self.rules if EventPattern.load(json.dumps(rule.pattern)).matches_event(event)]

    def deliver(self, event: dict[str, Any]) -> list[Delivery]:
        """Deliver ``event`` to every function whose rule matches (none: EventBridge drops it)."""
        return [
            self.invoke_async(rule.function.name, event, str(event.get("detail-type", "")))
            for rule in self.matching(event)
        ]


def _summarise(response: Any) -> tuple[str, str]:
    if isinstance(response, dict) and isinstance(response.get("results"), list) and response["results"]:
        outcomes = [r.get("outcome", "") for r in response["results"]]
        reasons = [r.get("reason", "") for r in response["results"]]
        return ",".join(dict.fromkeys(outcomes)), " | ".join(reasons)
    if isinstance(response, dict) and "stage" in response:  # a hook verdict
        return "recorded" if response.get("status") else "ignored", str(response.get("reason", ""))
    return "recorded", ""
