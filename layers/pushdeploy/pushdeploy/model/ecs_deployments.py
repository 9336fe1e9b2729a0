"""Services under ECS's own deployment controller: how a service deploys, its service deployments, and the
lifecycle-hook invocations ECS makes (``../shared/contracts.md`` section 8).

Pure: parsed from DescribeServices, DescribeServiceDeployments and the hook payload; parsers never raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pushdeploy import clock

ControllerKind = Literal["CODE_DEPLOY", "BLUE_GREEN", "LINEAR", "CANARY", "ROLLING", "EXTERNAL"]
NATIVE_TRAFFIC_SHIFTING: frozenset[ControllerKind] = frozenset({"BLUE_GREEN", "LINEAR", "CANARY"})

# ServiceDeployment.status (BOTO ServiceDeploymentStatus)
ACTIVE_SERVICE_DEPLOYMENT = frozenset(
    {"PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"}
)
ROLLED_BACK = frozenset({"ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"})

# Hookable stages (BOTO DeploymentLifecycleHookStage), in order
HOOK_STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
)
RECURRING_STAGES = frozenset({"TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"})  # re-invoked during a rollback
HookStatus = Literal["SUCCEEDED", "FAILED", "IN_PROGRESS"]


def _last(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class LoadBalancing:
    """One load balancer of a service, with ECS blue/green's advanced configuration (listener *rules*)."""

    target_group_arn: str
    alternate_target_group_arn: str | None = None
    production_listener_rule: str | None = None
    test_listener_rule: str | None = None


@dataclass(frozen=True)
class LifecycleHook:
    """One of a service's lifecycle hooks (``deploymentConfiguration.lifecycleHooks[]``): ECS waits
    ``timeout_minutes`` for it (default 1440; the API reference's DeploymentLifecycleHookTimeoutConfiguration allows
    1-20160, the lifecycle-hooks guide 1-1440 for Lambda hooks), then takes ``timeout_action`` (ROLLBACK by default,
    or CONTINUE: on to the next stage, unchecked)."""

    target_arn: str
    stages: tuple[str, ...]
    timeout_minutes: int = 1440
    timeout_action: str = "ROLLBACK"
    target_type: str = "AWS_LAMBDA"

    @classmethod
    def from_api(cls, hook: dict[str, Any]) -> LifecycleHook:
        timeout = hook.get("timeoutConfiguration") or {}
        return cls(
            target_arn=str(hook.get("hookTargetArn") or ""),
            stages=tuple(str(s) for s in hook.get("lifecycleStages") or ()),
            timeout_minutes=int(timeout.get("timeoutInMinutes") or 1440),
            timeout_action=str(timeout.get("action") or "ROLLBACK"),
            target_type=str(hook.get("targetType") or "AWS_LAMBDA"),
        )


@dataclass(frozen=True)
class ServiceSetup:
    """How a service deploys: its controller and (for ECS's own) its deployment configuration."""

    cluster: str
    service: str
    service_arn: str
    kind: ControllerKind
    task_definition_arn: str
    desired_count: int
    alarms: tuple[str, ...] = ()
    alarms_enabled: bool = False
    alarm_rollback: bool = False
    circuit_breaker: bool = False
    circuit_breaker_rollback: bool = False
    bake_minutes: int | None = None
    hooks: tuple[LifecycleHook, ...] = ()
    load_balancing: tuple[LoadBalancing, ...] = ()

    @property
    def hook_functions(self) -> tuple[str, ...]:
        """The Lambda ARNs of its lifecycle hooks."""
        return tuple(h.target_arn for h in self.hooks if h.target_type == "AWS_LAMBDA")

    @classmethod
    def from_api(cls, service: dict[str, Any]) -> ServiceSetup:
        controller = str((service.get("deploymentController") or {}).get("type") or "ECS")
        config = service.get("deploymentConfiguration") or {}
        kind: Any = (
            controller if controller in ("CODE_DEPLOY", "EXTERNAL") else str(config.get("strategy") or "ROLLING")
        )
        alarms = config.get("alarms") or {}
        breaker = config.get("deploymentCircuitBreaker") or {}
        balancing = []
        for lb in service.get("loadBalancers") or []:
            advanced = lb.get("advancedConfiguration") or {}
            balancing.append(
                LoadBalancing(
                    str(lb.get("targetGroupArn") or ""),
                    advanced.get("alternateTargetGroupArn"),
                    advanced.get("productionListenerRule"),
                    advanced.get("testListenerRule"),
                )
            )
        return cls(
            cluster=_last(str(service.get("clusterArn") or "")),
            service=str(service.get("serviceName") or _last(str(service.get("serviceArn") or ""))),
            service_arn=str(service.get("serviceArn") or ""),
            kind=kind,
            task_definition_arn=str(service.get("taskDefinition") or ""),
            desired_count=int(service.get("desiredCount") or 0),
            alarms=tuple(alarms.get("alarmNames") or ()),
            alarms_enabled=bool(alarms.get("enable")),
            alarm_rollback=bool(alarms.get("rollback")),
            circuit_breaker=bool(breaker.get("enable")),
            circuit_breaker_rollback=bool(breaker.get("rollback")),
            bake_minutes=config.get("bakeTimeInMinutes"),
            hooks=tuple(LifecycleHook.from_api(h) for h in config.get("lifecycleHooks") or [] if isinstance(h, dict)),
            load_balancing=tuple(balancing),
        )


@dataclass(frozen=True)
class ServiceDeployment:
    """One ECS service deployment (DescribeServiceDeployments)."""

    arn: str
    service_arn: str
    status: str
    target_revision_arn: str
    source_revision_arns: tuple[str, ...] = ()
    status_reason: str = ""
    lifecycle_stage: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    rollback_reason: str | None = None
    # why it turned round, from ECS's own fields (its reason text is not documented)
    triggered_alarms: tuple[str, ...] = ()  # alarms.status TRIGGERED: these alarms rolled it back (or stopped it)
    circuit_breaker_tripped: bool = False  # deploymentCircuitBreaker.status TRIGGERED
    failed_hooks: tuple[str, ...] = ()  # lifecycleHookDetails FAILED or TIMED_OUT: the hooks' targets

    @classmethod
    def from_api(cls, info: dict[str, Any]) -> ServiceDeployment:
        target = info.get("targetServiceRevision") or {}
        rollback = info.get("rollback") or {}
        alarms = info.get("alarms") or {}
        breaker = info.get("deploymentCircuitBreaker") or {}
        hooks = info.get("lifecycleHookDetails") or []
        return cls(
            arn=str(info.get("serviceDeploymentArn") or ""),
            service_arn=str(info.get("serviceArn") or ""),
            status=str(info.get("status") or ""),
            target_revision_arn=str(target.get("arn") or ""),
            source_revision_arns=tuple(str(s.get("arn")) for s in info.get("sourceServiceRevisions") or []),
            status_reason=str(info.get("statusReason") or ""),
            lifecycle_stage=info.get("lifecycleStage"),
            created_at=clock.moment(info.get("createdAt")),
            finished_at=clock.moment(info.get("finishedAt") or info.get("stoppedAt")),
            rollback_reason=rollback.get("reason"),
            triggered_alarms=tuple(alarms.get("triggeredAlarmNames") or ())
            if alarms.get("status") == "TRIGGERED"
            else (),
            circuit_breaker_tripped=breaker.get("status") == "TRIGGERED",
            failed_hooks=tuple(
                str(h.get("targetArn") or h.get("hookId") or "")
                for h in hooks
                if h.get("status") in ("FAILED", "TIMED_OUT")
            ),
        )

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_SERVICE_DEPLOYMENT

    @property
    def rolled_back(self) -> bool:
        """ECS has no rollback deployment: the same deployment turns round (ROLLBACK_* statuses)."""
        return self.status in ROLLED_BACK


@dataclass(frozen=True)
class EcsHookInvocation:
    """What ECS sends a Lambda lifecycle hook (contracts 8.3; nested under ``executionDetails``)."""

    execution_id: str
    stage: str
    service_deployment_arn: str
    service_arn: str
    target_revision_arn: str
    test_weights: dict[str, float] = field(default_factory=dict)
    production_weights: dict[str, float] = field(default_factory=dict)
    hook_details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_rollback(self) -> bool:
        """A recurring stage invoked while traffic flows back: the target revision at weight 0 and another at 100
        (ECS has no ROLLBACK stage; contracts 8.2)."""
        if self.stage not in RECURRING_STAGES:
            return False
        for weights in (self.production_weights, self.test_weights):
            others = [w for arn, w in weights.items() if arn != self.target_revision_arn]
            if weights.get(self.target_revision_arn) == 0 and others and max(others) == 100:
                return True
        return False


def parse_ecs_hook_invocation(event: Any) -> EcsHookInvocation | str:
    """The invocation, or why it is not one (a reason to answer FAILED with)."""
    if not isinstance(event, dict):
        return f"event is a {type(event).__name__}, not an object"
    details = event.get("executionDetails")
    if not isinstance(details, dict):
        return "event has no executionDetails object (ECS nests serviceArn and the weights there)"
    strings = {
        "executionId": event.get("executionId"),
        "lifecycleStage": event.get("lifecycleStage"),
        "resourceArn": event.get("resourceArn"),
        "executionDetails.serviceArn": details.get("serviceArn"),
        "executionDetails.targetServiceRevisionArn": details.get("targetServiceRevisionArn"),
    }
    missing = [name for name, value in strings.items() if not isinstance(value, str) or not value]
    if missing:
        return f"event lacks {', '.join(missing)}"
    if strings["lifecycleStage"] not in HOOK_STAGES:
        return f"lifecycleStage {strings['lifecycleStage']!r} is not one of ECS's hookable stages"
    weights: dict[str, dict[str, float]] = {}
    for name in ("testTrafficWeights", "productionTrafficWeights"):
        value = details.get(name) or {}
        if not isinstance(value, dict) or not all(
            isinstance(w, int | float) and not isinstance(w, bool) for w in value.values()
        ):
            return f"executionDetails.{name} must map revision ARNs to numbers"
        weights[name] = {str(k): float(v) for k, v in value.items()}  # integers in samples, Double in the model
    hook_details = event.get("hookDetails") or {}
    if not isinstance(hook_details, dict):
        return "hookDetails must be an object"
    return EcsHookInvocation(
        execution_id=str(strings["executionId"]),
        stage=str(strings["lifecycleStage"]),
        service_deployment_arn=str(strings["resourceArn"]),
        service_arn=str(strings["executionDetails.serviceArn"]),
        target_revision_arn=str(strings["executionDetails.targetServiceRevisionArn"]),
        test_weights=weights["testTrafficWeights"],
        production_weights=weights["productionTrafficWeights"],
        hook_details=dict(hook_details),
    )


@dataclass(frozen=True)
class ServiceEvent:
    """ECS's "ECS Deployment State Change": something happened to a service's deployment (contracts 8.6). Its
    ``deploymentId`` (``ecs-svc/...``) is not a service deployment ARN: the event only says which service to look at."""

    event_id: str
    service_arn: str
    name: str
    reason: str


def parse_service_event(event: Any) -> ServiceEvent | str | None:
    """The ECS deployment event; None when ``event`` is not one; why not, when it claims to be one and is unusable."""
    if not isinstance(event, dict) or event.get("source") != "aws.ecs":
        return None
    if event.get("detail-type") != "ECS Deployment State Change":
        return None
    raw = event.get("detail")
    detail: dict[str, Any] = raw if isinstance(raw, dict) else {}
    resources = event.get("resources")
    services = [r for r in resources if isinstance(r, str) and ":service/" in r] if isinstance(resources, list) else []
    if not services:
        return f"an ECS Deployment State Change naming no service in resources ({resources!r})"
    return ServiceEvent(
        str(event.get("id") or ""), services[0], str(detail.get("eventName") or ""), str(detail.get("reason") or "")
    )


def hook_response(
    status: HookStatus, *, callback_delay: int | None = None, hook_details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The answer ECS reads (contracts 8.4): ``hookStatus``; with IN_PROGRESS, when to call back and what to
    hand the next invocation of the same hook."""
    response: dict[str, Any] = {"hookStatus": status}
    if status == "IN_PROGRESS":
        if callback_delay is not None:
            response["callBackDelay"] = int(callback_delay)
        if hook_details:
            response["hookDetails"] = hook_details
    return response
