"""ECS: the service's current task definition, registering pinned revisions, retention."""

from __future__ import annotations

import threading
import time
from typing import Any

from pushdeploy import aws
from pushdeploy.errors import TaskDefinitionError
from pushdeploy.model.ecs_deployments import ACTIVE_SERVICE_DEPLOYMENT, ServiceDeployment, ServiceSetup
from pushdeploy.model.taskdefs import (
    ServiceState,
    container_image,
    registration_from,
    revisions_to_prune,
    service_state,
)


def describe_service(cluster: str, service: str) -> ServiceState:
    response = aws.ecs_client().describe_services(cluster=cluster, services=[service])
    services = response.get("services") or []
    if not services or services[0].get("status") == "INACTIVE":
        reason = (response.get("failures") or [{}])[0].get("reason", "not found")
        raise TaskDefinitionError(f"ECS service {service} in cluster {cluster}: {reason}")
    return service_state(dict(services[0]), cluster=cluster, name=service)


def describe_task_definition(arn: str) -> dict[str, Any]:
    return dict(aws.ecs_client().describe_task_definition(taskDefinition=arn)["taskDefinition"])


def image_of(task_definition_arn: str, container_name: str | None = None) -> str | None:
    """The image ``container_name`` (or the first container) of a task definition runs."""
    return container_image(describe_task_definition(task_definition_arn), container_name)


def register_pinned_revision(base_arn: str, container_name: str, image: str) -> str:
    """Register a new revision of ``base_arn``'s family with ``container_name`` running ``image``."""
    ecs = aws.ecs_client()
    described = ecs.describe_task_definition(taskDefinition=base_arn, include=["TAGS"])
    registration = registration_from(
        dict(described["taskDefinition"]), list(described.get("tags") or []), container_name, image
    )
    registered = ecs.register_task_definition(**registration)
    return str(registered["taskDefinition"]["taskDefinitionArn"])


def deregister(task_definition_arn: str) -> None:
    aws.ecs_client().deregister_task_definition(taskDefinition=task_definition_arn)


def active_revisions(family: str) -> list[str]:
    ecs = aws.ecs_client()
    arns: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"familyPrefix": family, "status": "ACTIVE", "sort": "DESC"}
        if token:
            kwargs["nextToken"] = token
        page = ecs.list_task_definitions(**kwargs)
        arns.extend(page.get("taskDefinitionArns", []))
        token = page.get("nextToken")
        if not token:
            return arns


def prune(family: str, *, keep: int, protected: set[str]) -> list[str]:
    """Deregister the revisions :func:`revisions_to_prune` picks. Returns what was deregistered."""
    removed = []
    for arn in revisions_to_prune(active_revisions(family), family, keep=keep, protected=protected):
        deregister(arn)
        removed.append(arn)
    return removed


def stopped_task_reasons(cluster: str, task_definition_arn: str) -> list[tuple[str, str]]:
    """(task arn, why it stopped, verbatim: stoppedReason and each container's reason) for the stopped tasks of a
    task definition; ECS keeps stopped tasks for about an hour, after their task set is gone."""
    from pushdeploy.model.taskdefs import family_of

    ecs = aws.ecs_client()
    arns = ecs.list_tasks(cluster=cluster, family=family_of(task_definition_arn), desiredStatus="STOPPED").get(
        "taskArns", []
    )
    if not arns:
        return []
    found = []
    for task in ecs.describe_tasks(cluster=cluster, tasks=arns[:100]).get("tasks", []):
        if task.get("taskDefinitionArn") != task_definition_arn:
            continue
        reasons = [task.get("stoppedReason") or "", *(c.get("reason") or "" for c in task.get("containers", []))]
        found.append((str(task["taskArn"]), " / ".join(r for r in reasons if r) or "no reason given"))
    return found


# -- services under ECS's own controller (blue/green, linear, canary, rolling) ---------------------------------------
_SETUP_TTL_SECONDS = 300.0
_setups: dict[tuple[str, str], tuple[float, ServiceSetup]] = {}
_setups_lock = threading.Lock()


def service_setup(cluster: str, service: str, *, refresh: bool = False) -> ServiceSetup:
    """How a service deploys (controller, strategy, alarms, hooks, listener rules), cached per process for a few
    minutes like a deployment group (it rarely changes)."""
    key = (cluster, service)
    now = time.monotonic()
    cached = _setups.get(key)
    if cached and not refresh and now - cached[0] < _SETUP_TTL_SECONDS:
        return cached[1]
    response = aws.ecs_client().describe_services(cluster=cluster, services=[service])
    services = response.get("services") or []
    if not services or services[0].get("status") == "INACTIVE":
        reason = (response.get("failures") or [{}])[0].get("reason", "not found")
        raise TaskDefinitionError(f"ECS service {service} in cluster {cluster}: {reason}")
    setup = ServiceSetup.from_api(dict(services[0]))
    with _setups_lock:
        _setups[key] = (now, setup)
    return setup


def clear_setups() -> None:
    with _setups_lock:
        _setups.clear()


def revision_task_definition(revision_arn: str) -> str:
    """The task definition a service revision runs (DescribeServiceRevisions)."""
    described = aws.ecs_client().describe_service_revisions(serviceRevisionArns=[revision_arn])
    revisions = described.get("serviceRevisions") or []
    if not revisions:
        reason = (described.get("failures") or [{}])[0].get("reason", "not found")
        raise TaskDefinitionError(f"service revision {revision_arn}: {reason}")
    return str(revisions[0]["taskDefinition"])


def service_deployment(arn: str) -> ServiceDeployment | None:
    described = aws.ecs_client().describe_service_deployments(serviceDeploymentArns=[arn])
    found = described.get("serviceDeployments") or []
    return ServiceDeployment.from_api(dict(found[0])) if found else None


def update_service(
    cluster: str,
    service: str,
    task_definition_arn: str | None,
    *,
    alarms: dict[str, Any] | None = None,
    circuit_breaker: dict[str, Any] | None = None,
) -> str | None:
    """UpdateService on a service under ECS's own controller: a new task definition starts a deployment, whose ARN
    is returned (``service.currentServiceDeployment``, when ECS names it). ``alarms`` and ``circuit_breaker`` replace
    ``deploymentConfiguration.alarms`` and ``.deploymentCircuitBreaker``; the rest of the configuration is sent back
    as it is, except its lifecycle hooks: left out, ECS keeps them ("an explicit empty lifecycle hook list" clears
    them), and their roles are not passed again."""
    kwargs: dict[str, Any] = {"cluster": cluster, "service": service}
    if task_definition_arn:
        kwargs["taskDefinition"] = task_definition_arn
    changes = {k: v for k, v in (("alarms", alarms), ("deploymentCircuitBreaker", circuit_breaker)) if v is not None}
    if changes:
        described = aws.ecs_client().describe_services(cluster=cluster, services=[service])["services"][0]
        configuration = {
            k: v for k, v in (described.get("deploymentConfiguration") or {}).items() if k != "lifecycleHooks"
        }
        kwargs["deploymentConfiguration"] = {**configuration, **changes}
    answer = aws.ecs_client().update_service(**kwargs)
    current = (answer.get("service") or {}).get("currentServiceDeployment")
    return str(current) if current else None


def active_service_deployments(cluster: str, service: str) -> list[ServiceDeployment]:
    """The service's deployments that have not ended (ListServiceDeployments + DescribeServiceDeployments)."""
    found = service_deployments(cluster, service, sorted(ACTIVE_SERVICE_DEPLOYMENT))
    return [d for d in found if d.status in ACTIVE_SERVICE_DEPLOYMENT]


def service_deployments(cluster: str, service: str, statuses: list[str] | None = None) -> list[ServiceDeployment]:
    """The service's deployments (those in ``statuses``, else any), newest first, at most 20."""
    ecs = aws.ecs_client()
    kwargs: dict[str, Any] = {"cluster": cluster, "service": service}
    if statuses:
        kwargs["status"] = statuses
    listed = ecs.list_service_deployments(**kwargs).get("serviceDeployments", [])
    arns = [str(d["serviceDeploymentArn"]) for d in listed]
    if not arns:
        return []
    described = ecs.describe_service_deployments(serviceDeploymentArns=arns[:20]).get("serviceDeployments", [])
    found = [ServiceDeployment.from_api(dict(d)) for d in described]
    return sorted(found, key=lambda d: d.created_at.timestamp() if d.created_at else 0.0, reverse=True)


def deployment_running(cluster: str, service: str, task_definition_arn: str) -> ServiceDeployment | None:
    """The newest active service deployment whose target revision runs ``task_definition_arn``."""
    found = sorted(
        active_service_deployments(cluster, service),
        key=lambda d: d.created_at.timestamp() if d.created_at else 0.0,
        reverse=True,
    )
    for deployment in found:
        if revision_task_definition(deployment.target_revision_arn) == task_definition_arn:
            return deployment
    return None


def stop_service_deployment(arn: str) -> str:
    """StopServiceDeployment with ROLLBACK (the value the API documents as valid): production goes back to the
    revision the deployment replaces."""
    aws.ecs_client().stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    return "ROLLBACK_REQUESTED"
