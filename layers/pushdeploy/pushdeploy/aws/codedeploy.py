"""CodeDeploy: deployment groups, starting, finding and stopping ECS blue/green deployments, hook reports."""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

from pushdeploy import aws
from pushdeploy.errors import DeploymentBusy, DeploymentGroupNotFound, DeploymentNotFound
from pushdeploy.model.deployments import (
    ACTIVE_STATUSES,
    AlarmOverride,
    Deployment,
    DeploymentGroup,
    active_deployment_in,
)

_GROUP_TTL_SECONDS = 300.0
_groups: dict[tuple[str, str], tuple[float, DeploymentGroup]] = {}
_groups_lock = threading.Lock()

HookStatus = Literal["Succeeded", "Failed"]
HookReport = Literal["reported", "already-reported", "unreportable"]
UNREPORTABLE = frozenset(
    {
        "DeploymentDoesNotExistException",
        "InvalidDeploymentIdException",
        "InvalidLifecycleEventHookExecutionIdException",
        "DeploymentIdRequiredException",
        "UnsupportedActionForDeploymentTypeException",
    }
)


def describe_group(application: str, group: str, *, refresh: bool = False) -> DeploymentGroup:
    """The deployment group, cached per process for a few minutes (it rarely changes)."""
    key = (application, group)
    now = time.monotonic()
    cached = _groups.get(key)
    if cached and not refresh and now - cached[0] < _GROUP_TTL_SECONDS:
        return cached[1]
    try:
        info = aws.codedeploy_client().get_deployment_group(applicationName=application, deploymentGroupName=group)
    except Exception as exc:
        if aws.error_code(exc) in ("DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException"):
            raise DeploymentGroupNotFound(f"deployment group {application}/{group}: {aws.error_message(exc)}") from exc
        raise
    parsed = DeploymentGroup.from_api(dict(info["deploymentGroupInfo"]))
    with _groups_lock:
        _groups[key] = (now, parsed)
    return parsed


def current_step(deployment_id: str, cluster: str, service: str) -> str | None:
    """The lifecycle event an ECS deployment is in (InProgress), else the next one to run (Pending)."""
    target = aws.codedeploy_client().get_deployment_target(deploymentId=deployment_id, targetId=f"{cluster}:{service}")
    events = ((target.get("deploymentTarget") or {}).get("ecsTarget") or {}).get("lifecycleEvents") or []
    for wanted in ("InProgress", "Pending"):
        found = next((e["lifecycleEventName"] for e in events if e.get("status") == wanted), None)
        if found:
            return str(found)
    return None


def deployment_config_exists(name: str) -> bool:
    """Whether CodeDeploy has a deployment configuration of this name (a predefined one, or the account's)."""
    try:
        aws.codedeploy_client().get_deployment_config(deploymentConfigName=name)
    except Exception as exc:
        if aws.error_code(exc) in ("DeploymentConfigDoesNotExistException", "InvalidDeploymentConfigNameException"):
            return False
        raise
    return True


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
    alarms: AlarmOverride | None = None,
    auto_rollback: bool = True,
) -> str:
    """Start a deployment; :class:`DeploymentBusy` when the group already has an active one.

    ``alarms`` overrides the group's alarm configuration for this deployment (CodeDeploy then polls only the
    alarms it names, or none); ``auto_rollback=False`` turns off CodeDeploy's automatic rollback for it (a remedy
    that fails must never flip production back to the release it was removing).
    """
    kwargs: dict[str, Any] = {
        "applicationName": application,
        "deploymentGroupName": group,
        "revision": revision,
        "description": description[:512],  # CodeDeploy's limit
    }
    if config_name:
        kwargs["deploymentConfigName"] = config_name
    if alarms is not None:
        kwargs["overrideAlarmConfiguration"] = alarms.as_api()
    if not auto_rollback:
        kwargs["autoRollbackConfiguration"] = {"enabled": False, "events": []}
    try:
        return str(aws.codedeploy_client().create_deployment(**kwargs)["deploymentId"])
    except Exception as exc:
        if aws.error_code(exc) == "DeploymentLimitExceededException":
            message = aws.error_message(exc)
            raise DeploymentBusy(message, active_deployment_in(message)) from exc
        raise


def active_deployment_ids(application: str, group: str) -> list[str]:
    response = aws.codedeploy_client().list_deployments(
        applicationName=application,
        deploymentGroupName=group,
        includeOnlyStatuses=list(ACTIVE_STATUSES),  # type: ignore[arg-type]
    )
    return list(response.get("deployments", []))


def get_deployment(deployment_id: str) -> Deployment:
    try:
        info = aws.codedeploy_client().get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    except Exception as exc:
        if aws.error_code(exc) in ("DeploymentDoesNotExistException", "InvalidDeploymentIdException"):
            raise DeploymentNotFound(f"deployment {deployment_id}: {aws.error_message(exc)}") from exc
        raise
    return Deployment.from_api(dict(info))


def stop_with_rollback(deployment_id: str, reason: str) -> str:
    """StopDeployment(autoRollbackEnabled=True) (passed explicitly: the default is undocumented).

    Returns CodeDeploy's status (``Pending`` or ``Succeeded``), or ``AlreadyCompleted``.
    """
    try:
        response = aws.codedeploy_client().stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    except Exception as exc:
        if aws.error_code(exc) == "DeploymentAlreadyCompletedException":
            return "AlreadyCompleted"
        raise
    return str(response.get("status", "Pending"))


def report_hook_status(deployment_id: str, execution_id: str, status: HookStatus) -> tuple[HookReport, str]:
    """PutLifecycleEventHookExecutionStatus. Returns what became of the report and CodeDeploy's words.

    Throttling or unavailability after the client's retries re-raises: Lambda retries the invocation.
    """
    try:
        aws.codedeploy_client().put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id, lifecycleEventHookExecutionId=execution_id, status=status
        )
    except Exception as exc:
        code = aws.error_code(exc)
        if code == "LifecycleEventAlreadyCompletedException":
            return "already-reported", aws.error_message(exc)
        if code in UNREPORTABLE:  # no such deployment or execution: retrying cannot help
            return "unreportable", f"{code}: {aws.error_message(exc)}"
        raise
    return "reported", ""
