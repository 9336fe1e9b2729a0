"""pushdeploy's own checks for a service under ECS's rolling update, where ECS runs no lifecycle hooks.

=====================  =============================================================================================
before UpdateService   the image (BeforeInstall's checks): a release that fails them never deploys (FAILED, told)
after ECS completes    the tasks run (AfterInstall's), the service's targets are healthy (BeforeAllowTraffic's) and
                       production baked (AfterAllowTraffic's: watched alarms quiet, the 5xx rate and latency of the
                       service's target group, measured from the completion on)
=====================  =============================================================================================

ECS has no bake for a rolling update, so the release's bake is measured after the fact: the checks are due
``bake_seconds`` after ECS's completion. The deployment-events visit that records the completion sets a one-time
EventBridge Scheduler schedule for then (``Checks-<release id>``, invoking the deployment-events function, within
Scheduler's minute); any later visit whose time has come runs them too, at the latest the 5-minute reconcile sweep,
so a lost schedule delays the checks and never skips them, and a release is never made KNOWN_GOOD before they have
run. The bake's figures come from CloudWatch over the whole window whenever they are read. A check that cannot
conclude yet (targets still registering) is due again at the next visit; its deadline counts from when the checks
first ran. While another release starts or deploys they wait (what they would measure is not this release's), and a
failure never queues a revert behind a newer release (it would undo it); checks that cannot conclude for 6 hours are
given up, and the release never becomes KNOWN_GOOD.

The evidence is kept on the release under the stage names, as a hook's is. A failure reverts to KNOWN_GOOD (the
release REVERTED, its digest quarantined), as an alarm in the watch window does. A remedy is not checked: it goes
back to a release that already proved itself, and nothing blocks the way back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pushdeploy import clock
from pushdeploy.aws import ecs
from pushdeploy.aws.scheduler import Continuations
from pushdeploy.checks import Budget, CheckResult, HookContext
from pushdeploy.checks.rollouts import RevisionRollout
from pushdeploy.ledger import Ledger
from pushdeploy.model.appspec import HookStage
from pushdeploy.model.ecs_deployments import ServiceSetup
from pushdeploy.model.events import RollingChecksDue
from pushdeploy.model.releases import Release
from pushdeploy.model.results import Result
from pushdeploy.model.targets import Target
from pushdeploy.observability import count, logger
from pushdeploy.services.hooks import conclude, evidence, run_with_watchdog, stage_checks

AFTER_COMPLETION: tuple[HookStage, ...] = ("AfterInstall", "BeforeAllowTraffic", "AfterAllowTraffic")
CHECK_SECONDS = 10.0  # what one visit gives each stage's checks: they read what is (a sweep visits every target)
IMAGE_CHECK_SECONDS = 30.0  # the image checks read the manifest and its config from ECR before UpdateService
CLAIM_SECONDS = 240  # a visit holds the checks this long (the function times out after 120 s)
WAIT_LIMIT = timedelta(hours=6)  # checks that cannot conclude (the service keeps changing) are given up then


def is_rolling(target: Target) -> bool:
    """The target's service is under ECS's rolling update (read from the service, cached)."""
    if target.through_codedeploy:
        return False
    return ecs.service_setup(str(target.cluster), str(target.service)).kind == "ROLLING"


def context(
    stage: HookStage,
    target: Target,
    setup: ServiceSetup,
    release: Release,
    task_definition_arn: str,
    *,
    started_at: datetime,
    since: datetime | None = None,
) -> HookContext:
    """The checks' view of a rolling release (``since``: when the check's own clock starts)."""
    return HookContext(
        stage=stage,
        target=target,
        rollout=RevisionRollout(setup, release.deployment_id or ""),
        started_at=started_at,
        task_definition_arn=task_definition_arn,
        container_name=target.container_name,
        container_port=target.container_port,
        budget=Budget.seconds(CHECK_SECONDS),
        remedy=release.is_remedy,
        resumed={"started_at": clock.iso(since)} if since is not None else {},
    )


def image_checks(target: Target, setup: ServiceSetup, release: Release, task_definition_arn: str) -> list[CheckResult]:
    """BeforeInstall's checks of the registered revision, before UpdateService."""
    ctx = context("BeforeInstall", target, setup, release, task_definition_arn, started_at=clock.now())
    ctx.budget = Budget.seconds(IMAGE_CHECK_SECONDS)
    return run_with_watchdog(stage_checks("BeforeInstall"), ctx, real_seconds=IMAGE_CHECK_SECONDS)


def checks_due(target: Target, completed_at: str) -> str:
    """When the checks of a release ECS completed at ``completed_at`` are due: once it has baked."""
    return clock.iso(clock.parse(completed_at) + timedelta(seconds=target.checks.after_allow_traffic.bake_seconds))


class Revert(Protocol):
    """Reverts.revert: back to KNOWN_GOOD, ``bad`` quarantined and REVERTED."""

    def __call__(self, target: Target, *, bad: Release | None, reason: str) -> Result: ...


@dataclass
class RollingChecks:
    """The checks after ECS completed a rolling update, and what their failure does."""

    ledger: Ledger
    revert: Revert
    # where this function schedules the checks (read per invocation); None: no schedule group, the sweep runs them
    schedules: Callable[[], Continuations | None] = lambda: None

    def run_due(self, target: Target, function_arn: str | None = None) -> list[Result]:
        """Run the checks of the releases of ``target`` that are due (one visit at a time holds them); for checks due
        later, make sure a schedule invokes ``function_arn`` (this function) then."""
        results = []
        for release in self._with_checks(target):
            due = release.checks_due_at
            if not due:
                continue
            if clock.now() < clock.parse(due):
                self._schedule(target, release, clock.parse(due), function_arn)
                continue
            until = clock.iso(clock.now() + timedelta(seconds=CLAIM_SECONDS))
            if not self.ledger.claim_due_checks(target.name, release.release_id, due, until):
                continue  # another visit runs them now
            try:
                results.append(self._check(target, release))
            except Exception:
                logger.exception("rolling checks could not run: due again at the next visit", target=target.name)
                self._again(target, release)
                raise
        return results

    def _with_checks(self, target: Target) -> list[Release]:
        """Releases whose checks are due or scheduled: the candidate's (however old), and any recent one's."""
        found = {r.release_id: r for r in self.ledger.releases(target.name, limit=10) if r.checks_due_at}
        candidate = self.ledger.candidate(target.name)
        if candidate is not None and candidate.release_id not in found:
            release = self.ledger.get_release(target.name, candidate.release_id)
            if release is not None and release.checks_due_at:
                found[release.release_id] = release
        return list(found.values())

    def _again(self, target: Target, release: Release) -> None:
        """Not concluded: due again at the next visit (the release stays on probation meanwhile)."""
        self.ledger.update_release(
            target.name, release.release_id, checks_due_at=clock.iso(), checks_claimed_until=None
        )

    def _done(self, target: Target, release: Release) -> None:
        self.ledger.update_release(target.name, release.release_id, checks_due_at=None, checks_claimed_until=None)

    def _schedule(self, target: Target, release: Release, due: datetime, function_arn: str | None) -> None:
        schedules = self.schedules()
        if schedules is None or not function_arn:
            return
        try:
            schedules.schedule(
                f"Checks-{release.release_id}"[:64],
                due,
                function_arn,
                RollingChecksDue(target.name, release.release_id).as_payload(),
                description="pushdeploy: a rolling update's checks are due",
            )
        except Exception:  # noqa: BLE001 - the sweep runs them anyway, minutes later
            logger.exception("could not schedule the rolling checks (the sweep runs them)", target=target.name)

    def _off_probation(self, target: Target, release: Release | None) -> str | None:
        """Why ``release`` (as just read) is no longer the one its checks decide on, if it is not."""
        if release is None:
            return "it is gone"
        if release.status != "SUCCEEDED":
            return f"it is {release.status} already"
        candidate = self.ledger.candidate(target.name)
        if candidate is None or candidate.release_id != release.release_id:
            return "it is no longer on probation (a newer release is)"
        return None

    def _check(self, target: Target, release: Release) -> Result:
        name = release.tag or release.digest
        off = self._off_probation(target, release)
        if off:
            reason = f"checks of {name} not run: {off}"
            self._done(target, release)
            logger.info("rolling checks skipped", target=target.name, release_id=release.release_id, reason=reason)
            return Result("recorded", reason, target.name, release.release_id, release.deployment_id)
        replacing = self._replacing(target, release)
        if replacing:  # what they would measure is not this release's any more: due again when the service settles
            return self._wait(target, release, f"checks of {name} wait: {replacing}")
        setup = ecs.service_setup(str(target.cluster), str(target.service), refresh=True)
        deployment = ecs.service_deployment(release.deployment_id or "")
        completed = clock.parse(release.finished_at or clock.iso())
        if not release.checks_started_at:
            release.checks_started_at = clock.iso()
            self.ledger.update_release(target.name, release.release_id, checks_started_at=release.checks_started_at)
        began = clock.parse(release.checks_started_at)
        started = (deployment.created_at if deployment else None) or clock.parse(release.started_at or clock.iso())
        for stage in AFTER_COMPLETION:
            # the bake is measured from the completion on; the waits (tasks, targets) from when the checks began
            since = completed if stage == "AfterAllowTraffic" else began
            ctx = context(
                stage, target, setup, release, str(release.task_definition_arn), started_at=started, since=since
            )
            checks = run_with_watchdog(stage_checks(stage), ctx, real_seconds=CHECK_SECONDS)
            out_of_time = any(c.name == "time-budget" for c in checks)  # a slow read says nothing of the release
            failed = any(not c.passed and c.severity == "error" for c in checks) and not out_of_time
            if (ctx.carry_on is not None or out_of_time) and not failed:
                progress = ctx.carry_on.progress if ctx.carry_on else "the checks ran out of time"
                self.ledger.record_hook(
                    target.name, release.release_id, stage, evidence("InProgress", progress, 1, checks)
                )
                return self._wait(target, release, f"{stage}: {progress}")
            status, why = conclude(checks)
            self.ledger.record_hook(target.name, release.release_id, stage, evidence(status, why, 1, checks))
            if status == "Failed":
                return self._failed(target, release, stage, why)
        self._done(target, release)
        logger.info("rolling checks passed", target=target.name, release_id=release.release_id)
        return Result(
            "recorded",
            f"checks after the rolling update passed ({', '.join(AFTER_COMPLETION)})",
            target.name,
            release.release_id,
            release.deployment_id,
        )

    def _wait(self, target: Target, release: Release, why: str) -> Result:
        """Not concluded: due again at the next visit; after WAIT_LIMIT, given up (never KNOWN_GOOD unchecked)."""
        began = clock.parse(release.checks_started_at or release.checks_due_at or clock.iso())
        if clock.now() - began < WAIT_LIMIT:
            self._again(target, release)
            return Result("recorded", why, target.name, release.release_id, release.deployment_id)
        reason = f"its checks could not conclude in {clock.span(WAIT_LIMIT.total_seconds())}: {why}"
        logger.error("rolling checks given up: the release never becomes known good", target=target.name, why=why)
        self.ledger.update_release(target.name, release.release_id, reason=reason)
        self.ledger.clear_candidate(target.name, release.release_id)
        self._done(target, release)
        return Result("recorded", reason, target.name, release.release_id, release.deployment_id)

    def _replacing(self, target: Target, release: Release) -> str | None:
        """What is replacing ``release`` on the service (another release starting, another deployment, another task
        definition), if anything."""
        holder = self.ledger.lane_holder(target.name)
        if holder and holder != release.release_id:
            held = self.ledger.get_release(target.name, holder)
            if held is not None and held.is_deploying:
                return f"release {held.tag or held.digest} ({held.trigger}) is starting or deploying"
        cluster, name = str(target.cluster), str(target.service)
        active = ecs.active_service_deployments(cluster, name)
        if active:
            return f"deployment {active[0].arn} is in progress"
        current = ecs.describe_service(cluster, name).task_definition_arn
        if current != release.task_definition_arn:
            return f"the service runs {current}, not {release.task_definition_arn}"
        return None

    def _failed(self, target: Target, release: Release, stage: str, why: str) -> Result:
        """The release failed its checks: back to KNOWN_GOOD, as an alarm in its watch window does (never a revert
        that would land after a newer deployment and undo it; never with auto_revert off)."""
        count("RollingChecksFailed", stage=stage)
        reason = f"{stage} checks failed after ECS completed the rolling update: {why}"
        logger.warning("rolling checks failed", target=target.name, stage=stage, reason=why)
        off = self._off_probation(target, self.ledger.get_release(target.name, release.release_id))
        if off:  # something else acted meanwhile (an alarm's revert, a newer release): the evidence is kept
            self._done(target, release)
            return Result("recorded", f"{reason} ({off})", target.name, release.release_id)
        replacing = self._replacing(target, release)
        if replacing or not target.rollback.auto_revert:
            note = f"not reverted: {replacing}" if replacing else "auto_revert is off"
            self.ledger.update_release(target.name, release.release_id, reason=f"{reason} ({note})")
            self.ledger.clear_candidate(target.name, release.release_id)  # never KNOWN_GOOD
            self._done(target, release)
            return Result("recorded", f"{reason} ({note})", target.name, release.release_id, release.deployment_id)
        result = self.revert(target, bad=release, reason=reason)
        self._done(target, release)
        return result
