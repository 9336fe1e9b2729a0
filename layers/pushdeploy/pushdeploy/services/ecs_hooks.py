"""ECS's lifecycle hooks, for services under ECS's own controller: the same checks as CodeDeploy's five hooks,
answered with ``hookStatus`` (``../shared/contracts.md`` 8.3-8.4). One function serves every stage:

=============================  ====================================================================
PRE_SCALE_UP                   the image (BeforeInstall's checks)
POST_SCALE_UP                  green runs its tasks (AfterInstall's)
POST_TEST_TRAFFIC_SHIFT        smoke requests through the test listener rule (AfterAllowTestTraffic's)
PRE_PRODUCTION_TRAFFIC_SHIFT   green's targets healthy, before every step of linear/canary (BeforeAllowTraffic's)
POST_PRODUCTION_TRAFFIC_SHIFT  the bake under production traffic (AfterAllowTraffic's)
=============================  ====================================================================

Other stages, and any invocation while traffic flows back (a rollback: ECS has no rollback stage), succeed:
validators never block a rollback. A check longer than one invocation answers IN_PROGRESS with ``callBackDelay``
and its progress in ``hookDetails`` (ECS hands them to the next invocation of the same hook in the same
deployment), so a bake may last hours. Never raises: an exception or an unusable payload answers FAILED with the
reason (a raised exception reaches ECS as "HookStatus must not be null").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pushdeploy import clock
from pushdeploy.aws import ecs
from pushdeploy.checks import Budget, CheckResult, HookContext
from pushdeploy.checks.rollouts import RevisionRollout
from pushdeploy.ledger import Ledger
from pushdeploy.model.appspec import HookStage
from pushdeploy.model.ecs_deployments import EcsHookInvocation, HookStatus, hook_response, parse_ecs_hook_invocation
from pushdeploy.model.releases import REMEDY_TRIGGERS, Release
from pushdeploy.model.targets import Target, TargetCatalog
from pushdeploy.observability import count, logger
from pushdeploy.services.hooks import REPORT_MARGIN_SECONDS, conclude, evidence, run_with_watchdog, stage_checks

CHECKS_OF_STAGE: dict[str, HookStage] = {
    "PRE_SCALE_UP": "BeforeInstall",
    "POST_SCALE_UP": "AfterInstall",
    "POST_TEST_TRAFFIC_SHIFT": "AfterAllowTestTraffic",
    "PRE_PRODUCTION_TRAFFIC_SHIFT": "BeforeAllowTraffic",
    "POST_PRODUCTION_TRAFFIC_SHIFT": "AfterAllowTraffic",
}
CALL_BACK_SECONDS = 30  # ECS's default re-invocation delay for IN_PROGRESS
PROGRESS_KEY = "pushdeploy"  # our part of hookDetails (ECS merges it with the hook's configured details)


@dataclass
class EcsVerdict:
    stage: str
    status: HookStatus
    reason: str
    service_deployment_arn: str | None = None
    target: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    invocation: int = 1
    progress: dict[str, Any] | None = None  # with IN_PROGRESS: what the next invocation resumes from
    release: Release | None = None  # the release running the target revision, once looked up

    def response(self) -> dict[str, Any]:
        if self.status == "IN_PROGRESS":
            return hook_response(
                "IN_PROGRESS", callback_delay=CALL_BACK_SECONDS, hook_details={PROGRESS_KEY: self.progress or {}}
            )
        return hook_response(self.status)


@dataclass
class EcsHookRunner:
    ledger: Ledger
    load_catalog: Callable[[], TargetCatalog]

    def handle(self, event: Any, remaining_ms: Callable[[], int]) -> EcsVerdict:
        invocation = parse_ecs_hook_invocation(event)
        if isinstance(invocation, str):
            logger.error("unusable ECS hook invocation", reason=invocation)
            self.ledger.record_unprocessable(event, invocation, function="ecs-hook")
            stage = event.get("lifecycleStage") if isinstance(event, dict) else None
            return EcsVerdict(str(stage or "?"), "FAILED", f"unusable invocation: {invocation}")
        verdict = EcsVerdict(invocation.stage, "FAILED", "not evaluated", invocation.service_deployment_arn)
        try:
            self._evaluate(verdict, invocation, remaining_ms)
        except Exception as exc:  # noqa: BLE001 - every failure answers FAILED with its reason
            logger.exception("ECS hook failed", stage=invocation.stage, deployment=invocation.service_deployment_arn)
            verdict.status, verdict.reason = "FAILED", f"{type(exc).__name__}: {exc}"
        self._record(verdict, invocation)
        count(f"EcsHook{verdict.status.title().replace('_', '')}", stage=invocation.stage)
        log = logger.warning if verdict.status == "FAILED" else logger.info
        log(
            "ECS hook verdict",
            stage=invocation.stage,
            deployment=invocation.service_deployment_arn,
            target=verdict.target,
            status=verdict.status,
            reason=verdict.reason,
            checks=[c.as_dict() for c in verdict.checks],
        )
        return verdict

    def _evaluate(self, verdict: EcsVerdict, invocation: EcsHookInvocation, remaining_ms: Callable[[], int]) -> None:
        # first what needs no lookup that could fail: a rollback is never blocked, and some stages check nothing
        if invocation.is_rollback and _turning_back(invocation):
            verdict.status, verdict.reason = "SUCCEEDED", "traffic flows back (rollback): validators never block it"
            return
        stage = CHECKS_OF_STAGE.get(invocation.stage)
        if stage is None:
            verdict.status, verdict.reason = "SUCCEEDED", f"nothing to check at {invocation.stage}"
            return
        catalog = self.load_catalog()
        target = catalog.for_service(invocation.service_arn)
        if target is None:
            # a hook wired to a service no target names: pushdeploy vouches for nothing, and blocks nothing either
            verdict.status = "SUCCEEDED"
            verdict.reason = (
                f"no target names service {invocation.service_arn}: not checked (remove pushdeploy's hook from the "
                "service, or declare a target for it)"
            )
            logger.error("ECS hook for a service no target names", service=invocation.service_arn)
            self.ledger.record_unprocessable(invocation.__dict__, verdict.reason, function="ecs-hook")
            return
        verdict.target = target.name
        task_definition_arn = ecs.revision_task_definition(invocation.target_revision_arn)
        release = verdict.release = self.ledger.release_by_task_definition(task_definition_arn)
        progress = _progress_of(invocation)
        verdict.invocation = int(progress.get("invocation", 0)) + 1 if progress else 1
        seconds = remaining_ms() / 1000.0 - REPORT_MARGIN_SECONDS
        ctx = HookContext(
            stage=stage,
            target=target,
            rollout=RevisionRollout(
                ecs.service_setup(*_cluster_and_service(target)), invocation.service_deployment_arn
            ),
            started_at=_deployment_started(invocation),
            task_definition_arn=task_definition_arn,
            container_name=target.container_name,
            container_port=target.container_port,
            budget=Budget.seconds(seconds),
            remedy=release is not None and release.trigger in REMEDY_TRIGGERS,
            resumed=dict(progress.get("state") or {}) if progress else {},
        )
        verdict.checks = run_with_watchdog(stage_checks(stage), ctx, real_seconds=seconds)
        failed = [c for c in verdict.checks if not c.passed and c.severity == "error"]
        if ctx.carry_on is not None and not failed:
            verdict.status = "IN_PROGRESS"
            verdict.reason = f"{ctx.carry_on.progress}; ECS invokes again in {CALL_BACK_SECONDS} s"
            verdict.progress = {
                "stage": invocation.stage,
                "step": _step(invocation),
                "invocation": verdict.invocation,
                "state": {**ctx.resumed, **ctx.carry_on.state},
            }
            return
        status, verdict.reason = conclude(verdict.checks)
        verdict.status = "SUCCEEDED" if status == "Succeeded" else "FAILED"
        if verdict.status == "FAILED" and ctx.remedy:
            # FAILED would make ECS roll back to the last successful revision: the release this remedy removes
            verdict.status = "SUCCEEDED"
            verdict.reason = f"checks failed during a remedy, not blocking it (escalated): {verdict.reason}"
            logger.error("REMEDY CHECKS FAILED: the remedy goes on", target=target.name, reason=verdict.reason)
        if verdict.invocation > 1:
            ctx.notes.append(f"over {verdict.invocation} invocations")
        if ctx.notes:
            verdict.reason += " (" + "; ".join(ctx.notes) + ")"

    def _record(self, verdict: EcsVerdict, invocation: EcsHookInvocation) -> None:
        """The verdict as evidence on the release that runs the target revision (best effort)."""
        release = verdict.release
        if release is None or release.target != verdict.target or invocation.stage not in CHECKS_OF_STAGE:
            return
        try:
            status = {"SUCCEEDED": "Succeeded", "FAILED": "Failed"}.get(verdict.status, "InProgress")
            self.ledger.record_hook(
                release.target,
                release.release_id,
                invocation.stage,
                evidence(status, verdict.reason, verdict.invocation, verdict.checks),
            )
        except Exception:  # noqa: BLE001 - evidence is best effort; the answer must still go out
            logger.exception("could not record ECS hook evidence", deployment=invocation.service_deployment_arn)


def _turning_back(invocation: EcsHookInvocation) -> bool:
    """The weights look like a rollback: confirmed by the deployment's status (the first forward shift of a step
    has the same weights); unreadable: taken as a rollback (a rollback is never blocked)."""
    try:
        found = ecs.service_deployment(invocation.service_deployment_arn)
    except Exception:  # noqa: BLE001 - when in doubt, never block the way back
        return True
    return found is None or found.rolled_back


def _cluster_and_service(target: Target) -> tuple[str, str]:
    return str(target.cluster), str(target.service)


def _step(invocation: EcsHookInvocation) -> str:
    """Which step of the deployment this is: PRE_PRODUCTION_TRAFFIC_SHIFT runs before every linear/canary step, and
    its progress must not carry from one step to the next."""
    return str(invocation.production_weights.get(invocation.target_revision_arn, ""))


def _progress_of(invocation: EcsHookInvocation) -> dict[str, Any] | None:
    """Our progress from an earlier invocation of this hook at this stage and step (else a fresh start: hookDetails
    merged for an earlier stage or step are not this check's)."""
    progress = invocation.hook_details.get(PROGRESS_KEY)
    if not isinstance(progress, dict):
        return None
    if progress.get("stage") != invocation.stage or progress.get("step") != _step(invocation):
        return None
    return progress


def _deployment_started(invocation: EcsHookInvocation) -> datetime:
    found = ecs.service_deployment(invocation.service_deployment_arn)
    return (found.created_at if found else None) or clock.now()
