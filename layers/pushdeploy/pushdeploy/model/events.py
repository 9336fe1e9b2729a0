"""The events pushdeploy reacts to, parsed into typed values, or :class:`Ignored` with the reason.

Parsers never raise: anything that is not an event to act on is explained. ``Ignored.malformed`` marks an
event that claims to be one of ours (right source and detail-type) but cannot be read: those are kept in the
ledger, never dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pushdeploy import clock
from pushdeploy.model.images import ACCOUNT_RE, DIGEST_RE, REGION_RE, REPOSITORY_RE, ImagePush, ImageRef


@dataclass(frozen=True)
class Ignored:
    """An event not acted on, and why. ``malformed`` ones are recorded as unprocessable."""

    reason: str
    malformed: bool = False


def _envelope(event: Any, source: str, detail_type: str, what: str) -> dict[str, Any] | Ignored:
    """The event's detail when the envelope is ``source``/``detail_type``; otherwise why not."""
    if not isinstance(event, dict):
        return Ignored(f"event is a {type(event).__name__}, not an object", malformed=True)
    if event.get("source") != source or event.get("detail-type") != detail_type:
        return Ignored(
            f"not {what} (source={event.get('source')!r}, detail-type={event.get('detail-type')!r}): it is not acted on"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return Ignored("detail is missing or not an object", malformed=True)
    return detail


# -- ECR pushes ----------------------------------------------------------------------------------------------------
def parse_push_event(event: Any) -> ImagePush | Ignored:
    """An EventBridge "ECR Image Action" event (PUSH, SUCCESS)."""
    detail = _envelope(event, "aws.ecr", "ECR Image Action", "an ECR Image Action event")
    if isinstance(detail, Ignored):
        return detail
    action, result = detail.get("action-type"), detail.get("result")
    if action != "PUSH":
        return Ignored(f"action-type is {action!r}, only PUSH deploys")
    if result != "SUCCESS":
        return Ignored(f"result is {result!r}, only SUCCESS deploys")
    problems = []
    repository, digest, tag = detail.get("repository-name"), detail.get("image-digest"), detail.get("image-tag")
    account, region = event.get("account"), event.get("region")
    if not isinstance(repository, str) or not REPOSITORY_RE.match(repository):
        problems.append(f"repository-name {repository!r} is not a repository name")
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        problems.append(f"image-digest {digest!r} is not a digest")
    if tag is not None and not isinstance(tag, str):
        problems.append(f"image-tag {tag!r} is not a string")
    if not isinstance(account, str) or not ACCOUNT_RE.match(account):
        problems.append(f"account {account!r} is not an account id")
    if not isinstance(region, str) or not REGION_RE.match(region):
        problems.append(f"region {region!r} is not a region")
    event_id, time = event.get("id"), event.get("time")
    if not isinstance(event_id, str) or not event_id:
        problems.append("id is missing")
    if not isinstance(time, str) or not time:
        problems.append("time is missing")
    if problems:
        return Ignored("; ".join(problems), malformed=True)
    assert isinstance(repository, str) and isinstance(digest, str) and isinstance(account, str)
    assert isinstance(region, str) and isinstance(event_id, str) and isinstance(time, str)
    media = detail.get("manifest-media-type")
    return ImagePush(
        event_id=event_id,
        pushed_at=time,
        image=ImageRef(account, region, repository, digest),
        tag=tag or None,
        manifest_media_type=media if isinstance(media, str) else None,
    )


# -- CloudWatch alarms ---------------------------------------------------------------------------------------------
AlarmKind = Literal["metric", "metric-math", "anomaly-detection", "composite"]


@dataclass(frozen=True)
class AlarmEvent:
    name: str
    arn: str | None
    state: str
    reason: str
    changed_at: datetime
    kind: AlarmKind
    triggering_alarms: tuple[str, ...] = field(default=())


def alarm_kind(configuration: dict[str, Any]) -> AlarmKind:
    if "alarmRule" in configuration:
        return "composite"
    metrics = configuration.get("metrics")
    queries = metrics if isinstance(metrics, list) else []
    expressions = [str(m.get("expression") or "") for m in queries if isinstance(m, dict)]
    if any("ANOMALY_DETECTION_BAND" in e for e in expressions):
        return "anomaly-detection"
    return "metric-math" if expressions and any(expressions) else "metric"


def parse_alarm_event(event: Any) -> AlarmEvent | Ignored:
    """An EventBridge "CloudWatch Alarm State Change" event (any state: the caller decides what acts)."""
    detail = _envelope(event, "aws.cloudwatch", "CloudWatch Alarm State Change", "a CloudWatch alarm state change")
    if isinstance(detail, Ignored):
        return detail
    if not isinstance(detail.get("state"), dict):
        return Ignored("detail.state is missing", malformed=True)
    name, state = detail.get("alarmName"), detail["state"]
    if not isinstance(name, str) or not name:
        return Ignored("detail.alarmName is missing", malformed=True)
    try:
        changed_at = clock.parse(str(state.get("timestamp") or event.get("time")))
    except (TypeError, ValueError):
        return Ignored(f"alarm {name}: state.timestamp {state.get('timestamp')!r} is not a timestamp", malformed=True)
    triggering: tuple[str, ...] = ()
    try:
        reason_data = json.loads(state.get("reasonData") or "{}")
        triggering = tuple(
            a["arn"].rsplit(":alarm:", 1)[-1]
            for a in reason_data.get("triggeringAlarms", [])
            if isinstance(a, dict) and isinstance(a.get("arn"), str)
        )
    except (ValueError, AttributeError, TypeError):
        pass  # reasonData is informative only
    resources = event.get("resources") or []
    raw_configuration = detail.get("configuration")
    configuration: dict[str, Any] = raw_configuration if isinstance(raw_configuration, dict) else {}
    return AlarmEvent(
        name=name,
        arn=resources[0] if resources and isinstance(resources[0], str) else None,
        state=str(state.get("value")),
        reason=str(state.get("reason", "")),
        changed_at=changed_at,
        kind=alarm_kind(configuration),
        triggering_alarms=triggering,
    )


# -- CodeDeploy deployment state changes and the scheduled sweep ---------------------------------------------------
@dataclass(frozen=True)
class DeploymentEvent:
    deployment_id: str
    state: str
    application: str
    deployment_group: str


def parse_deployment_event(event: Any) -> DeploymentEvent | Ignored:
    """A CodeDeploy "Deployment State-change Notification"."""
    detail = _envelope(
        event,
        "aws.codedeploy",
        "CodeDeploy Deployment State-change Notification",
        "a CodeDeploy deployment state-change",
    )
    if isinstance(detail, Ignored):
        if isinstance(event, dict) and event.get("source") == "aws.codedeploy":
            return Ignored(detail.reason, malformed=True)
        return detail
    values = {k: detail.get(k) for k in ("deploymentId", "state", "application", "deploymentGroup")}
    missing = [k for k, v in values.items() if not isinstance(v, str) or not v]
    if missing:
        return Ignored(f"detail lacks {', '.join(missing)}", malformed=True)
    text = {k: str(v) for k, v in values.items()}
    return DeploymentEvent(text["deploymentId"], text["state"], text["application"], text["deploymentGroup"])


def is_scheduled_sweep(event: Any) -> bool:
    """The EventBridge schedule that asks for a reconciliation sweep of every target."""
    return (
        isinstance(event, dict)
        and event.get("source") == "aws.events"
        and event.get("detail-type") == "Scheduled Event"
    )


# -- lifecycle-hook invocations ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HookContinuation:
    """What a hook invocation that ran out of time hands to the next one (the input of the schedule invoking it)."""

    invocation: int  # 2 for the first continuation
    hook_started_at: datetime  # when the first invocation began: CodeDeploy's hour counts from about then
    state: dict[str, Any]  # the check's own progress (JSON)

    def as_dict(self) -> dict[str, Any]:
        return {"invocation": self.invocation, "hook_started_at": clock.iso(self.hook_started_at), "state": self.state}


CONTINUATION_KEY = "PushdeployContinuation"  # beside CodeDeploy's two keys in a continuation's payload
ROLLING_CHECKS_KEY = "PushdeployRollingChecks"  # a schedule's input: a rolling update's checks are due


@dataclass(frozen=True)
class RollingChecksDue:
    """A rolling update's checks are due (services/rolling.py): which target, which release."""

    target: str
    release_id: str

    def as_payload(self) -> dict[str, Any]:
        return {ROLLING_CHECKS_KEY: {"target": self.target, "release_id": self.release_id}}


def parse_rolling_checks_due(event: Any) -> RollingChecksDue | Ignored | None:
    """None: not this kind of event; Ignored (malformed): it claims to be one and is unusable."""
    if not isinstance(event, dict) or ROLLING_CHECKS_KEY not in event:
        return None
    value = event[ROLLING_CHECKS_KEY]
    target = value.get("target") if isinstance(value, dict) else None
    release_id = value.get("release_id") if isinstance(value, dict) else None
    if not isinstance(target, str) or not target or not isinstance(release_id, str) or not release_id:
        return Ignored(f"{ROLLING_CHECKS_KEY} needs a target and a release_id (strings), not {value!r}", malformed=True)
    return RollingChecksDue(target, release_id)


@dataclass(frozen=True)
class HookInvocation:
    """CodeDeploy's payload to a lifecycle-hook function: what to report on (and, in a continuation, where the
    earlier invocation left off)."""

    deployment_id: str
    execution_id: str
    continuation: HookContinuation | None = None
    continuation_problem: str | None = None  # a continuation that cannot be read: the hook reports Failed

    def continued(self, state: dict[str, Any], started_at: datetime) -> dict[str, Any]:
        """The payload of the next invocation: CodeDeploy's keys and the progress to resume from."""
        previous = self.continuation
        following = HookContinuation(previous.invocation + 1 if previous else 2, started_at, state)
        return {
            "DeploymentId": self.deployment_id,
            "LifecycleEventHookExecutionId": self.execution_id,
            CONTINUATION_KEY: following.as_dict(),
        }


def _continuation(value: Any) -> HookContinuation | str:
    if not isinstance(value, dict):
        return f"{CONTINUATION_KEY} is a {type(value).__name__}, not an object"
    invocation, started, state = value.get("invocation"), value.get("hook_started_at"), value.get("state")
    if not isinstance(invocation, int) or isinstance(invocation, bool) or invocation < 2:
        return f"{CONTINUATION_KEY}.invocation must be a whole number of at least 2, not {invocation!r}"
    if not isinstance(state, dict):
        return f"{CONTINUATION_KEY}.state must be an object"
    try:
        moment = clock.parse(str(started)) if isinstance(started, str) else None
    except ValueError:
        moment = None
    if moment is None:
        return f"{CONTINUATION_KEY}.hook_started_at must be an ISO 8601 time, not {started!r}"
    return HookContinuation(invocation, moment, state)


def parse_hook_invocation(event: Any) -> HookInvocation | Ignored:
    if not isinstance(event, dict):
        return Ignored(f"event is a {type(event).__name__}, not an object", malformed=True)
    deployment_id, execution_id = event.get("DeploymentId"), event.get("LifecycleEventHookExecutionId")
    if not isinstance(deployment_id, str) or not deployment_id or not isinstance(execution_id, str) or not execution_id:
        return Ignored(
            "event lacks DeploymentId or LifecycleEventHookExecutionId: nothing can be reported", malformed=True
        )
    if CONTINUATION_KEY not in event:
        return HookInvocation(deployment_id, execution_id)
    continuation = _continuation(event[CONTINUATION_KEY])
    if isinstance(continuation, str):
        return HookInvocation(deployment_id, execution_id, continuation_problem=continuation)
    return HookInvocation(deployment_id, execution_id, continuation)
