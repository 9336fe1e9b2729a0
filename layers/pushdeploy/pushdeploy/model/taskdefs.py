"""Task definitions: what a clone of the service's current revision registers, and which revisions to keep."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

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
    task_definition: dict[str, Any], tags: list[Any] | None, container_name: str, image: str
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


def family_of(task_definition_arn: str) -> str:
    return task_definition_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def revision_of(task_definition_arn: str) -> int:
    try:
        return int(task_definition_arn.rsplit(":", 1)[-1])
    except ValueError:
        return 0


def service_state(service: dict[str, Any], *, cluster: str, name: str) -> ServiceState:
    """What DescribeServices says serves production: the PRIMARY task set's task definition (blue/green),
    or the service's own (no task sets yet); every task definition a task set runs is in use."""
    task_sets = service.get("taskSets") or []
    primary = next((ts for ts in task_sets if ts.get("status") == "PRIMARY"), None)
    current = (primary or {}).get("taskDefinition") or service.get("taskDefinition")
    if not current:
        raise TaskDefinitionError(f"ECS service {name} in cluster {cluster} has no task definition")
    in_use = {ts["taskDefinition"] for ts in task_sets if ts.get("taskDefinition")}
    in_use.add(current)
    return ServiceState(cluster, name, current, int(service.get("desiredCount", 0)), frozenset(in_use))


def revisions_to_prune(arns: list[str], family: str, *, keep: int, protected: set[str]) -> list[str]:
    """ACTIVE revisions of ``family`` beyond the newest ``keep``, never a protected one (newest first).

    Protected: the known-good revision (the rollback target), the revisions tasks run, the candidate's and
    any in-flight release's.
    """
    ours = sorted((a for a in arns if family_of(a) == family), key=revision_of, reverse=True)
    return [arn for arn in ours[keep:] if arn not in protected]


def container_image(task_definition: dict[str, Any], container_name: str | None = None) -> str | None:
    """The image of ``container_name`` (or of the first container) in a task definition."""
    containers = task_definition.get("containerDefinitions") or []
    chosen = next((c for c in containers if c.get("name") == container_name), None) if container_name else None
    chosen = chosen or (containers[0] if containers else None)
    return str(chosen["image"]) if chosen and chosen.get("image") else None
