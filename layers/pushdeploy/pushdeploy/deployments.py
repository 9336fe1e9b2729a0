"""CodeDeploy adapter: deployment groups, starting, finding and stopping ECS blue/green deployments."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pushdeploy import aws
from pushdeploy.errors import DeploymentBusy, DeploymentGroupNotFound, DeploymentNotFound

ACTIVE_STATUSES = ("Created", "Queued", "InProgress", "Ready", "Baking")
TERMINAL_STATUSES = ("Succeeded", "Failed", "Stopped")
ROLLBACK_CREATOR = "codeDeployRollback"

# "The Deployment Group 'x' already has an active Deployment 'd-id-x'" (and the older "is already deploying").
_ACTIVE_ID_RE = re.compile(r"(?:is already deploying|already has an active Deployment) '(d-[\w-]+)'")


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
        )


_GROUP_TTL_SECONDS = 300.0
_groups: dict[tuple[str, str], tuple[float, DeploymentGroup]] = {}
_groups_lock = threading.Lock()


def describe_group(application: str, group: str, *, refresh: bool = False) -> DeploymentGroup:
    """The deployment group, cached per process for a few minutes (it rarely changes)."""
    key = (application, group)
    now = time.monotonic()
    cached = _groups.get(key)
    if cached and not refresh and now - cached[0] < _GROUP_TTL_SECONDS:
        return cached[1]
    try:
        info = aws.client("codedeploy").get_deployment_group(applicationName=application, deploymentGroupName=group)
    except Exception as exc:
        if aws.error_code(exc) in ("DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException"):
            raise DeploymentGroupNotFound(f"deployment group {application}/{group}: {aws.error_message(exc)}") from exc
        raise
    parsed = DeploymentGroup.from_api(info["deploymentGroupInfo"])
    with _groups_lock:
        _groups[key] = (now, parsed)
    return parsed


def clear_cache() -> None:
    with _groups_lock:
        _groups.clear()


def create_deployment(
    application: str,
    group: str,
    revision: dict[str, Any],
    *,
    config_name: str | None,
    description: str,
    ignore_alarms: bool = False,
) -> str:
    """Start a deployment; :class:`DeploymentBusy` when the group already has an active one."""
    kwargs: dict[str, Any] = {
        "applicationName": application,
        "deploymentGroupName": group,
        "revision": revision,
        "description": description[:512],  # CodeDeploy's limit
    }
    if config_name:
        kwargs["deploymentConfigName"] = config_name
    if ignore_alarms:  # a revert must not be blocked by the very alarm that asked for it
        kwargs["overrideAlarmConfiguration"] = {"enabled": False, "alarms": []}
    try:
        return str(aws.client("codedeploy").create_deployment(**kwargs)["deploymentId"])
    except Exception as exc:
        if aws.error_code(exc) == "DeploymentLimitExceededException":
            message = aws.error_message(exc)
            match = _ACTIVE_ID_RE.search(message)
            raise DeploymentBusy(message, match.group(1) if match else None) from exc
        raise


def active_deployment_ids(application: str, group: str) -> list[str]:
    response = aws.client("codedeploy").list_deployments(
        applicationName=application, deploymentGroupName=group, includeOnlyStatuses=list(ACTIVE_STATUSES)
    )
    return list(response.get("deployments", []))


def get_deployment(deployment_id: str) -> dict[str, Any]:
    try:
        return dict(aws.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"])
    except Exception as exc:
        if aws.error_code(exc) in ("DeploymentDoesNotExistException", "InvalidDeploymentIdException"):
            raise DeploymentNotFound(f"deployment {deployment_id}: {aws.error_message(exc)}") from exc
        raise


def stop_with_rollback(deployment_id: str, reason: str) -> str:
    """StopDeployment(autoRollbackEnabled=True) (passed explicitly: the default is undocumented).

    Returns CodeDeploy's status (``Pending`` or ``Succeeded``), or ``AlreadyCompleted``.
    """
    try:
        response = aws.client("codedeploy").stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    except Exception as exc:
        if aws.error_code(exc) == "DeploymentAlreadyCompletedException":
            return "AlreadyCompleted"
        raise
    return str(response.get("status", "Pending"))
