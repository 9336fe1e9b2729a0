"""The release lifecycle after a deployment starts: verdicts from CodeDeploy, known-good promotion, the queue,
reconciliation.

CodeDeploy's state-change events are best effort and unordered, so every decision is taken on GetDeployment's
answer, and every visit reconciles the target's other unfinished releases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pushdeploy import clock
from pushdeploy.aws import cloudwatch, deployments, ecs
from pushdeploy.errors import DeploymentNotFound
from pushdeploy.ledger import Ledger
from pushdeploy.ledger.claims import CLAIM_LEASE_SECONDS
from pushdeploy.model.deployments import Deployment
from pushdeploy.model.ecs_deployments import ServiceEvent, parse_service_event
from pushdeploy.model.events import (
    DeploymentEvent,
    Ignored,
    RollingChecksDue,
    is_scheduled_sweep,
    parse_deployment_event,
    parse_rolling_checks_due,
)
from pushdeploy.model.images import parse_image_uri
from pushdeploy.model.releases import WAITING_FOR_RETRY, Release, ReleaseStatus
from pushdeploy.model.results import Result
from pushdeploy.model.targets import Target, TargetCatalog
from pushdeploy.observability import count, logger
from pushdeploy.services.notify import Notifier, commit_labels
from pushdeploy.services.retention import Retention
from pushdeploy.services.rolling import Revert, RollingChecks, checks_due, is_rolling
from pushdeploy.services.starter import Starter

STATUS_BY_DEPLOYMENT: dict[str, ReleaseStatus] = {"Succeeded": "SUCCEEDED", "Failed": "FAILED", "Stopped": "STOPPED"}


@dataclass
class Lifecycle:
    ledger: Ledger
    starter: Starter
    notifier: Notifier
    retention: Retention
    rolling: RollingChecks | None = None  # runs a rolling update's checks (the deployment-events function does)
    revert: Revert | None = None  # Reverts.revert: back to KNOWN_GOOD

    def handle(self, event: Any, catalog: TargetCatalog, function_arn: str | None = None) -> list[Result]:
        """The deployment-events function (``function_arn``: its own): CodeDeploy's and ECS's state changes, the
        scheduled reconciliation sweep, and a rolling update's checks when they are due."""
        if is_scheduled_sweep(event):
            return self.sweep(catalog, function_arn)
        service_event = parse_service_event(event)
        if isinstance(service_event, str):
            self.ledger.record_unprocessable(event, service_event, function="deployment-events")
            logger.warning("malformed ECS deployment event kept in the ledger", reason=service_event)
            return [Result("ignored", service_event)]
        if service_event is not None:
            return [self.on_service_event(service_event, catalog, function_arn)]
        checks_due = parse_rolling_checks_due(event)
        if checks_due is not None:
            return self.on_checks_due(checks_due, catalog, event)
        parsed = parse_deployment_event(event)
        if isinstance(parsed, Ignored):
            if parsed.malformed:
                self.ledger.record_unprocessable(event, parsed.reason, function="deployment-events")
                logger.warning("malformed CodeDeploy event kept in the ledger", reason=parsed.reason)
            else:
                logger.info("event ignored", reason=parsed.reason)
            return [Result("ignored", parsed.reason)]
        return [self.on_deployment_event(parsed, catalog)]

    def on_checks_due(self, due: RollingChecksDue | Ignored, catalog: TargetCatalog, event: Any) -> list[Result]:
        """A schedule says a rolling update's checks are due (services/rolling.py)."""
        if isinstance(due, Ignored):
            reason = due.reason
        else:
            target = catalog.by_name(due.target)
            if target is not None:
                checked = self.run_due_checks(target)
                return checked or [Result("recorded", "no checks due (already run)", target.name, due.release_id)]
            reason = f"no target named {due.target}"
        self.ledger.record_unprocessable(event, reason, function="deployment-events")
        logger.warning("rolling checks event not usable, kept in the ledger", reason=reason)
        return [Result("ignored", reason)]

    def sweep(self, catalog: TargetCatalog, function_arn: str | None = None) -> list[Result]:
        results = []
        for target in catalog.targets:
            try:
                fixed = self.reconcile(target)
            except Exception:  # noqa: BLE001 - one target's trouble never stops the sweep of the others
                logger.exception("reconciliation failed", target=target.name)
                results.append(Result("failed", "reconciliation failed", target.name))
                continue
            results.append(Result("recorded", f"reconciled {fixed} release(s)", target.name))
            results.extend(self.run_due_checks(target, function_arn))
        return results

    def run_due_checks(self, target: Target, function_arn: str | None = None) -> list[Result]:
        """A rolling update's checks that are due (then the promotion they held back, if it is due too); those due
        later are scheduled to invoke ``function_arn``."""
        if self.rolling is None or target.through_codedeploy:
            return []
        try:
            results = self.rolling.run_due(target, function_arn)
        except Exception:  # noqa: BLE001 - due again at the next visit; the release is not promoted meanwhile
            logger.exception("rolling checks failed to run", target=target.name)
            return [Result("failed", "rolling checks failed to run (due again at the next visit)", target.name)]
        if results:
            self.promote_if_due(target)
        return results

    # -- deployment state changes ----------------------------------------------------------------------------
    def on_deployment_event(self, event: DeploymentEvent, catalog: TargetCatalog) -> Result:
        target = catalog.for_deployment_group(event.application, event.deployment_group)
        if target is None:
            reason = f"no target deploys {event.application}/{event.deployment_group}"
            logger.info("deployment event ignored", deployment_id=event.deployment_id, reason=reason)
            return Result("ignored", reason)
        result = self.sync_deployment(target, event.deployment_id, event_state=event.state)
        self.reconcile(target, skip={event.deployment_id})
        return result

    def on_service_event(self, event: ServiceEvent, catalog: TargetCatalog, function_arn: str | None = None) -> Result:
        """ECS says something happened to a service's deployment: its event names the service, not the deployment
        (and may come twice, or late): read the service's deployments and settle every unfinished release."""
        target = catalog.for_service(event.service_arn)
        if target is None:
            reason = f"no target deploys {event.service_arn}"
            logger.info("ECS deployment event ignored", service=event.service_arn, reason=reason)
            return Result("ignored", reason)
        fixed = self.reconcile(target)
        checked = self.run_due_checks(target, function_arn)
        if any(result.outcome == "revert-started" for result in checked):
            return checked[-1]
        return Result("recorded", f"{event.name}: settled {fixed} release(s)", target.name)

    def sync_deployment(self, target: Target, deployment_id: str, *, event_state: str | None = None) -> Result:
        """Bring the ledger in line with what CodeDeploy says about ``deployment_id``."""
        try:
            deployment = deployments.get_deployment(deployment_id)
        except DeploymentNotFound as exc:
            logger.warning("deployment unknown to CodeDeploy", deployment_id=deployment_id, reason=str(exc))
            return Result("ignored", str(exc), target.name, deployment_id=deployment_id)
        release = self.ledger.release_by_deployment(deployment_id)
        if release is not None:
            deployment = deployment.explained_by(release.failed_hook())
        if release is None and deployment.is_rollback:
            release = self._record_rollback(target, deployment)
        if release is None:
            reason = f"deployment {deployment_id} was not started by pushdeploy (unknown to the ledger)"
            logger.info(
                "deployment event for an unknown deployment",
                deployment_id=deployment_id,
                target=target.name,
                reason=reason,
            )
            return Result("ignored", reason, target.name, deployment_id=deployment_id)
        if release.deployment_id != deployment_id and deployment_id in release.earlier_deployment_ids:
            reason = f"deployment {deployment_id} was an earlier attempt of release {release.release_id}"
            return Result("recorded", reason, target.name, release.release_id, deployment_id)
        status = STATUS_BY_DEPLOYMENT.get(deployment.status)
        if status is None:  # still running: Created, Queued, InProgress, Ready, Baking
            if event_state == "READY" and release.status == "IN_PROGRESS":
                self.notifier.tell(target, release, "READY")
            return Result(
                "recorded",
                f"deployment {deployment_id} is {deployment.status}",
                target.name,
                release.release_id,
                deployment_id,
            )
        if release.status == status or (release.status == "REVERTED" and status == "SUCCEEDED"):
            return Result("recorded", f"release already {status}", target.name, release.release_id, deployment_id)
        if release.status != "IN_PROGRESS":  # it ended already (a late or duplicated event): the ledger stands
            return Result(
                "recorded", f"release already {release.status}", target.name, release.release_id, deployment_id
            )
        if self._not_its_fault(target, release, deployment):
            self._retry(target, release, deployment)
            self._after_terminal(target)
            return Result(
                "queued",
                f"release {release.release_id} stopped through no fault of its own: {release.reason}",
                target.name,
                release.release_id,
                deployment_id,
            )
        self._finish(target, release, status, deployment)
        self._after_terminal(target)
        return Result(
            "recorded", f"release {release.release_id} {status}", target.name, release.release_id, deployment_id
        )

    def _finish(self, target: Target, release: Release, status: ReleaseStatus, deployment: Deployment) -> None:
        release.status = status
        release.finished_at = clock.iso(deployment.completed_at) if deployment.completed_at else clock.iso()
        if not release.commit:
            release.commit = commit_labels(release.image_uri)
        changes: dict[str, Any] = {"status": status, "finished_at": release.finished_at, "commit": release.commit}
        if status != "SUCCEEDED" and not release.reason:
            # CodeDeploy never learns why a hook failed (the report carries no reason): the ledger knows
            why = release.failed_hook() or self._stopped_tasks(target, release, deployment) or deployment.error
            if why:
                release.reason = changes["reason"] = why
        if deployment.rollback_deployment_id:
            release.rolled_back_by = changes["rolled_back_by"] = deployment.rollback_deployment_id
        if deployment.stopped_by_alarm and not release.is_remedy:
            self._stopped_by_alarm(target, release, deployment, changes)
        if status == "SUCCEEDED" and not release.is_remedy and is_rolling(target):
            # ECS ran no hooks: pushdeploy's own checks are due once the release has baked (services/rolling.py)
            release.checks_due_at = changes["checks_due_at"] = checks_due(target, release.finished_at)
        self.ledger.update_release(target.name, release.release_id, **changes)
        if release.trigger == "push":  # it ended: a later push of the digest is a new intent
            self.ledger.give_back_claim(target.name, release.digest, release.release_id)
        if status == "SUCCEEDED":
            self.ledger.set_live(release)
        if not target.through_codedeploy:
            self._restore_service_settings(target, release)
            self.ledger.free_lane(target.name, release.release_id)  # the service may take the next deployment
        count("DeploymentSucceeded" if status == "SUCCEEDED" else "DeploymentFailed")
        logger.info(
            "release finished",
            target=target.name,
            release_id=release.release_id,
            status=status,
            deployment_id=release.deployment_id,
            reason=release.reason,
        )
        if status == "SUCCEEDED" and not release.is_remedy and self.ledger.is_quarantined(target.name, release.digest):
            self._completed_after_stop(target, release)
            return
        if status == "SUCCEEDED" and release.trigger != "rollback":
            self._became_candidate(target, release)
        if status != "SUCCEEDED" and release.is_remedy:
            self._remedy_failed(target, release)  # one loud message, not "failed and was rolled back"
        else:
            self.notifier.tell(target, release, status)

    def _completed_after_stop(self, target: Target, release: Release) -> None:
        """Its deployment completed although pushdeploy stopped it and quarantined its digest (the stop lost a race
        with the end, or did not take): what the stop asked for is finished, back to KNOWN_GOOD; never a candidate."""
        why = f"its deployment completed after pushdeploy stopped it ({release.reason or 'quarantined'})"
        logger.error("quarantined release completed: reverting", target=target.name, release_id=release.release_id)
        if self.revert is None:
            self.ledger.update_release(target.name, release.release_id, reason=why)
            self.notifier.tell(target, release, "SUCCEEDED")
            return
        self.revert(target, bad=release, reason=why)

    @staticmethod
    def _restore_service_settings(target: Target, release: Release) -> None:
        """Put back the service's deployment alarms this release's deployment left out, and its circuit breaker's
        rollback a remedy turned off (ECS keeps the setting on the service; CodeDeploy's override lasts one
        deployment)."""
        if not release.excluded_alarms and not release.circuit_breaker_rollback_off:
            return
        try:
            cluster, name = deployments.service_of(target)
            setup = ecs.service_setup(cluster, name, refresh=True)
            alarms = None
            if release.excluded_alarms:
                names = sorted(set(setup.alarms) | set(release.excluded_alarms))
                alarms = {"alarmNames": names, "enable": True, "rollback": setup.alarm_rollback}
            breaker = {"enable": True, "rollback": True} if release.circuit_breaker_rollback_off else None
            ecs.update_service(cluster, name, None, alarms=alarms, circuit_breaker=breaker)
            ecs.service_setup(cluster, name, refresh=True)
        except Exception:  # noqa: BLE001 - said loudly; the release's own ending stands
            logger.exception(
                "could not put the service's deployment settings back",
                target=target.name,
                alarms=release.excluded_alarms,
                circuit_breaker_rollback=release.circuit_breaker_rollback_off,
            )

    def _remedy_failed(self, target: Target, release: Release) -> None:
        """A remedy that fails is escalated to people, loudly; nothing flips production back to the release it was
        removing (pushdeploy starts remedies without CodeDeploy's automatic rollback)."""
        count("RemedyFailed")
        logger.error(
            "REMEDY FAILED: production may still serve the release it was removing",
            target=target.name,
            release_id=release.release_id,
            deployment_id=release.deployment_id,
            reason=release.reason,
        )
        self.notifier.tell(target, release, "REMEDY_FAILED")

    # -- stopped through no fault of its own ----------------------------------------------------------------------
    def _not_its_fault(self, target: Target, release: Release, deployment: Deployment) -> bool:
        """CodeDeploy stopped a change for an alarm that was already in ALARM when the change started (the race
        between pushdeploy reading the alarms and CreateDeployment): the alarm is the previous release's."""
        if not deployment.stopped_by_alarm or release.is_remedy or deployment.created_at is None:
            return False
        try:
            firing = cloudwatch.alarms_in_alarm(deployment.activated_alarms or ())
        except Exception:  # noqa: BLE001 - unknown: judge it as its own fault (quarantine is the safe side)
            logger.exception("could not read the alarms that stopped the deployment", target=target.name)
            return False
        if not firing or set(firing) != set(deployment.activated_alarms):
            return False
        return all(since is not None and since <= deployment.created_at for since in firing.values())

    def _retry(self, target: Target, release: Release, deployment: Deployment) -> None:
        """The same release waits again (one release, however many attempts); it starts once the rollback is done,
        with the firing alarms left out of CodeDeploy's polling (they are watched by pushdeploy instead)."""
        alarms = ", ".join(deployment.activated_alarms)
        reason = (
            f"{WAITING_FOR_RETRY} attempt {deployment.deployment_id} was stopped by CodeDeploy for alarm {alarms}, "
            "already in ALARM before it started (not this release's fault); it starts again when the group is free, "
            "that alarm left out"
        )
        release.reason = reason
        release.earlier_deployment_ids = [*release.earlier_deployment_ids, deployment.deployment_id]
        self.starter.enqueue(
            target, release, release.order_key, reason=reason, earlier_deployment_ids=release.earlier_deployment_ids
        )
        logger.warning("release retried: stopped for a pre-existing alarm", target=target.name, alarms=alarms)

    @staticmethod
    def _stopped_tasks(target: Target, release: Release, deployment: Deployment) -> str | None:
        """A failure no hook explains (Install never reached a steady state): the replacement's stopped tasks say
        why, verbatim. Looked up by pushdeploy: AfterInstall never ran."""
        if release.status != "FAILED" or not release.task_definition_arn:
            return None
        try:
            cluster, _ = deployments.service_of(target)
            stopped = ecs.stopped_task_reasons(cluster, release.task_definition_arn)
        except Exception:  # noqa: BLE001 - an explanation is a nicety; the failure is recorded regardless
            logger.exception("could not read the replacement's stopped tasks", target=target.name)
            return None
        if not stopped:
            return None
        reasons = "; ".join(sorted({reason for _, reason in stopped}))
        failure = deployment.error or "the deployment failed"
        return f"{failure}; {len(stopped)} task(s) of the replacement stopped: {reasons}"

    def _stopped_by_alarm(
        self, target: Target, release: Release, deployment: Deployment, changes: dict[str, Any]
    ) -> None:
        """CodeDeploy's own poll stopped the release for an alarm: the same cause, the same quarantine, as when
        pushdeploy's alarm handler stops it first (whichever wins the race). KNOWN_GOOD is never quarantined."""
        alarms = deployment.activated_alarms
        if alarms and not release.alarm:
            release.alarm = changes["alarm"] = alarms[0]
        known_good = self.ledger.known_good(target.name)
        if known_good is not None and known_good.digest == release.digest:
            return
        if not self.ledger.is_quarantined(target.name, release.digest):
            alarm = release.alarm or "of the deployment group"
            why = f"alarm {alarm} in ALARM: CodeDeploy stopped {deployment.deployment_id} (ALARM_ACTIVE)"
            self.ledger.quarantine(target.name, release.digest, reason=why, release_id=release.release_id)
            logger.warning(
                "deployment stopped by CodeDeploy for an alarm",
                target=target.name,
                deployment_id=deployment.deployment_id,
                alarm=release.alarm,
            )

    def _became_candidate(self, target: Target, release: Release) -> None:
        watch = target.rollback.watch_minutes_after_success
        if (watch == 0 and not release.checks_due_at) or release.is_remedy:
            # a remedy goes back to a release that already proved itself (or that the operator chose): it is not
            # on probation, and an alarm after it never "reverts" the remedy
            self.ledger.set_known_good(release)
            return
        watch_until = clock.iso(clock.now() + timedelta(minutes=watch))
        self.ledger.set_candidate(release, watch_until)

    def _record_rollback(self, target: Target, deployment: Deployment) -> Release | None:
        """CodeDeploy's rollback deployment is a new deployment: record it, linked to the release it undid."""
        triggering = deployment.rollback_triggering_deployment_id
        undone = self.ledger.release_by_deployment(triggering) if triggering else None
        if undone is None:
            return None
        previous = undone.previous_task_definition_arn
        image_uri = (ecs.image_of(previous) if previous else None) or undone.image_uri
        image = parse_image_uri(image_uri)
        restored = next(
            (r for r in self.ledger.releases(target.name, limit=50) if r.task_definition_arn == previous and r.tag),
            None,
        )
        release = Release.new(
            target=target.name,
            digest=image.digest if image else "unknown",  # shown as is; never quarantined (remedies are not)
            image_uri=image_uri,
            trigger="rollback",
            status="IN_PROGRESS",
            started_at=clock.iso(),
            deployment_id=deployment.deployment_id,
            task_definition_arn=previous,
            rollback_of=undone.release_id,
            reason=f"CodeDeploy rolled back {undone.deployment_id}",
            tag=restored.tag if restored else None,
            tags=[],
        )
        self.ledger.put_release(release)
        if undone.deployment_id == triggering:  # a retried release's earlier attempt: its current one stands
            self.ledger.update_release(target.name, undone.release_id, rolled_back_by=release.deployment_id)
        logger.info(
            "rollback deployment recorded",
            target=target.name,
            deployment_id=release.deployment_id,
            rolls_back=undone.deployment_id,
        )
        return release

    def _after_terminal(self, target: Target) -> None:
        self.promote_if_due(target)
        started = self.starter.start_pending(target)
        if started is not None:
            logger.info(
                "queued push started", target=target.name, outcome=started.outcome, deployment_id=started.deployment_id
            )
        self.retention.prune(target)

    def _adopted(self, target: Target, release: Release) -> bool:
        """A release whose handler stopped after UpdateService and before recording the start (or whose deployment ECS
        had not named yet): ECS deploys it. Its deployment is the one whose target revision runs the task definition
        the release registered (its ``REVISION#`` pointer, written before UpdateService, names the release)."""
        if target.through_codedeploy:
            return False
        cluster, name = deployments.service_of(target)
        for found in ecs.service_deployments(cluster, name):
            if self.ledger.release_by_deployment(found.arn) is not None:
                continue
            if found.created_at is not None and found.created_at < clock.parse(release.created_at):
                continue  # older than the release: someone else's deployment of the same revision (a revert's)
            task_definition = ecs.revision_task_definition(found.target_revision_arn)
            owner = self.ledger.release_by_task_definition(task_definition)
            if owner is None or owner.release_id != release.release_id:
                continue
            release.reason = None  # it no longer waits to be named
            self.ledger.mark_started(
                release,
                deployment_id=found.arn,
                task_definition_arn=task_definition,
                previous_task_definition_arn=release.previous_task_definition_arn,
                deployment_config=ecs.service_setup(cluster, name).kind,
            )
            logger.warning("deployment adopted: its start was never recorded", target=target.name, deployment=found.arn)
            self.sync_deployment(target, found.arn)
            return True
        return False

    def _never_named(self, target: Target, release: Release) -> bool:
        """UpdateService was accepted an hour ago and ECS has named no deployment of the release since: it ends
        START_FAILED, its lane and digest free (True); until then it waits (False)."""
        if clock.now() - clock.parse(release.started_at or release.created_at) < timedelta(hours=1):
            return False
        self._start_failed(
            target,
            release,
            f"ECS named no service deployment of {release.task_definition_arn} within an hour of UpdateService",
        )
        return True

    def _abandoned(self, target: Target, release: Release) -> None:
        """A release whose handler stopped before starting it (a timeout, the sandbox died) and whose event was not
        delivered again: it ends with the reason, and its digest is free for the next push."""
        self._start_failed(
            target,
            release,
            "its handler stopped before the deployment started (timed out or died); push the image again",
        )

    def _start_failed(self, target: Target, release: Release, reason: str) -> None:
        """It never started (as far as anyone can tell): START_FAILED with ``reason``, its digest and lane free."""
        self.ledger.update_release(
            target.name, release.release_id, status="START_FAILED", reason=reason, finished_at=clock.iso()
        )
        self.ledger.give_back_claim(target.name, release.digest, release.release_id)
        if not target.through_codedeploy:
            self.ledger.free_lane(target.name, release.release_id)
        logger.warning(
            "release ended before it started", target=target.name, release_id=release.release_id, reason=reason
        )

    # -- known good and reconciliation --------------------------------------------------------------------------
    def promote_if_due(self, target: Target) -> bool:
        """The candidate survived its watch window: it becomes KNOWN_GOOD."""
        candidate = self.ledger.candidate(target.name)
        if candidate is None or clock.now() < clock.parse(candidate.watch_until):
            return False
        release = self.ledger.get_release(target.name, candidate.release_id)
        if release is not None and release.checks_due_at:
            return False  # its checks have not run yet (a rolling update's): never known good unchecked
        if release is not None and release.status == "SUCCEEDED":
            self.ledger.set_known_good(release)
            self.notifier.tell(target, release, "KNOWN_GOOD")
            logger.info("release is known good", target=target.name, release_id=release.release_id)
        self.ledger.clear_candidate(target.name, candidate.release_id)
        return True

    def reconcile(self, target: Target, *, skip: set[str] | None = None) -> int:
        """Re-read every unfinished release of ``target`` from CodeDeploy (a missed event never sticks)."""
        fixed = 0
        abandoned_before = clock.iso(clock.now() - timedelta(seconds=CLAIM_LEASE_SECONDS))
        for release in self.ledger.releases(target.name, limit=25):
            if release.status == "RECEIVED" and release.created_at < abandoned_before:
                if not self._adopted(target, release):
                    self._abandoned(target, release)
                fixed += 1
                continue
            if release.status == "IN_PROGRESS" and not release.deployment_id and not target.through_codedeploy:
                fixed += self._adopted(target, release) or self._never_named(target, release)
                continue
            if release.status != "IN_PROGRESS" or not release.deployment_id or release.deployment_id in (skip or ()):
                continue
            if self.sync_deployment(target, release.deployment_id).reason.startswith("release "):
                fixed += 1
        self.promote_if_due(target)
        if not deployments.active_deployment_ids(target):
            self.starter.start_pending(target)
        return fixed
