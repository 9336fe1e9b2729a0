"""Starting releases on a target: pin, register, create the deployment, or apply the target's on_busy policy.

Shared by the deployer (pushes), the lifecycle (queued pushes), reverts (alarms and the CLI) and manual deploys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pushdeploy import clock
from pushdeploy.aws import cloudwatch, codedeploy, deployments, ecs
from pushdeploy.errors import ConfigurationError, DeploymentBusy
from pushdeploy.ledger import Ledger
from pushdeploy.model.appspec import build_appspec
from pushdeploy.model.deployments import AlarmOverride, DeploymentGroup
from pushdeploy.model.ecs_deployments import ServiceSetup
from pushdeploy.model.releases import WAITING_FOR_GROUP, WAITING_FOR_RETRY, Pending, Release
from pushdeploy.model.results import Outcome, Result
from pushdeploy.model.targets import Target
from pushdeploy.observability import count, logger
from pushdeploy.services import rolling
from pushdeploy.services.hooks import conclude, evidence
from pushdeploy.services.notify import Notifier
from pushdeploy.services.remedies import remedy_in_flight

SUPERSEDED_IN_QUEUE = "a newer push is already waiting for the group (or was accepted since)"
FIND_DEPLOYMENT_ATTEMPTS = 5  # ListServiceDeployments may show a new deployment a moment after UpdateService


@dataclass(frozen=True)
class Queued:
    """Whether a release waits in the queue now, and the older one it replaced there (if any)."""

    queued: bool
    replaced: Pending | None = None

    def __bool__(self) -> bool:
        return self.queued


@dataclass
class Starter:
    """Starts releases for targets; the hook prefix names the five validator functions."""

    ledger: Ledger
    hook_prefix: str
    notifier: Notifier | None = None  # tells people of a release its own checks refused before it deployed

    def start(
        self,
        target: Target,
        release: Release,
        *,
        order_key: str | None = None,
        task_definition_arn: str | None = None,
        deployment_config: str | None = None,
        from_queue: bool = False,
    ) -> Result:
        """Deploy ``release``: clone + pin the current task definition (or use ``task_definition_arn``
        as is, for reverts), create the deployment; when the group is busy apply ``target.on_busy``."""
        if not target.through_codedeploy:
            return self._start_on_ecs(
                target, release, order_key=order_key, task_definition_arn=task_definition_arn, from_queue=from_queue
            )
        group = codedeploy.describe_group(*target.group)
        service = ecs.describe_service(group.cluster, group.service)
        registered_here = task_definition_arn is None
        new_arn = task_definition_arn or ecs.register_pinned_revision(
            service.task_definition_arn, target.container_name, release.image_uri
        )
        config = deployment_config or target.deployment_config
        appspec = build_appspec(new_arn, target.container_name, target.container_port, self.hook_prefix)
        description = f"pushdeploy {release.trigger} {target.name} {release.tag or ''} {release.digest}".strip()
        alarms = self._alarm_override(release, group)
        try:
            deployment_id = codedeploy.create_deployment(
                *target.group,
                appspec.revision(),
                config_name=config,
                description=description,
                alarms=alarms,
                auto_rollback=not release.is_remedy,
            )
        except DeploymentBusy as busy:
            if registered_here:
                ecs.deregister(new_arn)  # the queued push re-clones whatever is current when it starts
            return self._wait_or_refuse(target, release, busy, order_key, from_queue)
        release.excluded_alarms = list(alarms.alarms_left_out(group)) if alarms and not release.is_remedy else []
        return self._started(
            target, release, deployment_id, new_arn, service.task_definition_arn, config or group.deployment_config
        )

    def _started(
        self, target: Target, release: Release, deployment_id: str, new_arn: str, previous: str, config: str | None
    ) -> Result:
        """The release's deployment exists (whoever runs it): recorded, counted, logged."""
        self.ledger.mark_started(
            release,
            deployment_id=deployment_id,
            task_definition_arn=new_arn,
            previous_task_definition_arn=previous,
            deployment_config=config,
        )
        count("DeploymentStarted")
        logger.info(
            "deployment started",
            target=target.name,
            digest=release.digest,
            tag=release.tag,
            deployment_id=deployment_id,
            task_definition=new_arn,
            trigger=release.trigger,
            deployment_config=config,
        )
        return Result(
            "deployed",
            f"deployment {deployment_id} started with {new_arn}",
            target.name,
            release.release_id,
            deployment_id,
        )

    def _wait_or_refuse(
        self, target: Target, release: Release, busy: DeploymentBusy, order_key: str | None, from_queue: bool
    ) -> Result:
        queued = self._busy(target, release, busy, order_key or f"{release.created_at}#{release.release_id}")
        if queued.outcome == "queued" and not from_queue:
            # The active deployment may have ended between the start and the PENDING write, its events already
            # handled: then nobody else would start this push. Start it now.
            started = self.start_pending(target)
            if started is not None and started.release_id == release.release_id:
                return started
        return queued

    # -- services under ECS's own controller ------------------------------------------------------------------------
    def _start_on_ecs(
        self,
        target: Target,
        release: Release,
        *,
        order_key: str | None,
        task_definition_arn: str | None,
        from_queue: bool,
    ) -> Result:
        """UpdateService with the pinned revision. ECS starts a deployment on every UpdateService, even while one
        runs: the lane keeps one per service, so on_busy means what it means for a CodeDeploy group."""
        cluster, name = deployments.service_of(target)
        setup = ecs.service_setup(cluster, name, refresh=True)  # never an alarm list a remedy had reduced
        if setup.kind in ("CODE_DEPLOY", "EXTERNAL"):
            raise ConfigurationError(
                f"service {name} in {cluster} uses the {setup.kind} deployment controller: name its CodeDeploy "
                "application and deployment_group in the target instead of cluster and service"
                if setup.kind == "CODE_DEPLOY"
                else f"service {name} in {cluster} uses the EXTERNAL deployment controller, which pushdeploy does "
                "not drive"
            )
        active = self._lane_or_active(target, release, cluster, name)
        if active is not None:
            return self._wait_or_refuse(
                target, release, DeploymentBusy(f"{name} is deploying", active), order_key, from_queue
            )
        try:
            service = ecs.describe_service(cluster, name)
            new_arn = task_definition_arn or ecs.register_pinned_revision(
                service.task_definition_arn, target.container_name, release.image_uri
            )
            if setup.kind == "ROLLING" and not release.is_remedy:  # ECS runs no hooks for a rolling update
                refused = self._image_refused(target, release, setup, new_arn, registered=task_definition_arn is None)
                if refused is not None:
                    return refused
            self.ledger.point_revision(release, new_arn)  # before ECS's first hook can ask whose revision it is
            alarms = self._ecs_alarms(release, setup)
            breaker = self._ecs_circuit_breaker(release, setup)
        except Exception:
            self.ledger.free_lane(target.name, release.release_id)
            raise
        # From here ECS deploys: the release holds the lane until its deployment ends (never freed on an error here)
        started = ecs.update_service(cluster, name, new_arn, alarms=alarms, circuit_breaker=breaker)
        for _ in range(FIND_DEPLOYMENT_ATTEMPTS if started is None else 0):
            found = ecs.deployment_running(cluster, name, new_arn)
            if found is not None:
                started = found.arn
                break
            clock.sleep(1.0)
        if started is None:
            # ECS deploys it (UpdateService was accepted): the release is IN_PROGRESS, holding the lane and its claim
            # (a redelivered push is a duplicate), and the reconcile sweep adopts the deployment once ECS names it
            reason = f"UpdateService on {name} accepted {new_arn}; ECS named no service deployment yet"
            release.status, release.started_at, release.reason = "IN_PROGRESS", clock.iso(), reason
            self.ledger.update_release(
                target.name,
                release.release_id,
                status="IN_PROGRESS",
                started_at=release.started_at,
                task_definition_arn=new_arn,
                previous_task_definition_arn=service.task_definition_arn,
                reason=reason,
                excluded_alarms=release.excluded_alarms,  # the settings to put back when it ends
                circuit_breaker_rollback_off=release.circuit_breaker_rollback_off,
            )
            if release.trigger == "push":
                self.ledger.complete_claim(target.name, release.digest)
            logger.warning("ECS named no deployment yet: the reconcile sweep records it", target=target.name)
            return Result("deployed", f"{reason} (the reconcile sweep records it)", target.name, release.release_id)
        return self._started(target, release, started, new_arn, service.task_definition_arn, setup.kind)

    def _image_refused(
        self, target: Target, release: Release, setup: ServiceSetup, new_arn: str, *, registered: bool
    ) -> Result | None:
        """BeforeInstall's checks of a rolling release's revision, before UpdateService: None when they pass; else
        the release ends FAILED with their evidence and never deploys (people are told)."""
        checks = rolling.image_checks(target, setup, release, new_arn)
        status, why = conclude(checks)
        self.ledger.record_hook(target.name, release.release_id, "BeforeInstall", evidence(status, why, 1, checks))
        if status == "Succeeded":
            return None
        reason = f"BeforeInstall checks failed before UpdateService (ECS's rolling update runs no hooks): {why}"
        release.status, release.reason, release.finished_at = "FAILED", reason, clock.iso()
        self.ledger.update_release(
            target.name, release.release_id, status="FAILED", reason=reason, finished_at=release.finished_at
        )
        if release.trigger == "push":  # it ended: a later push of the digest is a new intent
            self.ledger.give_back_claim(target.name, release.digest, release.release_id)
        self.ledger.free_lane(target.name, release.release_id)
        if registered:
            ecs.deregister(new_arn)  # nothing will ever run it
        count("DeploymentFailed")
        logger.warning("rolling release refused by its image checks", target=target.name, reason=why)
        if self.notifier is not None:
            self.notifier.tell(target, release, "FAILED")
        return Result("failed", reason, target.name, release.release_id)

    @staticmethod
    def _ecs_circuit_breaker(release: Release, setup: ServiceSetup) -> dict[str, Any] | None:
        """A remedy is never rolled back by ECS's circuit breaker either: back to the release it removes, if the
        known-good tasks fail to start (capacity, a dependency). It fails loudly instead, and the service's setting is
        put back when it ends (as the alarms are). None: unchanged."""
        if not (release.is_remedy and setup.circuit_breaker and setup.circuit_breaker_rollback):
            return None
        release.circuit_breaker_rollback_off = True
        logger.warning("circuit breaker's rollback off for this remedy", target=release.target)
        return {"enable": True, "rollback": False}

    @staticmethod
    def _ecs_alarms(release: Release, setup: ServiceSetup) -> dict[str, Any] | None:
        """The service's deployment alarms for this deployment, as CodeDeploy's alarm override does for a group: a
        remedy is never rolled back by an alarm (the one that asked for it may still be in ALARM); a change leaves
        out the alarms already firing (the previous release's). ECS keeps the setting on the service: the release
        records what was left out and the lifecycle puts it back when the deployment ends. None: unchanged."""
        if not setup.alarms_enabled or not setup.alarms:
            return None
        firing = set(cloudwatch.alarms_in_alarm(setup.alarms))
        left_out = sorted(setup.alarms) if release.is_remedy else sorted(firing & set(setup.alarms))
        release.excluded_alarms = left_out
        if not left_out:
            return None
        kept = [a for a in setup.alarms if a not in left_out]
        logger.warning(
            "deployment alarms left out of this deployment",
            target=release.target,
            alarms=left_out,
            remedy=release.is_remedy,
        )
        return {"alarmNames": kept or list(setup.alarms), "enable": bool(kept), "rollback": setup.alarm_rollback}

    def _deploying(self, target: Target, release_id: str) -> Release | None:
        """The lane holder's release while it starts or runs (None: it ended or vanished, the lane is stale)."""
        held = self.ledger.get_release(target.name, release_id)
        return held if held is not None and held.is_deploying else None

    def _lane_or_active(self, target: Target, release: Release, cluster: str, name: str) -> str | None:
        """None when this release now holds the target's lane and ECS runs nothing else; else what is deploying."""
        holder = self.ledger.take_lane(target.name, release.release_id)
        if holder is not None:
            held = self._deploying(target, holder)
            if held is not None:
                return held.deployment_id or f"release {holder}"
            self.ledger.free_lane(target.name, holder)  # its release ended (or vanished): the lane is stale
            holder = self.ledger.take_lane(target.name, release.release_id)
            if holder is not None:
                return f"release {holder}"
        running = ecs.active_service_deployments(cluster, name)  # one started by someone else (console, CI)
        if running:
            self.ledger.free_lane(target.name, release.release_id)
            return running[0].arn
        return None

    @staticmethod
    def _alarm_override(release: Release, group: DeploymentGroup) -> AlarmOverride | None:
        """A remedy is never blocked by alarms (the one that asked for it is still in ALARM). A change that starts
        while some watched alarms already fire leaves exactly those out: they are the previous release's, and a
        fix must be able to ship; the others stay armed, and pushdeploy watches the left-out ones for a fresh
        transition during the deployment (the alarm function)."""
        if release.is_remedy:
            return AlarmOverride.none()
        if not group.alarms_enabled or not group.alarms:
            return None
        firing = cloudwatch.alarms_in_alarm(group.alarms)
        override = AlarmOverride.excluding(group, frozenset(firing))
        if override is not None:
            logger.warning(
                "watched alarms already in ALARM are left out of this deployment",
                target=release.target,
                release_id=release.release_id,
                alarms=sorted(firing),
            )
        return override

    def _busy(self, target: Target, release: Release, busy: DeploymentBusy, order_key: str) -> Result:
        active = busy.active_deployment_id
        if release.is_remedy:  # a remedy is never dropped nor displaced by a push: it waits in its own slot
            self.ledger.update_release(
                target.name, release.release_id, status="QUEUED", reason=f"{WAITING_FOR_GROUP} {active}"
            )
            replaced = self.ledger.offer_remedy(target.name, release)
            if replaced is not None and replaced.release_id != release.release_id:
                self.ledger.update_release(
                    target.name,
                    replaced.release_id,
                    status="SUPERSEDED",
                    reason=f"replaced in the queue by a newer remedy {release.release_id}",
                    finished_at=clock.iso(),
                )
            logger.warning("remedy queued behind an active deployment", target=target.name, active_deployment_id=active)
            return Result("queued", f"queued behind {active}", target.name, release.release_id, active)
        policy = target.on_busy if release.trigger == "push" else "queue-latest"  # manual deploys are never dropped
        if policy == "reject":
            reason = f"deployment group is busy with {active}; on_busy=reject"
            self.ledger.update_release(
                target.name, release.release_id, status="REJECTED", reason=reason, finished_at=clock.iso()
            )
            if release.trigger == "push":
                self.ledger.drop_claim(target.name, release.digest)  # a later push of it may deploy
            logger.warning(
                "push rejected: deployment in progress",
                target=target.name,
                digest=release.digest,
                active_deployment_id=active,
            )
            return Result("rejected", reason, target.name, release.release_id, active)
        stopped_note = kept_note = ""
        if policy == "supersede" and active:
            remedy = remedy_in_flight(self.ledger, deployments.get_deployment(active))
            if remedy is not None:  # a remedy is never superseded: the push waits for it
                kept_note = f"; not superseding {remedy.describe()}"
                logger.warning("push waits: a remedy is never superseded", target=target.name, remedy=active)
            else:
                status = deployments.stop_with_rollback(target, active, f"superseded by {release.digest}")
                stopped_note = f"; stopped {active} with rollback ({status})"
                logger.info(
                    "active deployment superseded",
                    target=target.name,
                    stopped_deployment_id=active,
                    digest=release.digest,
                )
        if release.trigger == "push":  # handled for good: a redelivered event is a duplicate, however long the wait
            self.ledger.complete_claim(target.name, release.digest)
        queued = self.enqueue(
            target, release, order_key, reason=f"{WAITING_FOR_GROUP} {active}{stopped_note}{kept_note}"
        )
        if not queued:
            logger.info("push superseded before it started", target=target.name, digest=release.digest)
            return Result("superseded", SUPERSEDED_IN_QUEUE, target.name, release.release_id)
        replaced_note = ""
        if queued.replaced is not None:
            replaced_note = f"; replaces {queued.replaced.tag or queued.replaced.digest} in the queue"
        logger.info(
            "push queued", target=target.name, digest=release.digest, active_deployment_id=active, policy=target.on_busy
        )
        outcome: Outcome = "superseded" if stopped_note else "queued"
        return Result(
            outcome, f"queued behind {active}{stopped_note}{replaced_note}", target.name, release.release_id, active
        )

    def enqueue(self, target: Target, release: Release, order_key: str, *, reason: str, **changes: Any) -> Queued:
        """Let ``release`` wait in the target's queue (one slot: the newest push wins it). QUEUED with ``reason``;
        False, and SUPERSEDED, when a newer push waits or was accepted since. An older one it displaces is
        SUPERSEDED. Claims of releases that will never start are given back."""
        self.ledger.update_release(target.name, release.release_id, status="QUEUED", reason=reason, **changes)
        queued, displaced = self.ledger.offer_pending(target.name, release, order_key)
        if not queued:
            self.ledger.update_release(
                target.name,
                release.release_id,
                status="SUPERSEDED",
                reason=SUPERSEDED_IN_QUEUE,
                finished_at=clock.iso(),
            )
            self.ledger.give_back_claim(target.name, release.digest, release.release_id)
            return Queued(False)
        if displaced is not None and displaced.release_id != release.release_id:
            self.ledger.update_release(
                target.name,
                displaced.release_id,
                status="SUPERSEDED",
                reason=f"replaced in the queue by newer push {release.tag or release.digest} ({release.digest})",
                finished_at=clock.iso(),
            )
            self.ledger.give_back_claim(target.name, displaced.digest, displaced.release_id)
            return Queued(True, displaced)
        return Queued(True)

    def start_pending(self, target: Target) -> Result | None:
        """Start what waits, if anything and if the group is free (it stays queued otherwise): a waiting remedy
        first, then the waiting push."""
        remedy = self.ledger.get_pending(target.name, remedy=True) is not None
        if not remedy and self.ledger.get_pending(target.name) is None:
            return None
        if deployments.active_deployment_ids(target):
            return None
        holder = None if target.through_codedeploy else self.ledger.lane_holder(target.name)
        if holder is not None and self._deploying(target, holder) is not None:
            return None  # its deployment is starting or running
        pending = self.ledger.take_pending(target.name, remedy=remedy)
        if pending is None:
            return None
        release = self.ledger.get_release(target.name, pending.release_id)
        if release is None or release.status != "QUEUED":
            logger.warning("pending push has no queued release", target=target.name, release_id=pending.release_id)
            return None
        if self.ledger.is_quarantined(target.name, release.digest):
            self.ledger.update_release(
                target.name,
                release.release_id,
                status="REFUSED",
                reason="digest was quarantined while queued",
                finished_at=clock.iso(),
            )
            self.ledger.give_back_claim(target.name, release.digest, release.release_id)
            return Result("quarantined", "digest was quarantined while queued", target.name, release.release_id)
        if release.reason and release.reason.startswith((WAITING_FOR_GROUP, WAITING_FOR_RETRY)):
            release.reason = None  # it no longer waits: history tells what happens next, not what was
        reuse = release.task_definition_arn if release.trigger != "push" else None  # reverts keep their revision
        return self.start(
            target,
            release,
            order_key=pending.order_key,
            task_definition_arn=reuse,
            deployment_config=release.deployment_config,
            from_queue=True,
        )
