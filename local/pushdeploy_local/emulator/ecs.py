"""The part of ECS's scheduler the local world plays: task-set counts and tasks that stop with a reason.

moto creates task sets but never reports their ``computedDesiredCount`` / ``runningCount`` /
``pendingCount``; here they are set on moto's own task-set objects (moto runs in this process, in-process
or as a threaded server), so DescribeServices answers as ECS would.
"""

from __future__ import annotations

from typing import Any


def _moto_task_set(region: str, cluster: str, service: str, task_set_id: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
    from moto.ecs.models import ecs_backends

    backend = ecs_backends[DEFAULT_ACCOUNT_ID][region]
    svc = backend.services[f"{cluster}:{service}"]
    return next(ts for ts in svc.task_sets if ts.id == task_set_id)


def set_counts(
    region: str, cluster: str, service: str, task_set_id: str, *, desired: int, running: int, pending: int | None = None
) -> None:
    task_set = _moto_task_set(region, cluster, service, task_set_id)
    task_set.computed_desired_count = desired
    task_set.running_count = running
    task_set.pending_count = max(0, desired - running) if pending is None else pending


def stop_tasks(ecs: Any, cluster: str, task_set: dict[str, Any], reason: str, count: int) -> list[str]:
    """Run ``count`` tasks of the task set and stop them with ``reason`` (as a crashing task would)."""
    network = task_set.get("networkConfiguration")
    tasks = ecs.run_task(
        cluster=cluster,
        taskDefinition=task_set["taskDefinition"],
        count=count,
        startedBy=task_set["id"],
        launchType="FARGATE",
        **({"networkConfiguration": network} if network else {}),
    )["tasks"]
    for task in tasks:
        ecs.stop_task(cluster=cluster, task=task["taskArn"], reason=reason)
    return [t["taskArn"] for t in tasks]


def run_and_stop_tasks(
    ecs: Any,
    cluster: str,
    task_definition: str,
    started_by: str,
    reason: str,
    count: int,
    subnets: list[str],
    security_group: str,
) -> list[str]:
    """Tasks of a service revision (``startedBy`` its ``ecs-svc/`` deployment id) that stop before running."""
    tasks = ecs.run_task(
        cluster=cluster,
        taskDefinition=task_definition,
        count=count,
        startedBy=started_by,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [security_group]}},
    )["tasks"]
    for task in tasks:
        ecs.stop_task(cluster=cluster, task=task["taskArn"], reason=reason)
    return [t["taskArn"] for t in tasks]
