"""The five CodeDeploy lifecycle hooks: run the stage's checks, record the evidence, report exactly once.

Whatever happens (an exception, an unknown deployment, a target with bad config, a check that hangs, the
time budget running out) the hook reports ``Failed`` with the reason, so CodeDeploy never waits for its
one-hour timeout. The one exception is a deployment of an application no target names: pushdeploy's
validators do not vouch for deployments they were not configured for, so they report nothing (and say so).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pushdeploy import appspec, aws, clock, deployments
from pushdeploy.checks import Budget, BudgetExhausted, CheckResult, HookContext
from pushdeploy.errors import DeploymentNotFound
from pushdeploy.ledger import Ledger
from pushdeploy.observability import count, logger
from pushdeploy.targets import TargetCatalog

REPORT_MARGIN_SECONDS = 5.0
UNREPORTABLE = frozenset(
    {
        "DeploymentDoesNotExistException",
        "InvalidDeploymentIdException",
        "InvalidLifecycleEventHookExecutionIdException",
        "DeploymentIdRequiredException",
        "UnsupportedActionForDeploymentTypeException",
    }
)  # kept back from the Lambda's remaining time to record and report
Status = Literal["Succeeded", "Failed"]


def _stage_checks(stage: appspec.HookStage) -> Callable[[HookContext], list[CheckResult]]:
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
    status: Status | None  # None: not reported (no target names this deployment)
    reason: str
    deployment_id: str | None = None
    target: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    reported: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "status": self.status,
            "reason": self.reason,
            "deployment_id": self.deployment_id,
            "target": self.target,
            "reported": self.reported,
            "checks": [c.as_dict() for c in self.checks],
        }


def conclude(checks: list[CheckResult]) -> tuple[Status, str]:
    failed = [c for c in checks if not c.passed and c.severity == "error"]
    if failed:
        return "Failed", "; ".join(f"{c.name}: {c.message}" for c in failed)
    warnings = [c.name for c in checks if not c.passed]
    return "Succeeded", f"{len(checks)} check(s) passed" + (f" (warnings: {', '.join(warnings)})" if warnings else "")


@dataclass
class HookRunner:
    stage: appspec.HookStage
    ledger: Ledger
    load_catalog: Callable[[], TargetCatalog]

    def handle(self, event: Any, remaining_ms: Callable[[], int]) -> Verdict:
        deployment_id, execution_id = _ids(event)
        if not deployment_id or not execution_id:
            reason = "event lacks DeploymentId or LifecycleEventHookExecutionId: nothing can be reported"
            logger.error("unusable hook invocation", hook=self.stage, reason=reason)
            self.ledger.record_unprocessable(event, reason, function=f"hook-{self.stage}")
            return Verdict(self.stage, None, reason, deployment_id)
        verdict = Verdict(self.stage, "Failed", "not evaluated", deployment_id)
        try:
            self._evaluate(verdict, deployment_id, remaining_ms)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a Failed report with its reason
            logger.exception("hook failed", hook=self.stage, deployment_id=deployment_id)
            verdict.status, verdict.reason = "Failed", f"{type(exc).__name__}: {exc}"
        if verdict.status is None:
            return verdict
        self._record(verdict)
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

    def _evaluate(self, verdict: Verdict, deployment_id: str, remaining_ms: Callable[[], int]) -> None:
        try:
            deployment = deployments.get_deployment(deployment_id)
        except DeploymentNotFound as exc:
            verdict.reason = str(exc)
            return
        application, group_name = deployment.get("applicationName", ""), deployment.get("deploymentGroupName", "")
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
        if deployment.get("creator") == deployments.ROLLBACK_CREATOR:
            verdict.status, verdict.reason = "Succeeded", "rollback deployment: validators never block a rollback"
            return
        spec = _appspec_of(deployment)
        task_definition_arn = appspec.task_definition_of(spec) if spec else None
        if not task_definition_arn:
            verdict.reason = "the deployment's revision has no AppSpec TaskDefinition"
            return
        lb_info = _lb_info(spec)
        seconds = remaining_ms() / 1000.0 - REPORT_MARGIN_SECONDS
        ctx = HookContext(
            stage=self.stage,
            target=target,
            group=deployments.describe_group(application, group_name),
            deployment=deployment,
            task_definition_arn=task_definition_arn,
            container_name=str(lb_info.get("ContainerName", target.container_name)),
            container_port=int(lb_info.get("ContainerPort", target.container_port)),
            budget=Budget.seconds(seconds),
        )
        verdict.checks = _run_with_watchdog(_stage_checks(self.stage), ctx, real_seconds=seconds)
        verdict.status, verdict.reason = conclude(verdict.checks)
        if ctx.notes:
            verdict.reason += " (" + "; ".join(ctx.notes) + ")"

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
                {
                    "status": verdict.status,
                    "reason": verdict.reason,
                    "at": clock.iso(),
                    "checks": [c.as_dict() for c in verdict.checks],
                },
            )
        except Exception:  # noqa: BLE001 - evidence is best effort; the report must still go out
            logger.exception("could not record hook evidence", deployment_id=verdict.deployment_id)

    def _report(self, deployment_id: str, execution_id: str, status: Status) -> bool:
        try:
            aws.client("codedeploy").put_lifecycle_event_hook_execution_status(
                deploymentId=deployment_id, lifecycleEventHookExecutionId=execution_id, status=status
            )
        except Exception as exc:
            code = aws.error_code(exc)
            if code == "LifecycleEventAlreadyCompletedException":
                logger.info("hook already reported", hook=self.stage, deployment_id=deployment_id)
                return True
            if code in UNREPORTABLE:  # no such deployment or execution: retrying cannot help
                logger.error(
                    "hook status could not be reported",
                    hook=self.stage,
                    deployment_id=deployment_id,
                    code=code,
                    reason=aws.error_message(exc),
                )
                self.ledger.record_unprocessable(
                    {"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution_id, "status": status},
                    f"{code}: {aws.error_message(exc)}",
                    function=f"hook-{self.stage}",
                )
                return False
            raise  # throttled or unavailable after retries: Lambda retries the invocation, which reports again
        return True


def _ids(event: Any) -> tuple[str | None, str | None]:
    if not isinstance(event, dict):
        return None, None
    deployment_id, execution_id = event.get("DeploymentId"), event.get("LifecycleEventHookExecutionId")
    return (
        deployment_id if isinstance(deployment_id, str) and deployment_id else None,
        execution_id if isinstance(execution_id, str) and execution_id else None,
    )


def _appspec_of(deployment: dict[str, Any]) -> dict[str, Any] | None:
    import json

    revision = deployment.get("revision") or {}
    content = (revision.get("appSpecContent") or {}).get("content") or (revision.get("string") or {}).get("content")
    if not content:
        return None
    try:
        return dict(json.loads(content))
    except ValueError:
        import yaml

        loaded = yaml.safe_load(content)
        return loaded if isinstance(loaded, dict) else None


def _lb_info(spec: dict[str, Any] | None) -> dict[str, Any]:
    for resource in (spec or {}).get("Resources", []):
        props = (resource.get("TargetService") or {}).get("Properties") or {}
        if props.get("LoadBalancerInfo"):
            return dict(props["LoadBalancerInfo"])
    return {}


def _run_with_watchdog(
    checks: Callable[[HookContext], list[CheckResult]], ctx: HookContext, real_seconds: float
) -> list[CheckResult]:
    """Run the checks in a worker thread; a check that hangs past the budget is reported as a failure."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["results"] = checks(ctx)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"checks-{ctx.stage}", daemon=True)
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
