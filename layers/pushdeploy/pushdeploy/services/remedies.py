"""Remedies in flight: a deployment that moves production back toward a release that already proved itself (a
revert to KNOWN_GOOD, CodeDeploy's rollback deployment, an operator's rollback). Nothing in pushdeploy stops or
supersedes one (design.md section 9); every path that could asks here first."""

from __future__ import annotations

from dataclasses import dataclass

from pushdeploy import clock
from pushdeploy.ledger import Ledger
from pushdeploy.model.deployments import Deployment
from pushdeploy.model.releases import REMEDY_NAMES, REMEDY_TRIGGERS, Release


@dataclass(frozen=True)
class Remedy:
    deployment: Deployment
    release: Release | None

    def describe(self) -> str:
        """``revert d-XXXX to v1.0.0 in progress since 10:02:11Z`` (or ECS's rollback of a change's deployment)."""
        release = self.release
        if release is not None and not release.is_remedy:  # ECS turning a change's deployment round
            since = clock.iso(self.deployment.created_at) if self.deployment.created_at else None
            text = f"ECS's rollback of {self.deployment.deployment_id} ({release.tag or release.digest[:19]})"
            return text + (f" in progress since {since}" if since else " in progress")
        kind = REMEDY_NAMES.get(release.trigger, "remedy") if release else REMEDY_NAMES["rollback"]
        destination = (release.tag or release.digest[:19]) if release else None
        since = release.started_at if release and release.started_at else None
        if since is None and self.deployment.created_at is not None:
            since = clock.iso(self.deployment.created_at)
        text = f"{kind} {self.deployment.deployment_id}"
        if destination:
            text += f" to {destination}"
        elif self.deployment.rollback_triggering_deployment_id:
            text += f" of {self.deployment.rollback_triggering_deployment_id}"
        return text + (f" in progress since {since}" if since else " in progress")


def remedy_in_flight(ledger: Ledger, deployment: Deployment) -> Remedy | None:
    """The remedy ``deployment`` is, or None when it is a change (a push, a queued push, an operator's deploy).

    CodeDeploy's own record says it (a rollback's creator, the description pushdeploy gave a revert), so a change,
    the common case, costs no ledger read; the ledger's release is read for a remedy, to tell people about it. An ECS
    service deployment carries no description: the ledger says whether pushdeploy started it as a remedy, and one
    that is rolling back is a remedy in flight (ECS turns the same deployment round).
    """
    if deployment.is_rollback or deployment.started_as in REMEDY_TRIGGERS:
        return Remedy(deployment, ledger.release_by_deployment(deployment.deployment_id))
    if not deployment.application:  # ECS's own deployment: no description to read; the ledger knows what it is
        release = ledger.release_by_deployment(deployment.deployment_id)
        if deployment.turning_back or (release is not None and release.is_remedy):
            return Remedy(deployment, release)
    return None
