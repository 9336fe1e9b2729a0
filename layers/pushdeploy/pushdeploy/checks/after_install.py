"""AfterInstall: the replacement task set reaches its desired running count; stopped tasks say why."""

from __future__ import annotations

from datetime import timedelta

from pushdeploy import clock
from pushdeploy.aws.ecs import stopped_task_reasons
from pushdeploy.checks import CheckResult, HookContext

POLL_SECONDS = 10.0


def run(ctx: HookContext) -> list[CheckResult]:
    timeout = ctx.target.checks.after_install.timeout_seconds
    started = ctx.since()
    deadline = started + timedelta(seconds=timeout)
    while True:
        replacement = ctx.replacement()
        if replacement is None:
            return [
                CheckResult(
                    "replacement-task-set",
                    False,
                    f"nothing runs {ctx.task_definition_arn} in service {ctx.rollout.service}",
                )
            ]
        desired, running = replacement.desired, replacement.running
        stopped = stopped_task_reasons(ctx.rollout.cluster, ctx.task_definition_arn)
        if desired > 0 and running >= desired:
            return [
                CheckResult(
                    "replacement-running",
                    True,
                    f"{replacement} runs {running}/{desired} tasks",
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
        if clock.now() >= deadline:
            why = f"; stopped tasks: {'; '.join(r for _, r in stopped)}" if stopped else ""
            return [
                CheckResult(
                    "replacement-running",
                    False,
                    f"{replacement} runs {running}/{desired} tasks after waiting {clock.span(timeout)}{why}",
                    value=running,
                    limit=desired,
                )
            ]
        elapsed = clock.span((clock.now() - started).total_seconds())
        waited = f"waited {elapsed} of {clock.span(timeout)} for the replacement"
        if not ctx.pause(POLL_SECONDS, deadline, f"{waited} ({running}/{desired} running)"):
            return []
