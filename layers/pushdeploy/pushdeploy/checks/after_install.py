"""AfterInstall: the replacement task set reaches its desired running count; stopped tasks say why."""

from __future__ import annotations

from typing import Any

from pushdeploy import aws
from pushdeploy.checks import CheckResult, HookContext

POLL_SECONDS = 10.0


def run(ctx: HookContext) -> list[CheckResult]:
    budget = ctx.budget.limited_to(ctx.target.checks.after_install.timeout_seconds)
    while True:
        task_set = ctx.replacement_task_set()
        if task_set is None:
            return [
                CheckResult(
                    "replacement-task-set",
                    False,
                    f"no task set runs {ctx.task_definition_arn} in service {ctx.group.service}",
                )
            ]
        desired = int(task_set.get("computedDesiredCount", 0))
        running = int(task_set.get("runningCount", 0))
        stopped = _stopped_tasks(ctx, task_set)
        if desired > 0 and running >= desired:
            return [
                CheckResult(
                    "replacement-running",
                    True,
                    f"task set {task_set.get('id')} runs {running}/{desired} tasks",
                    value=running,
                    limit=desired,
                )
            ]
        if stopped and len(stopped) >= max(desired, 1):
            reasons = "; ".join(sorted({reason for _, reason in stopped}))
            return [
                CheckResult(
                    "replacement-running",
                    False,
                    f"{len(stopped)} task(s) of the replacement stopped: {reasons}",
                    value=running,
                    limit=desired,
                )
            ]
        if budget.remaining() <= 0:
            why = f"; stopped tasks: {'; '.join(r for _, r in stopped)}" if stopped else ""
            return [
                CheckResult(
                    "replacement-running",
                    False,
                    f"task set {task_set.get('id')} runs {running}/{desired} tasks after waiting{why}",
                    value=running,
                    limit=desired,
                )
            ]
        budget.wait(POLL_SECONDS)


def _stopped_tasks(ctx: HookContext, task_set: dict[str, Any]) -> list[tuple[str, str]]:
    """(task arn, stoppedReason verbatim) of the replacement's stopped tasks."""
    ecs = aws.client("ecs")
    arns = ecs.list_tasks(cluster=ctx.group.cluster, startedBy=task_set["id"], desiredStatus="STOPPED").get(
        "taskArns", []
    )
    if not arns:
        return []
    tasks = ecs.describe_tasks(cluster=ctx.group.cluster, tasks=arns[:100]).get("tasks", [])
    found = []
    for task in tasks:
        reason = task.get("stoppedReason") or ""
        container_reasons = [c.get("reason") for c in task.get("containers", []) if c.get("reason")]
        found.append((task["taskArn"], " / ".join([reason, *container_reasons]).strip(" /") or "no reason given"))
    return found
