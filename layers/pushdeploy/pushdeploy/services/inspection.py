"""Looking, not touching: what serves production, what is deploying, what waits, a target's history, and a
deployment's true final status (a stop or a rollback is never a success)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from pushdeploy import clock
from pushdeploy.aws import codedeploy, ecs, elbv2
from pushdeploy.ledger import Ledger
from pushdeploy.model.deployments import Deployment, DeploymentGroup
from pushdeploy.model.images import parse_image_uri
from pushdeploy.model.releases import KnownGood, Pending, Quarantine, Release
from pushdeploy.model.targets import Target


@dataclass(frozen=True)
class Live:
    """What serves a target's production traffic now, and the ledger's release for it (if any)."""

    task_definition_arn: str
    image: str | None
    digest: str | None
    release: Release | None
    group: DeploymentGroup

    @property
    def tag(self) -> str | None:
        return self.release.tag if self.release else None


@dataclass(frozen=True)
class ActiveDeployment:
    deployment: Deployment
    release: Release | None
    traffic: str | None

    @property
    def hooks(self) -> dict[str, str | None]:
        verdicts = self.release.hooks if self.release else {}
        return {stage: v.get("status") for stage, v in verdicts.items() if isinstance(v, dict)}


@dataclass(frozen=True)
class TargetStatus:
    target: Target
    live: Live
    active: ActiveDeployment | None
    pending: Pending | None
    known_good: KnownGood | None
    quarantined: list[Quarantine] = field(default_factory=list)


@dataclass
class Inspection:
    ledger: Ledger

    def live(self, target: Target) -> Live:
        group = codedeploy.describe_group(target.application, target.deployment_group)
        service = ecs.describe_service(group.cluster, group.service)
        image = ecs.image_of(service.task_definition_arn, target.container_name)
        ref = parse_image_uri(image or "")
        release = next(
            (
                r
                for r in self.ledger.releases(target.name, limit=50)
                if r.task_definition_arn == service.task_definition_arn and r.status in ("SUCCEEDED", "REVERTED")
            ),
            None,
        )
        return Live(service.task_definition_arn, image, ref.digest if ref else None, release, group)

    def status(self, target: Target) -> TargetStatus:
        live = self.live(target)
        active_ids = codedeploy.active_deployment_ids(target.application, target.deployment_group)
        active = None
        if active_ids:
            listeners = live.group.prod_listener_arns
            active = ActiveDeployment(
                codedeploy.get_deployment(active_ids[0]),
                self.ledger.release_by_deployment(active_ids[0]),
                elbv2.describe_weights(listeners[0]) if listeners else None,
            )
        return TargetStatus(
            target,
            live,
            active,
            self.ledger.get_pending(target.name),
            self.ledger.known_good(target.name),
            self.ledger.quarantined(target.name),
        )

    def history(self, target: Target, limit: int) -> list[Release]:
        """Newest first."""
        return self.ledger.releases(target.name, limit=limit)

    @staticmethod
    def wait_for(
        deployment_id: str,
        *,
        timeout: float,
        progress: Callable[[Deployment], None] | None = None,
        poll_seconds: float = 5.0,
    ) -> tuple[Deployment, bool]:
        """Poll until the deployment ends or ``timeout`` seconds pass. Returns (its last state, whether it ended)."""
        deadline = clock.now() + timedelta(seconds=timeout)  # the rehearsal's virtual clock when it runs there
        while True:
            deployment = codedeploy.get_deployment(deployment_id)
            if progress:
                progress(deployment)
            if deployment.is_terminal:
                return deployment, True
            if clock.now() >= deadline:
                return deployment, False
            clock.sleep(poll_seconds)
