"""Task definitions: clone the service's current revision, pin one container's image, register."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pushdeploy import aws
from pushdeploy.errors import TaskDefinitionError

# Members of DescribeTaskDefinition's TaskDefinition that RegisterTaskDefinition does not accept
# (botocore 1.44.5; contracts.md 9.2). Everything else is passed through unchanged.
READ_ONLY_FIELDS = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "deregisteredAt",
        "deleteRequestedAt",
        "registeredBy",
    }
)


@dataclass(frozen=True)
class ServiceState:
    cluster: str
    service: str
    task_definition_arn: str  # what serves production now (the PRIMARY task set's)
    desired_count: int
    task_definitions_in_use: frozenset[str]


def registration_from(
    task_definition: dict[str, Any], tags: list[dict[str, str]] | None, container_name: str, image: str
) -> dict[str, Any]:
    """RegisterTaskDefinition arguments: a copy of ``task_definition`` with one container's image swapped."""
    registration = {k: copy.deepcopy(v) for k, v in task_definition.items() if k not in READ_ONLY_FIELDS}
    containers = registration.get("containerDefinitions") or []
    matches = [c for c in containers if c.get("name") == container_name]
    if not matches:
        names = ", ".join(repr(c.get("name")) for c in containers) or "none"
        raise TaskDefinitionError(
            f"task definition {task_definition.get('taskDefinitionArn', task_definition.get('family'))} has no "
            f"container named {container_name!r} (containers: {names})"
        )
    matches[0]["image"] = image
    if tags:
        registration["tags"] = copy.deepcopy(tags)
    return registration


def describe_service(cluster: str, service: str) -> ServiceState:
    response = aws.client("ecs").describe_services(cluster=cluster, services=[service])
    services = response.get("services") or []
    if not services or services[0].get("status") == "INACTIVE":
        reason = (response.get("failures") or [{}])[0].get("reason", "not found")
        raise TaskDefinitionError(f"ECS service {service} in cluster {cluster}: {reason}")
    svc = services[0]
    task_sets = svc.get("taskSets") or []
    primary = next((ts for ts in task_sets if ts.get("status") == "PRIMARY"), None)
    current = (primary or {}).get("taskDefinition") or svc.get("taskDefinition")
    if not current:
        raise TaskDefinitionError(f"ECS service {service} in cluster {cluster} has no task definition")
    in_use = {ts["taskDefinition"] for ts in task_sets if ts.get("taskDefinition")}
    in_use.add(current)
    return ServiceState(cluster, service, current, int(svc.get("desiredCount", 0)), frozenset(in_use))


def register_pinned_revision(base_arn: str, container_name: str, image: str) -> str:
    """Register a new revision of ``base_arn``'s family with ``container_name`` running ``image``."""
    ecs = aws.client("ecs")
    described = ecs.describe_task_definition(taskDefinition=base_arn, include=["TAGS"])
    registration = registration_from(described["taskDefinition"], described.get("tags"), container_name, image)
    registered = ecs.register_task_definition(**registration)
    return str(registered["taskDefinition"]["taskDefinitionArn"])


def deregister(task_definition_arn: str) -> None:
    aws.client("ecs").deregister_task_definition(taskDefinition=task_definition_arn)


def family_of(task_definition_arn: str) -> str:
    return task_definition_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def revision_of(task_definition_arn: str) -> int:
    try:
        return int(task_definition_arn.rsplit(":", 1)[-1])
    except ValueError:
        return 0


def prune(family: str, *, keep: int, protected: set[str]) -> list[str]:
    """Deregister ACTIVE revisions of ``family`` beyond the newest ``keep``, never a protected one.

    Protected: the known-good revision (the rollback target), the revisions tasks run, the candidate's and
    any in-flight release's. Returns what was deregistered.
    """
    ecs = aws.client("ecs")
    arns: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"familyPrefix": family, "status": "ACTIVE", "sort": "DESC"}
        if token:
            kwargs["nextToken"] = token
        page = ecs.list_task_definitions(**kwargs)
        arns.extend(a for a in page.get("taskDefinitionArns", []) if family_of(a) == family)
        token = page.get("nextToken")
        if not token:
            break
    arns.sort(key=revision_of, reverse=True)
    removed = []
    for arn in arns[keep:]:
        if arn in protected:
            continue
        ecs.deregister_task_definition(taskDefinition=arn)
        removed.append(arn)
    return removed
