"""Retention: keep a target's task-definition history bounded without ever deleting a rollback target."""

from __future__ import annotations

from dataclasses import dataclass

from pushdeploy.aws import deployments, ecs
from pushdeploy.ledger import Ledger
from pushdeploy.model.targets import Target
from pushdeploy.model.taskdefs import family_of
from pushdeploy.observability import logger


@dataclass
class Retention:
    ledger: Ledger

    def protected(self, target: Target, in_use: frozenset[str]) -> set[str]:
        """What must stay: what tasks run, KNOWN_GOOD's revision, the candidate's and every unfinished release's."""
        protected = set(in_use)
        known_good = self.ledger.known_good(target.name)
        if known_good:
            protected.add(known_good.task_definition_arn)
        candidate = self.ledger.candidate(target.name)
        for release in self.ledger.releases(target.name, limit=25):
            if release.task_definition_arn and (
                release.is_unfinished or (candidate is not None and release.release_id == candidate.release_id)
            ):
                protected.add(release.task_definition_arn)
        return protected

    def prune(self, target: Target) -> list[str]:
        """Deregister revisions beyond ``keep_task_definitions``; housekeeping that never fails the caller."""
        try:
            service = ecs.describe_service(*deployments.service_of(target))
            removed = ecs.prune(
                family_of(service.task_definition_arn),
                keep=target.keep_task_definitions,
                protected=self.protected(target, service.task_definitions_in_use),
            )
        except Exception:  # noqa: BLE001 - retention is housekeeping; it never fails the bookkeeping
            logger.exception("task definition pruning failed", target=target.name)
            return []
        if removed:
            logger.info("task definitions deregistered", target=target.name, removed=removed)
        return removed
