"""The five CodeDeploy lifecycle hooks: run the stage's checks, record the evidence, report exactly once.

Whatever happens (an exception, an unknown deployment, a target with bad config, a check that hangs, the
time budget running out) the hook reports ``Failed`` with the reason, so CodeDeploy never waits for its
one-hour timeout. The one exception is a deployment of an application no target names: pushdeploy's
validators do not vouch for deployments they were not configured for, so they report nothing (and say so).

A check that outlasts one invocation (a 40-minute bake; the function may run 15) carries on: the invocation
schedules the next one with its progress (:mod:`pushdeploy.aws.scheduler`) and reports nothing; the last one
reports. Every hand-over keeps to CodeDeploy's one-hour limit for a hook, or the hook reports ``Failed``.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pushdeploy import clock
from pushdeploy.aws import codedeploy
from pushdeploy.aws.scheduler import Continuations, latest_invocation
from pushdeploy.checks import Budget, BudgetExhausted, CheckResult, HookContext
from pushdeploy.checks.rollouts import TaskSetRollout
from pushdeploy.errors import DeploymentNotFound
from pushdeploy.ledger import Ledger
from pushdeploy.model.appspec import HookStage
from pushdeploy.model.events import HookInvocation, Ignored, parse_hook_invocation
from pushdeploy.model.releases import REMEDY_TRIGGERS
from pushdeploy.model.targets import TargetCatalog
from pushdeploy.observability import count, logger

REPORT_MARGIN_SECONDS = 5.0  # kept back from the Lambda's remaining time to record and report
HOOK_LIMIT = timedelta(hours=1)  # CodeDeploy fails a hook that has not reported within an hour
CONTINUE_AFTER = timedelta(seconds=30)  # a continuation is set this long after its hand-over (then Scheduler's minute)
Status = Literal["Succeeded", "Failed"]


def stage_checks(stage: HookStage) -> Callable[[HookContext], list[CheckResult]]:
    from pushdeploy.checks import after_install, bake, before_install, smoke, target_health

    return {
        "BeforeInstall": before_install.run,
        "AfterInstall": after_install.run,
        "AfterAllowTestTraffic": smoke.run,
        "BeforeAllowTraffic": target_health.run,
        "AfterAllowTraffic": bake.run,
    }[stage]


@dataclass
class Verdict:
    stage: str
    status: Status | Literal["InProgress"] | None  # None: not reported; InProgress: carried on in a new invocation
    reason: str
    deployment_id: str | None = None
    target: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    reported: bool = False
    invocation: int = 1  # 2 and up: a continuation of a check that outlasted the earlier invocation(s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "status": self.status,
            "reason": self.reason,
            "deployment_id": self.deployment_id,
            "target": self.target,
            "reported": self.reported,
            "invocation": self.invocation,
            "checks": [c.as_dict() for c in self.checks],
        }


def evidence(status: str, reason: str, invocation: int, checks: list[CheckResult]) -> dict[str, Any]:
    """A hook's verdict as the ledger keeps it on the release (``hooks.<stage>``), whoever invoked the hook."""
    return {
        "status": status,
        "reason": reason,
        "at": clock.iso(),
        "invocation": invocation,
        "checks": [c.as_dict() for c in checks],
    }


def conclude(checks: list[CheckResult]) -> tuple[Status, str]:
    failed = [c for c in checks if not c.passed and c.severity == "error"]
    if failed:
        return "Failed", "; ".join(f"{c.name}: {c.message}" for c in failed)
    warnings = [c.name for c in checks if not c.passed]
    passed = ", ".join(c.name for c in checks if c.passed) or "nothing to check"
    return "Succeeded", f"passed: {passed}" + (f"; warnings: {', '.join(warnings)}" if warnings else "")


@dataclass
class HookRunner:
    stage: HookStage
    ledger: Ledger
    load_catalog: Callable[[], TargetCatalog]
    continuations: Continuations | None = None  # None: no schedule group configured, checks cannot carry on

    def handle(self, event: Any, remaining_ms: Callable[[], int], function_arn: str | None = None) -> Verdict:
        invocation = parse_hook_invocation(event)
        if isinstance(invocation, Ignored):
            logger.error("unusable hook invocation", hook=self.stage, reason=invocation.reason)
            self.ledger.record_unprocessable(event, invocation.reason, function=f"hook-{self.stage}")
            deployment_id = event.get("DeploymentId") if isinstance(event, dict) else None
            return Verdict(
                self.stage, None, invocation.reason, deployment_id if isinstance(deployment_id, str) else None
            )
        deployment_id, execution_id = invocation.deployment_id, invocation.execution_id
        verdict = Verdict(self.stage, "Failed", "not evaluated", deployment_id)
        try:
            self._evaluate(verdict, invocation, remaining_ms, function_arn)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a Failed report with its reason
            logger.exception("hook failed", hook=self.stage, deployment_id=deployment_id)
            verdict.status, verdict.reason = "Failed", f"{type(exc).__name__}: {exc}"
        if verdict.status is None:
            return verdict
        self._record(verdict)
        if verdict.status == "InProgress":
            count("HookContinued", hook=self.stage)
            logger.info("hook carries on", hook=self.stage, deployment_id=deployment_id, reason=verdict.reason)
            return verdict
        verdict.reported = self._report(deployment_id, execution_id, verdict.status)
        count("HookSucceeded" if verdict.status == "Succeeded" else "HookFailed", hook=self.stage)
        log = logger.info if verdict.status == "Succeeded" else logger.warning
        log(
            "hook verdict",
            hook=self.stage,
            deployment_id=deployment_id,
            target=verdict.target,
            status=verdict.status,
            reason=verdict.reason,
            checks=[c.as_dict() for c in verdict.checks],
        )
        return verdict

    def _evaluate(
        self,
        verdict: Verdict,
        invocation: HookInvocation,
        remaining_ms: Callable[[], int],
        function_arn: str | None,
    ) -> None:
        deployment_id = invocation.deployment_id
        if invocation.continuation_problem:
            verdict.reason = f"cannot continue the check: {invocation.continuation_problem}"
            return
        try:
            deployment = codedeploy.get_deployment(deployment_id)
        except DeploymentNotFound as exc:
            verdict.reason = str(exc)
            return
        if invocation.continuation and not deployment.is_active:
            verdict.status = None  # stopped or failed while the check carried on: nothing is waiting for a report
            verdict.reason = f"deployment {deployment_id} is {deployment.status}: the check that carried on ends here"
            logger.info("continuation ends", hook=self.stage, deployment_id=deployment_id, status=deployment.status)
            return
        application, group_name = deployment.application, deployment.deployment_group
        catalog = self.load_catalog()
        target = catalog.for_deployment_group(application, group_name)
        if target is None:
            broken = next(
                (e for e in catalog.errors if (e.application, e.deployment_group) == (application, group_name)), None
            )
            if broken is not None:
                verdict.reason = f"target configuration is invalid: {broken}"
                verdict.target = broken.target
                return
            verdict.status = None
            verdict.reason = (
                f"no target names {application}/{group_name}: not reporting for a deployment pushdeploy does not manage"
            )
            logger.error(
                "hook refused: unmanaged deployment",
                hook=self.stage,
                deployment_id=deployment_id,
                application=application,
                deployment_group=group_name,
            )
            self.ledger.record_unprocessable(
                {"DeploymentId": deployment_id, "application": application, "deploymentGroup": group_name},
                verdict.reason,
                function=f"hook-{self.stage}",
            )
            return
        verdict.target = target.name
        if deployment.is_rollback:
            verdict.status, verdict.reason = "Succeeded", "rollback deployment: validators never block a rollback"
            return
        spec = deployment.appspec
        task_definition_arn = spec.task_definition_arn if spec else None
        if spec is None or not task_definition_arn:
            verdict.reason = "the deployment's revision has no AppSpec TaskDefinition"
            return
        seconds = remaining_ms() / 1000.0 - REPORT_MARGIN_SECONDS
        continuation = invocation.continuation
        ctx = HookContext(
            stage=self.stage,
            target=target,
            rollout=TaskSetRollout(codedeploy.describe_group(application, group_name)),
            started_at=deployment.created_at or clock.now(),
            task_definition_arn=task_definition_arn,
            container_name=spec.container_name or target.container_name,
            container_port=spec.container_port or target.container_port,
            budget=Budget.seconds(seconds),
            remedy=deployment.started_as in REMEDY_TRIGGERS,
            resumed=dict(continuation.state) if continuation else {},
        )
        hook_started_at = continuation.hook_started_at if continuation else clock.now()
        verdict.checks = run_with_watchdog(stage_checks(self.stage), ctx, real_seconds=seconds)
        invocations = verdict.invocation = continuation.invocation if continuation else 1
        if ctx.carry_on is not None and not [c for c in verdict.checks if not c.passed and c.severity == "error"]:
            self._carry_on(verdict, invocation, ctx, hook_started_at, function_arn)
            return
        verdict.status, verdict.reason = conclude(verdict.checks)
        if invocations > 1:
            ctx.notes.append(f"over {invocations} invocations")
        if ctx.notes:
            verdict.reason += " (" + "; ".join(ctx.notes) + ")"

    def _carry_on(
        self,
        verdict: Verdict,
        invocation: HookInvocation,
        ctx: HookContext,
        hook_started_at: datetime,
        function_arn: str | None,
    ) -> None:
        """Schedule the next invocation with the check's progress, inside CodeDeploy's hour; else Failed."""
        assert ctx.carry_on is not None
        progress = ctx.carry_on.progress
        at = clock.now() + CONTINUE_AFTER
        if latest_invocation(at) + timedelta(seconds=REPORT_MARGIN_SECONDS) > hook_started_at + HOOK_LIMIT:
            verdict.reason = (
                f"{progress}: the next invocation would come after CodeDeploy's one-hour limit for a lifecycle hook "
                f"(this hook began {clock.iso(hook_started_at)}); not shortening the check"
            )
            return
        if self.continuations is None or not function_arn:
            verdict.reason = (
                f"{progress}: the check outlasts this invocation and cannot carry on "
                "(PUSHDEPLOY_CONTINUATION_GROUP/_ROLE_ARN unset; the template sets them)"
            )
            return
        payload = invocation.continued({**ctx.resumed, **ctx.carry_on.state}, hook_started_at)
        following = payload["PushdeployContinuation"]["invocation"]
        name = f"{self.stage}-{invocation.deployment_id}-{following}"
        outcome = self.continuations.schedule(name, at, function_arn, payload)
        verdict.status = "InProgress"
        verdict.reason = f"{progress}; invocation {following} {outcome} for {clock.iso(at)}"

    def _record(self, verdict: Verdict) -> None:
        if not verdict.deployment_id or not verdict.target:
            return
        try:
            release = self.ledger.release_by_deployment(verdict.deployment_id)
            if release is None:
                logger.info("no release recorded for deployment", deployment_id=verdict.deployment_id)
                return
            self.ledger.record_hook(
                release.target,
                release.release_id,
                self.stage,
                evidence(str(verdict.status), verdict.reason, verdict.invocation, verdict.checks),
            )
        except Exception:  # noqa: BLE001 - evidence is best effort; the report must still go out
            logger.exception("could not record hook evidence", deployment_id=verdict.deployment_id)

    def _report(self, deployment_id: str, execution_id: str, status: Status) -> bool:
        outcome, detail = codedeploy.report_hook_status(deployment_id, execution_id, status)
        if outcome == "already-reported":
            logger.info("hook already reported", hook=self.stage, deployment_id=deployment_id)
        elif outcome == "unreportable":  # no such deployment or execution: retrying cannot help
            logger.error(
                "hook status could not be reported", hook=self.stage, deployment_id=deployment_id, reason=detail
            )
            self.ledger.record_unprocessable(
                {"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution_id, "status": status},
                detail,
                function=f"hook-{self.stage}",
            )
            return False
        return True


def run_with_watchdog(
    checks: Callable[[HookContext], list[CheckResult]], ctx: HookContext, real_seconds: float
) -> list[CheckResult]:
    """Run the checks in a worker thread; a check that hangs past the budget is reported as a failure."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["results"] = checks(ctx)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            outcome["error"] = exc

    context = contextvars.copy_context()  # the checks run with the invocation's context (logger keys, identity)
    worker = threading.Thread(target=context.run, args=(work,), name=f"checks-{ctx.stage}", daemon=True)
    worker.start()
    worker.join(timeout=max(0.1, real_seconds))
    if worker.is_alive():
        return [
            CheckResult(
                "time-budget", False, f"checks did not finish within the function's time budget ({real_seconds:.0f} s)"
            )
        ]
    error = outcome.get("error")
    if isinstance(error, BudgetExhausted):
        return [CheckResult("time-budget", False, f"time budget exhausted: {error}")]
    if error is not None:
        raise error
    return list(outcome["results"])
