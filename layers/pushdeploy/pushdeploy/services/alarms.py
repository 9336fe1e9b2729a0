"""Alarm rollback: a watched CloudWatch alarm goes to ALARM -> stop the deployment, or revert to known-good."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pushdeploy import clock
from pushdeploy.aws import deployments
from pushdeploy.ledger import Ledger
from pushdeploy.model.events import AlarmEvent, Ignored, parse_alarm_event
from pushdeploy.model.results import Result
from pushdeploy.model.targets import Target, TargetCatalog
from pushdeploy.observability import count, logger, measure_ms
from pushdeploy.services.lifecycle import Lifecycle
from pushdeploy.services.remedies import Remedy, remedy_in_flight
from pushdeploy.services.reverts import Reverts


@dataclass
class AlarmResponder:
    ledger: Ledger
    lifecycle: Lifecycle
    reverts: Reverts

    def handle(self, event: Any, catalog: TargetCatalog) -> list[Result]:
        alarm = parse_alarm_event(event)
        if isinstance(alarm, Ignored):
            if alarm.malformed:
                self.ledger.record_unprocessable(event, alarm.reason, function="alarm-rollback")
            logger.info("alarm event ignored", reason=alarm.reason)
            return [Result("ignored", alarm.reason)]
        if alarm.state != "ALARM":
            reason = f"alarm {alarm.name} is {alarm.state}: only ALARM acts"
            logger.info("alarm event ignored", alarm=alarm.name, reason=reason)
            return [Result("ignored", reason)]
        watching = [t for t in catalog.targets if alarm.name in self._watched(t)]
        if not watching:
            reason = f"no target watches alarm {alarm.name}"
            logger.info("alarm event ignored", alarm=alarm.name, reason=reason)
            return [Result("ignored", reason)]
        results = []
        for target in watching:
            results.append(self._respond(target, alarm))
        return results

    def _watched(self, target: Target) -> tuple[str, ...]:
        if target.rollback.alarms is not None:
            return tuple(target.rollback.alarms)
        watched = deployments.watched_alarms(target)
        if target.through_codedeploy:
            return watched
        # ECS keeps a deployment's left-out alarms off the service itself: they are still this target's to watch
        left_out = {a for r in self.ledger.releases(target.name, limit=5) if r.is_unfinished for a in r.excluded_alarms}
        return tuple(dict.fromkeys([*watched, *sorted(left_out)]))

    def _respond(self, target: Target, alarm: AlarmEvent) -> Result:
        why = f"alarm {alarm.name} ({alarm.kind}) in ALARM: {alarm.reason}"
        for deployment_id in deployments.active_deployment_ids(target):
            deployment = deployments.get_deployment(deployment_id)
            remedy = remedy_in_flight(self.ledger, deployment)
            if remedy is not None:
                return self._during_remedy(target, alarm, remedy, why)
            started = deployment.created_at
            if started is not None and alarm.changed_at <= started:
                reason = (
                    f"{why}; ignored: the alarm was already in ALARM at {clock.iso(alarm.changed_at)}, before "
                    f"deployment {deployment_id} started at {clock.iso(started)} (it must not block a fix)"
                )
                logger.warning(
                    "pre-existing alarm ignored", target=target.name, alarm=alarm.name, deployment_id=deployment_id
                )
                self._note(deployment_id, reason=reason)
                return Result("ignored", reason, target.name, deployment_id=deployment_id)
            status, release = self.reverts.stop_with_rollback(
                target, deployment_id, reason=why, quarantine_reason=why, alarm=alarm.name
            )
            measure_ms("TimeToRollbackMs", (clock.now() - alarm.changed_at).total_seconds() * 1000)
            count("RollbackTriggered")
            logger.warning(
                "deployment stopped with rollback",
                target=target.name,
                alarm=alarm.name,
                deployment_id=deployment_id,
                stop_status=status,
            )
            return Result(
                "rollback-started",
                f"stopped {deployment_id} with rollback ({status}): {why}",
                target.name,
                release.release_id if release else None,
                deployment_id,
            )
        self.lifecycle.reconcile(target)  # settle missed events and due promotions before judging the window
        candidate = self.ledger.candidate(target.name)
        if candidate is None:
            reason = f"{why}; no deployment active and no release inside its watch window"
            logger.info("alarm recorded, nothing to roll back", target=target.name, alarm=alarm.name)
            return Result("recorded", reason, target.name)
        bad = self.ledger.get_release(target.name, candidate.release_id)
        if bad is None:
            return Result("recorded", f"{why}; candidate release {candidate.release_id} not found", target.name)
        if bad.started_at and alarm.changed_at < clock.parse(bad.started_at):
            reason = f"{why}; ignored: in ALARM before release {bad.release_id} started"
            return Result("ignored", reason, target.name, bad.release_id)
        if not target.rollback.auto_revert:
            self.ledger.update_release(
                target.name, bad.release_id, alarm=alarm.name, reason=f"{why} (auto_revert is off)"
            )
            return Result("recorded", f"{why}; auto_revert is off for {target.name}", target.name, bad.release_id)
        count("RollbackTriggered")
        return self.reverts.revert(target, bad=bad, reason=why, trigger_alarm=alarm.name)

    def _during_remedy(self, target: Target, alarm: AlarmEvent, remedy: Remedy, why: str) -> Result:
        """An alarm while a remedy deploys (alarms flap while tasks start, and the bad release's errors take minutes
        to leave the alarm's window): recorded and told, never acted on. Stopping the remedy would put the bad
        release back and quarantine the known-good digest."""
        started = remedy.deployment.created_at
        if started is not None and alarm.changed_at <= started:  # the alarm the remedy answers, delivered again
            reason = f"{why}; already answered by {remedy.describe()}"
            return Result("recorded", reason, target.name, deployment_id=remedy.deployment.deployment_id)
        incident = f"still in ALARM while {remedy.describe()}: alarm {alarm.name} at {clock.iso(alarm.changed_at)}"
        reason = f"{why}; {incident} (a remedy is never stopped)"
        logger.warning(
            "alarm during a remedy: recorded, the remedy continues",
            target=target.name,
            alarm=alarm.name,
            deployment_id=remedy.deployment.deployment_id,
        )
        release = remedy.release
        if release is not None and incident not in release.incidents:  # a redelivered alarm event says nothing new
            release.incidents = [*release.incidents, incident]
            self.ledger.update_release(target.name, release.release_id, incidents=release.incidents)
            self.lifecycle.notifier.tell(target, release, "ALARM_DURING_REMEDY")
        return Result(
            "recorded",
            reason,
            target.name,
            release.release_id if release else None,
            remedy.deployment.deployment_id,
        )

    def _note(self, deployment_id: str, *, reason: str) -> None:
        release = self.ledger.release_by_deployment(deployment_id)
        if release is not None:
            self.ledger.update_release(release.target, release.release_id, reason=reason)
