"""How Amazon ECS invokes a deployment lifecycle hook's Lambda function, and what it makes of the answer.

- ECS invokes the function as the hook's ``roleArn``: the role must trust ``ecs.amazonaws.com`` and allow
  ``lambda:InvokeFunction`` on the function (ECS Developer Guide, "Permissions required for Lambda functions in
  Amazon ECS blue/green deployments"). A role that does not exist, does not trust ECS or lacks the permission makes
  the invocation fail.
- The function answers ``{"hookStatus": SUCCEEDED | FAILED | IN_PROGRESS, "callBackDelay"?, "hookDetails"?}``;
  "If your function doesn't return a valid hookStatus, or if it fails, Amazon ECS rolls back the deployment"
  (ECS Developer Guide, "Lambda hooks for Amazon ECS service deployments"). The answer is read from the invocation,
  so the invocation is synchronous (RequestResponse): no asynchronous retries.
- A function that does not exist fails the invocation (Lambda's ResourceNotFoundException); one that runs longer
  than its own timeout (at most 15 minutes) fails with "Task timed out".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pushdeploy_local.world.iam import ServiceRole

HOOK_STATUSES = ("SUCCEEDED", "FAILED", "IN_PROGRESS")
LAMBDA_MAX_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class StandIn:
    """A function the world plays itself (a test's stand-in for a function the template does not have yet)."""

    handler: Callable[[dict[str, Any]], Any]
    timeout_seconds: int = LAMBDA_MAX_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Answer:
    status: str | None  # a valid hookStatus, or None: the invocation failed or the answer was not valid
    callback_seconds: float
    details: dict[str, Any] | None
    error: str  # why there is no valid status


class Functions(Protocol):
    def function_timeout(self, name: str) -> int | None: ...  # the template function's timeout; None: no such

    def invoke_function(self, name: str, payload: dict[str, Any]) -> Any: ...


@dataclass
class HookInvoker:
    account: str
    roles: Callable[[], dict[str, ServiceRole]]
    functions: Functions
    stand_ins: dict[str, StandIn]
    now: Callable[[], datetime]

    def invoke(self, hook: dict[str, Any], payload: dict[str, Any]) -> Answer:
        function_arn, role_arn = str(hook.get("hookTargetArn", "")), str(hook.get("roleArn", ""))
        function = function_arn.split(":function:", 1)[-1].split(":", 1)[0]
        refusal = self._refusal(role_arn, function_arn)
        if refusal:
            return Answer(None, 0, None, refusal)
        stand_in = self.stand_ins.get(function)
        timeout = stand_in.timeout_seconds if stand_in else self.functions.function_timeout(function)
        if timeout is None:
            return Answer(None, 0, None, f"ResourceNotFoundException: Function not found: {function_arn}")
        started = self.now()
        try:
            response = stand_in.handler(payload) if stand_in else self.functions.invoke_function(function, payload)
        except Exception as exc:  # noqa: BLE001 - the function failed: Lambda reports Unhandled, ECS rolls back
            return Answer(None, 0, None, f"Unhandled: {type(exc).__name__}: {exc}")
        if (self.now() - started).total_seconds() > min(timeout, LAMBDA_MAX_TIMEOUT_SECONDS):
            return Answer(None, 0, None, f"Task timed out after {timeout} seconds")
        return read_answer(response)

    def _refusal(self, role_arn: str, function_arn: str) -> str:
        role = self.roles().get(role_arn)
        if role is None:
            return f"ECS could not assume {role_arn}: the role does not exist"
        if not role.assumable_by("ecs.amazonaws.com", {"aws:SourceAccount": self.account}):
            return f"ecs.amazonaws.com may not assume {role_arn} (its trust policy)"
        if not role.allows("lambda:InvokeFunction", function_arn):
            return f"{role_arn} is not allowed lambda:InvokeFunction on {function_arn}"
        return ""


def read_answer(response: Any) -> Answer:
    """The hook's verdict from the function's answer; anything but a valid hookStatus is a failure."""
    if not isinstance(response, dict) or response.get("hookStatus") not in HOOK_STATUSES:
        return Answer(None, 0, None, f"the function did not return a valid hookStatus: {response!r}"[:300])
    delay = response.get("callBackDelay")
    details = response.get("hookDetails")
    return Answer(
        str(response["hookStatus"]),
        float(delay) if isinstance(delay, int | float) and delay >= 0 else 30.0,  # IN_PROGRESS: 30 s by default
        dict(details) if isinstance(details, dict) else None,
        "",
    )
