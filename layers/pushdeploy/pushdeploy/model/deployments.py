"""CodeDeploy's words, typed: a deployment group (the source of truth for the service) and a deployment."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pushdeploy import clock
from pushdeploy.model.appspec import AppSpec, appspec_of_revision
from pushdeploy.model.ecs_deployments import ServiceDeployment

ACTIVE_STATUSES = ("Created", "Queued", "InProgress", "Ready", "Baking")
TERMINAL_STATUSES = ("Succeeded", "Failed", "Stopped")
ROLLBACK_CREATOR = "codeDeployRollback"
# ECS ServiceDeployment.status -> the statuses the release state machine decides on (ROLLBACK_SUCCESSFUL: see
# Deployment.from_service_deployment)
SERVICE_DEPLOYMENT_STATUS = {
    "PENDING": "InProgress",
    "IN_PROGRESS": "InProgress",
    "STOP_REQUESTED": "InProgress",
    "ROLLBACK_REQUESTED": "InProgress",
    "ROLLBACK_IN_PROGRESS": "InProgress",
    "SUCCESSFUL": "Succeeded",
    "STOPPED": "Stopped",
    "ROLLBACK_SUCCESSFUL": "Failed",
    "ROLLBACK_FAILED": "Failed",
}

# "The Deployment Group 'x' already has an active Deployment 'd-id-x'" (and the older "is already deploying").
_ACTIVE_ID_RE = re.compile(r"(?:is already deploying|already has an active Deployment) '(d-[\w-]+)'")

# CodeDeploy's predefined configurations for the ECS compute platform (contracts.md section 6); any other name must
# be a custom configuration the account has (CreateDeploymentConfig)
ECS_DEFAULT_CONFIGS: tuple[str, ...] = (
    "CodeDeployDefault.ECSAllAtOnce",
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
    "CodeDeployDefault.ECSCanary10Percent5Minutes",
    "CodeDeployDefault.ECSCanary10Percent15Minutes",
)


def active_deployment_in(message: str) -> str | None:
    """The active deployment a DeploymentLimitExceededException names, if it names one."""
    match = _ACTIVE_ID_RE.search(message)
    return match.group(1) if match else None


@dataclass(frozen=True)
class DeploymentGroup:
    """What the deployment group says about the service it deploys (the source of truth)."""

    application: str
    name: str
    cluster: str
    service: str
    target_groups: tuple[str, ...]
    prod_listener_arns: tuple[str, ...]
    test_listener_arns: tuple[str, ...]
    alarms: tuple[str, ...]
    alarms_enabled: bool
    deployment_config: str
    auto_rollback_events: tuple[str, ...] = field(default=())
    ignore_poll_alarm_failure: bool = False

    @classmethod
    def from_api(cls, info: dict[str, Any]) -> DeploymentGroup:
        services = info.get("ecsServices") or [{}]
        pairs = (info.get("loadBalancerInfo") or {}).get("targetGroupPairInfoList") or [{}]
        pair = pairs[0]
        alarm_config = info.get("alarmConfiguration") or {}
        rollback = info.get("autoRollbackConfiguration") or {}
        return cls(
            application=info["applicationName"],
            name=info["deploymentGroupName"],
            cluster=services[0].get("clusterName", ""),
            service=services[0].get("serviceName", ""),
            target_groups=tuple(tg["name"] for tg in pair.get("targetGroups", []) if "name" in tg),
            prod_listener_arns=tuple((pair.get("prodTrafficRoute") or {}).get("listenerArns", [])),
            test_listener_arns=tuple((pair.get("testTrafficRoute") or {}).get("listenerArns", [])),
            alarms=tuple(a["name"] for a in alarm_config.get("alarms", []) if "name" in a),
            alarms_enabled=bool(alarm_config.get("enabled", False)),
            deployment_config=info.get("deploymentConfigName") or "CodeDeployDefault.ECSAllAtOnce",
            auto_rollback_events=tuple(rollback.get("events", [])) if rollback.get("enabled") else (),
            ignore_poll_alarm_failure=bool(alarm_config.get("ignorePollAlarmFailure", False)),
        )


@dataclass(frozen=True)
class AlarmOverride:
    """CreateDeployment's ``overrideAlarmConfiguration``: the alarms CodeDeploy polls for this deployment only.

    A remedy turns polling off (it must not be blocked by the alarm that asked for it); a change that starts while
    some of the group's alarms already fire leaves exactly those out, and the others stay armed.
    """

    alarms: tuple[str, ...]
    ignore_poll_failure: bool = False

    @classmethod
    def none(cls) -> AlarmOverride:
        return cls(())

    @classmethod
    def excluding(cls, group: DeploymentGroup, firing: set[str] | frozenset[str]) -> AlarmOverride | None:
        """The group's alarms but ``firing`` (None when nothing needs leaving out: the group's own configuration)."""
        if not group.alarms_enabled or not group.alarms or not firing & set(group.alarms):
            return None
        return cls(tuple(a for a in group.alarms if a not in firing), group.ignore_poll_alarm_failure)

    def alarms_left_out(self, group: DeploymentGroup) -> tuple[str, ...]:
        return tuple(a for a in group.alarms if a not in self.alarms)

    def as_api(self) -> dict[str, Any]:
        return {
            "enabled": bool(self.alarms),
            "ignorePollAlarmFailure": self.ignore_poll_failure,
            "alarms": [{"name": name} for name in self.alarms],
        }


@dataclass(frozen=True)
class Deployment:
    """GetDeployment's ``deploymentInfo``, as the decisions need it."""

    deployment_id: str
    application: str
    deployment_group: str
    status: str
    creator: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    rollback_deployment_id: str | None = None
    rollback_triggering_deployment_id: str | None = None
    appspec: AppSpec | None = None
    deployment_config: str | None = None
    description: str = ""
    stage: str | None = None  # an ECS service deployment's lifecycle stage
    turning_back: bool = False  # an ECS service deployment rolling back (its own rollback: no separate deployment)

    @classmethod
    def from_service_deployment(cls, found: ServiceDeployment) -> Deployment:
        """An ECS service deployment in the words the release state machine decides on, from ECS's own fields (its
        reason text is not documented): ECS has no rollback deployment, the deployment itself turns round.

        Its alarms TRIGGERED: ``Stopped`` with ``ALARM_ACTIVE`` and the alarms named (as CodeDeploy reports its own
        alarm stops); a hook FAILED or TIMED_OUT, or the circuit breaker TRIGGERED: ``Failed``; turned round with
        none of these: a stop request (``Stopped``). ROLLBACK_FAILED is ``Failed``.
        """
        reason = found.rollback_reason or found.status_reason or ""
        status = SERVICE_DEPLOYMENT_STATUS.get(found.status, "InProgress")
        code: str | None = None
        if found.status in ("ROLLBACK_SUCCESSFUL", "STOPPED"):
            if found.triggered_alarms:
                status, code = "Stopped", "ALARM_ACTIVE"
                reason = f"{reason} Activated alarms: {', '.join(found.triggered_alarms)}".strip()
            elif found.failed_hooks:
                status, code = "Failed", "HOOK_EXECUTION_FAILURE"
            elif found.circuit_breaker_tripped:
                status, code = "Failed", "ECS_CIRCUIT_BREAKER"
            else:
                status, code = "Stopped", "ECS_STOPPED"
        elif found.status == "ROLLBACK_FAILED":
            code = "ECS_ROLLBACK_FAILED"
        return cls(
            deployment_id=found.arn,
            application="",
            deployment_group="",
            status=status,
            created_at=found.created_at,
            completed_at=found.finished_at,
            error_code=code,
            error_message=reason or None,
            stage=found.lifecycle_stage,
            turning_back=found.status in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"),
        )

    @classmethod
    def from_api(cls, info: dict[str, Any]) -> Deployment:
        error = info.get("errorInformation") or {}
        rollback = info.get("rollbackInfo") or {}
        return cls(
            deployment_id=str(info.get("deploymentId", "")),
            application=str(info.get("applicationName", "")),
            deployment_group=str(info.get("deploymentGroupName", "")),
            status=str(info.get("status", "")),
            creator=info.get("creator"),
            created_at=clock.moment(info.get("createTime")),
            completed_at=clock.moment(info.get("completeTime")),
            error_code=error.get("code") or None,
            error_message=error.get("message") or None,
            rollback_deployment_id=rollback.get("rollbackDeploymentId") or None,
            rollback_triggering_deployment_id=rollback.get("rollbackTriggeringDeploymentId") or None,
            appspec=appspec_of_revision(info.get("revision")),
            deployment_config=info.get("deploymentConfigName"),
            description=str(info.get("description") or ""),
        )

    def explained_by(self, failed_hook: str | None) -> Deployment:
        """An ECS deployment turned round with no alarm or circuit breaker of ECS's own reads as a stop request; when
        one of our hooks answered FAILED (the ledger has its verdict: ECS's hook details show only the stage it is in
        now) it failed."""
        if self.error_code == "ECS_STOPPED" and failed_hook:
            return replace(self, status="Failed", error_code="HOOK_EXECUTION_FAILURE", error_message=failed_hook)
        return self

    @property
    def started_as(self) -> str | None:
        """What pushdeploy started this deployment as (its trigger: push, revert, operator-rollback, ...), from the
        description it gave CodeDeploy (``pushdeploy <trigger> <target> ...``); None for anyone else's."""
        words = self.description.split()
        return words[1] if len(words) > 1 and words[0] == "pushdeploy" else None

    @property
    def is_rollback(self) -> bool:
        """CodeDeploy's own rollback deployment (a new deployment, created by CodeDeploy)."""
        return self.creator == ROLLBACK_CREATOR

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def stopped_by_alarm(self) -> bool:
        """CodeDeploy's own alarm poll stopped it (``ALARM_ACTIVE``)."""
        return self.status == "Stopped" and self.error_code == "ALARM_ACTIVE"

    @property
    def activated_alarms(self) -> tuple[str, ...]:
        """The alarms an ``ALARM_ACTIVE`` stop names ("... Activated alarms: <a>, <b>"), if it names them."""
        message = self.error_message or ""
        marker = "Activated alarms:"
        if marker not in message:
            return ()
        names = message.split(marker, 1)[1].replace("<", "").replace(">", "")
        return tuple(n.strip().rstrip(".") for n in names.split(",") if n.strip())

    @property
    def error(self) -> str | None:
        """``CODE: message`` of a failed or stopped deployment."""
        if not self.error_message:
            return None
        return f"{self.error_code or ''}: {self.error_message}".strip(": ")
