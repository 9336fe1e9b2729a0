"""The release lifecycle after a deployment starts: state changes, known-good, reverts, queue, retention.

CodeDeploy's state-change events are best effort and unordered, so every decision is taken on
GetDeployment's answer, and every visit reconciles the target's other unfinished releases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pushdeploy import clock, deployments, taskdefs
from pushdeploy.errors import DeploymentNotFound
from pushdeploy.images import parse_image_uri
from pushdeploy.ledger import KnownGood, Ledger, Release, Trigger, new_release_id
from pushdeploy.notify import Notifier, commit_labels
from pushdeploy.observability import count, logger
from pushdeploy.releases import Result, Starter
from pushdeploy.targets import Target, TargetCatalog

STATUS_BY_DEPLOYMENT = {"Succeeded": "SUCCEEDED", "Failed": "FAILED", "Stopped": "STOPPED"}


@dataclass(frozen=True)
class DeploymentEvent:
    deployment_id: str
    state: str
    application: str
    deployment_group: str


def parse_deployment_event(event: Any) -> DeploymentEvent | str:
    """A CodeDeploy "Deployment State-change Notification", or the reason it is not one."""
    if not isinstance(event, dict):
        return f"event is a {type(event).__name__}, not an object"
    if (
        event.get("source") != "aws.codedeploy"
        or event.get("detail-type") != "CodeDeploy Deployment State-change Notification"
    ):
        return (
            f"not a CodeDeploy deployment state-change (source={event.get('source')!r}, "
            f"detail-type={event.get('detail-type')!r})"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return "detail is missing or not an object"
    values = {k: detail.get(k) for k in ("deploymentId", "state", "application", "deploymentGroup")}
    missing = [k for k, v in values.items() if not isinstance(v, str) or not v]
    if missing:
        return f"detail lacks {', '.join(missing)}"
    text = {k: str(v) for k, v in values.items()}
    return DeploymentEvent(text["deploymentId"], text["state"], text["application"], text["deploymentGroup"])


@dataclass
class Lifecycle:
    ledger: Ledger
    starter: Starter
    notifier: Notifier

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

    def sync_deployment(self, target: Target, deployment_id: str, *, event_state: str | None = None) -> Result:
        """Bring the ledger in line with what CodeDeploy says about ``deployment_id``."""
        try:
            info = deployments.get_deployment(deployment_id)
        except DeploymentNotFound as exc:
            logger.warning("deployment unknown to CodeDeploy", deployment_id=deployment_id, reason=str(exc))
            return Result("ignored", str(exc), target.name, deployment_id=deployment_id)
        release = self.ledger.release_by_deployment(deployment_id)
        if release is None and info.get("creator") == deployments.ROLLBACK_CREATOR:
            release = self._record_rollback(target, info)
        if release is None:
            reason = f"deployment {deployment_id} was not started by pushdeploy (unknown to the ledger)"
            logger.info(
                "deployment event for an unknown deployment",
                deployment_id=deployment_id,
                target=target.name,
                reason=reason,
            )
            return Result("ignored", reason, target.name, deployment_id=deployment_id)
        status = STATUS_BY_DEPLOYMENT.get(str(info.get("status")))
        if status is None:  # still running: Created, Queued, InProgress, Ready, Baking
            if event_state == "READY" and release.status == "IN_PROGRESS":
                self.notifier.send(release, "READY", **self._channels(target))
            return Result(
                "recorded",
                f"deployment {deployment_id} is {info.get('status')}",
                target.name,
                release.release_id,
                deployment_id,
            )
        if release.status == status:
            return Result("recorded", f"release already {status}", target.name, release.release_id, deployment_id)
        self._finish(target, release, status, info)
        self._after_terminal(target)
        return Result(
            "recorded", f"release {release.release_id} {status}", target.name, release.release_id, deployment_id
        )

    def _finish(self, target: Target, release: Release, status: str, info: dict[str, Any]) -> None:
        error = info.get("errorInformation") or {}
        rollback = info.get("rollbackInfo") or {}
        release.status = status  # type: ignore[assignment]
        release.finished_at = (
            clock.iso(info["completeTime"]) if hasattr(info.get("completeTime"), "isoformat") else clock.iso()
        )
        if not release.commit:
            release.commit = commit_labels(release.image_uri)
        changes: dict[str, Any] = {"status": status, "finished_at": release.finished_at, "commit": release.commit}
        if status != "SUCCEEDED" and error.get("message") and not release.reason:
            release.reason = f"{error.get('code', '')}: {error['message']}".strip(": ")
            changes["reason"] = release.reason
        if rollback.get("rollbackDeploymentId"):
            release.rolled_back_by = changes["rolled_back_by"] = rollback["rollbackDeploymentId"]
        self.ledger.update_release(target.name, release.release_id, **changes)
        count("DeploymentSucceeded" if status == "SUCCEEDED" else "DeploymentFailed")
        logger.info(
            "release finished",
            target=target.name,
            release_id=release.release_id,
            status=status,
            deployment_id=release.deployment_id,
            reason=release.reason,
        )
        if status == "SUCCEEDED" and release.trigger != "rollback":
            self._became_candidate(target, release)
        self.notifier.send(release, status, **self._channels(target))

    def _became_candidate(self, target: Target, release: Release) -> None:
        watch = target.rollback.watch_minutes_after_success
        if watch == 0 or release.trigger == "revert":
            self.ledger.set_known_good(release)  # a revert goes back to a release that already proved itself
            return
        watch_until = clock.iso(clock.now() + timedelta(minutes=watch))
        self.ledger.set_candidate(release, watch_until)

    def _record_rollback(self, target: Target, info: dict[str, Any]) -> Release | None:
        """CodeDeploy's rollback deployment is a new deployment: record it, linked to the release it undid."""
        triggering = (info.get("rollbackInfo") or {}).get("rollbackTriggeringDeploymentId")
        undone = self.ledger.release_by_deployment(triggering) if triggering else None
        if undone is None:
            return None
        image_uri = self._image_of(undone.previous_task_definition_arn) or undone.image_uri
        image = parse_image_uri(image_uri)
        restored = next(
            (
                r
                for r in self.ledger.releases(target.name, limit=50)
                if r.task_definition_arn == undone.previous_task_definition_arn and r.tag
            ),
            None,
        )
        now = clock.iso()
        release = Release(
            target=target.name,
            release_id=new_release_id(image.digest if image else undone.digest),
            digest=image.digest if image else "unknown",
            image_uri=image_uri,
            trigger="rollback",
            status="IN_PROGRESS",
            created_at=now,
            updated_at=now,
            started_at=now,
            deployment_id=str(info["deploymentId"]),
            task_definition_arn=undone.previous_task_definition_arn,
            rollback_of=undone.release_id,
            reason=f"CodeDeploy rolled back {undone.deployment_id}",
            tag=restored.tag if restored else None,
        )
        self.ledger.put_release(release)
        self.ledger.update_release(target.name, undone.release_id, rolled_back_by=release.deployment_id)
        logger.info(
            "rollback deployment recorded",
            target=target.name,
            deployment_id=release.deployment_id,
            rolls_back=undone.deployment_id,
        )
        return release

    @staticmethod
    def _image_of(task_definition_arn: str | None) -> str | None:
        if not task_definition_arn:
            return None
        from pushdeploy import aws

        described = aws.client("ecs").describe_task_definition(taskDefinition=task_definition_arn)["taskDefinition"]
        containers = described.get("containerDefinitions") or []
        return str(containers[0]["image"]) if containers else None

    def _after_terminal(self, target: Target) -> None:
        self.promote_if_due(target)
        started = self.starter.start_pending(target)
        if started is not None:
            logger.info(
                "queued push started", target=target.name, outcome=started.outcome, deployment_id=started.deployment_id
            )
        self.prune(target)

    @staticmethod
    def _channels(target: Target) -> dict[str, Any]:
        return {"topic_arn": target.notify.sns_topic_arn, "slack_secret_arn": target.notify.slack_webhook_secret_arn}

    # -- known good, reconciliation, retention -----------------------------------------------------------------
    def promote_if_due(self, target: Target) -> bool:
        """The candidate survived its watch window: it becomes KNOWN_GOOD."""
        candidate = self.ledger.candidate(target.name)
        if candidate is None or clock.now() < clock.parse(candidate.watch_until):
            return False
        release = self.ledger.get_release(target.name, candidate.release_id)
        if release is not None and release.status == "SUCCEEDED":
            self.ledger.set_known_good(release)
            self.notifier.send(release, "KNOWN_GOOD", **self._channels(target))
            logger.info("release is known good", target=target.name, release_id=release.release_id)
        self.ledger.clear_candidate(target.name, candidate.release_id)
        return True

    def reconcile(self, target: Target, *, skip: set[str] | None = None) -> int:
        """Re-read every unfinished release of ``target`` from CodeDeploy (a missed event never sticks)."""
        fixed = 0
        for release in self.ledger.releases(target.name, limit=25):
            if release.status != "IN_PROGRESS" or not release.deployment_id or release.deployment_id in (skip or ()):
                continue
            if self.sync_deployment(target, release.deployment_id).reason.startswith("release "):
                fixed += 1
        self.promote_if_due(target)
        if not deployments.active_deployment_ids(target.application, target.deployment_group):
            self.starter.start_pending(target)
        return fixed

    def prune(self, target: Target) -> list[str]:
        try:
            group = deployments.describe_group(target.application, target.deployment_group)
            service = taskdefs.describe_service(group.cluster, group.service)
            protected = set(service.task_definitions_in_use)
            known_good = self.ledger.known_good(target.name)
            if known_good:
                protected.add(known_good.task_definition_arn)
            for release in self.ledger.releases(target.name, limit=25):
                if release.task_definition_arn and (
                    release.status in ("IN_PROGRESS", "QUEUED", "RECEIVED")
                    or release.release_id == self._candidate_id(target)
                ):
                    protected.add(release.task_definition_arn)
            removed = taskdefs.prune(
                taskdefs.family_of(service.task_definition_arn), keep=target.keep_task_definitions, protected=protected
            )
        except Exception:  # noqa: BLE001 - retention is housekeeping; it never fails the bookkeeping
            logger.exception("task definition pruning failed", target=target.name)
            return []
        if removed:
            logger.info("task definitions deregistered", target=target.name, removed=removed)
        return removed

    def _candidate_id(self, target: Target) -> str | None:
        candidate = self.ledger.candidate(target.name)
        return candidate.release_id if candidate else None

    # -- reverting to the known-good release -------------------------------------------------------------------
    def revert(
        self,
        target: Target,
        *,
        bad: Release,
        reason: str,
        trigger_alarm: str | None = None,
        to: KnownGood | None = None,
        trigger: Trigger = "revert",
    ) -> Result:
        """Deploy KNOWN_GOOD's (or ``to``'s) task definition (fast config; hooks still run); quarantine ``bad``."""
        known_good = to or self.ledger.known_good(target.name)
        self.ledger.quarantine(target.name, bad.digest, reason=reason, release_id=bad.release_id)
        self.ledger.clear_candidate(target.name, bad.release_id)
        if known_good is None or known_good.release_id == bad.release_id:
            why = f"{reason}; no known-good release to revert to"
            self.ledger.update_release(target.name, bad.release_id, reason=why, alarm=trigger_alarm)
            logger.error("cannot revert: no known-good release", target=target.name, release_id=bad.release_id)
            return Result("recorded", why, target.name, bad.release_id)
        now = clock.iso()
        revert = Release(
            target=target.name,
            release_id=new_release_id(known_good.digest),
            digest=known_good.digest,
            image_uri=known_good.image_uri,
            trigger=trigger,
            status="RECEIVED",
            created_at=now,
            updated_at=now,
            tag=known_good.tag,
            tags=[known_good.tag] if known_good.tag else [],
            reverts_release_id=bad.release_id,
            reason=reason,
            alarm=trigger_alarm,
            task_definition_arn=known_good.task_definition_arn,  # kept if the revert has to wait in the queue
            deployment_config=target.rollback.revert_deployment_config,
        )
        self.ledger.put_release(revert)
        self.ledger.update_release(target.name, bad.release_id, reason=f"reverted: {reason}", alarm=trigger_alarm)
        result = self.starter.start(
            target,
            revert,
            task_definition_arn=known_good.task_definition_arn,
            deployment_config=target.rollback.revert_deployment_config,
        )
        if result.outcome == "deployed":
            count("RevertStarted")
            return Result(
                "revert-started",
                f"reverting to {known_good.tag or known_good.digest} ({known_good.task_definition_arn}): {reason}",
                target.name,
                revert.release_id,
                result.deployment_id,
            )
        return result


def handle_event(lifecycle: Lifecycle, event: Any, catalog: TargetCatalog) -> list[Result]:
    """The deployment-events function: CodeDeploy state changes, and the scheduled reconciliation sweep."""
    if (
        isinstance(event, dict)
        and event.get("source") == "aws.events"
        and event.get("detail-type") == "Scheduled Event"
    ):
        results = []
        for target in catalog.targets:
            try:
                fixed = lifecycle.reconcile(target)
            except Exception:  # noqa: BLE001 - one target's trouble never stops the sweep of the others
                logger.exception("reconciliation failed", target=target.name)
                results.append(Result("failed", "reconciliation failed", target.name))
                continue
            results.append(Result("recorded", f"reconciled {fixed} release(s)", target.name))
        return results
    parsed = parse_deployment_event(event)
    if isinstance(parsed, str):
        if isinstance(event, dict) and event.get("source") == "aws.codedeploy":
            lifecycle.ledger.record_unprocessable(event, parsed, function="deployment-events")
            logger.warning("malformed CodeDeploy event kept in the ledger", reason=parsed)
        else:
            logger.info("event ignored", reason=parsed)
        return [Result("ignored", parsed)]
    return [lifecycle.on_deployment_event(parsed, catalog)]
