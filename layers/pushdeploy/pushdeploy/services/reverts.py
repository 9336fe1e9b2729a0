"""Remedies: stop a deployment with rollback, revert to the known-good release, and an operator's rollback.

Shared by the alarm function and the CLI, so that both quarantine, record and start the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from pushdeploy.aws import codedeploy
from pushdeploy.ledger import Ledger
from pushdeploy.model.releases import KnownGood, Release, Trigger
from pushdeploy.model.results import Result
from pushdeploy.model.targets import Target
from pushdeploy.observability import count, logger
from pushdeploy.services.inspection import Inspection
from pushdeploy.services.notify import Notifier
from pushdeploy.services.remedies import remedy_in_flight
from pushdeploy.services.starter import Starter


class NothingToRollBack(Exception):
    """The rollback the operator asked for would change nothing, or has nowhere to go."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


class RemedyInProgress(Exception):
    """A remedy is deploying: an operator's rollback now would undo it (unless forced)."""


@dataclass
class Reverts:
    ledger: Ledger
    starter: Starter
    inspection: Inspection
    notifier: Notifier

    def stop_with_rollback(
        self, target: Target, deployment_id: str, *, reason: str, quarantine_reason: str, alarm: str | None = None
    ) -> tuple[str, Release | None]:
        """Stop ``deployment_id`` (CodeDeploy rolls it back) and quarantine its digest.

        Returns CodeDeploy's stop status and the release the deployment was, if pushdeploy started it.
        """
        status = codedeploy.stop_with_rollback(deployment_id, reason)
        release = self.ledger.release_by_deployment(deployment_id)
        if release is not None:
            changes = {"reason": reason} | ({"alarm": alarm} if alarm is not None else {})
            self.ledger.update_release(target.name, release.release_id, **changes)
            if not release.is_remedy:
                self.quarantine(target, release.digest, reason=quarantine_reason, release_id=release.release_id)
        return status, release

    def quarantine(self, target: Target, digest: str, *, reason: str, release_id: str | None) -> bool:
        """Quarantine a bad digest, never KNOWN_GOOD's (automation never takes away the way back)."""
        if self.ledger.quarantine(target.name, digest, reason=reason, release_id=release_id):
            return True
        logger.warning("known-good digest not quarantined", target=target.name, digest=digest, reason=reason)
        return False

    def revert(
        self,
        target: Target,
        *,
        bad: Release | None,
        reason: str,
        trigger_alarm: str | None = None,
        to: KnownGood | None = None,
        trigger: Trigger = "revert",
        bad_digest: str | None = None,
    ) -> Result:
        """Deploy KNOWN_GOOD's (or ``to``'s) task definition (fast config; hooks still run); quarantine ``bad``.

        ``bad`` is the release being removed; when what serves production is unknown to the ledger it is None
        and ``bad_digest`` (if known) is quarantined instead.
        """
        known_good = to or self.ledger.known_good(target.name)
        bad_id = bad.release_id if bad else None
        digest = bad.digest if bad else bad_digest
        if digest and (known_good is None or digest != known_good.digest):
            self.quarantine(target, digest, reason=reason, release_id=bad_id)
        if bad_id:
            self.ledger.clear_candidate(target.name, bad_id)
        if known_good is None or known_good.release_id == bad_id:
            why = f"{reason}; no known-good release to revert to"
            if bad_id:
                self.ledger.update_release(target.name, bad_id, reason=why, alarm=trigger_alarm)
            logger.error("cannot revert: no known-good release", target=target.name, release_id=bad_id)
            return Result("recorded", why, target.name, bad_id)
        revert = Release.new(
            target=target.name,
            digest=known_good.digest,
            image_uri=known_good.image_uri,
            trigger=trigger,
            tag=known_good.tag,
            reverts_release_id=bad_id,
            reason=reason,
            alarm=trigger_alarm,
            task_definition_arn=known_good.task_definition_arn,  # kept if the revert has to wait in the queue
            deployment_config=target.rollback.revert_deployment_config,
        )
        self.ledger.put_release(revert)
        if bad is not None:
            reverted = {"status": "REVERTED"} if bad.status == "SUCCEEDED" else {}
            self.ledger.update_release(
                target.name, bad.release_id, reason=f"reverted: {reason}", alarm=trigger_alarm, **reverted
            )
            if reverted:  # people learn that what shipped was taken back, and why
                bad.status, bad.reason, bad.alarm = "REVERTED", f"reverted: {reason}", trigger_alarm
                self.notifier.tell(target, bad, "REVERTED")
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

    # -- the operator's rollback ---------------------------------------------------------------------------------
    def operator_rollback(self, target: Target, *, to: str | None, force: bool = False) -> Result:
        """Stop the active deployment with rollback; with none active, go back to KNOWN_GOOD (or the release
        ``to`` names: a digest or a tag of a succeeded release). A remedy in flight is never stopped unless
        ``force``: :class:`RemedyInProgress` says what is happening."""
        reason = "rollback requested by an operator"
        active = codedeploy.active_deployment_ids(target.application, target.deployment_group)
        if active:
            remedy = remedy_in_flight(self.ledger, codedeploy.get_deployment(active[0]))
            if remedy is not None and not force:
                raise RemedyInProgress(
                    f"{target.name}: {remedy.describe()}; a rollback now would undo it (--force to stop it anyway)"
                )
            status, _ = self.stop_with_rollback(
                target,
                active[0],
                reason="stopped by an operator (rollback)",
                quarantine_reason="rolled back by an operator",
            )
            return Result("rollback-started", f"stopped with rollback ({status})", target.name, deployment_id=active[0])
        destination = self._destination(target, to)  # resolved before anything is touched
        live = self.inspection.live(target)  # what the service runs, whether or not the ledger knows it
        if live.task_definition_arn == destination.task_definition_arn or live.digest == destination.digest:
            raise NothingToRollBack(
                f"{target.name} already serves {destination.tag or destination.digest}: nothing to roll back"
            )
        return self.revert(
            target,
            bad=live.release,
            bad_digest=live.digest,
            reason=reason,
            to=destination,
            trigger="operator-rollback",
        )

    def _destination(self, target: Target, ref: str | None) -> KnownGood:
        if ref is None:
            known_good = self.ledger.known_good(target.name)
            if known_good is None:
                raise NothingToRollBack(
                    f"{target.name} has no known-good release to roll back to (use --to)", not_found=True
                )
            return known_good
        for release in self.ledger.releases(target.name, limit=200):
            if release.task_definition_arn and release.status == "SUCCEEDED" and ref in (release.digest, release.tag):
                return KnownGood.of(release)
        raise NothingToRollBack(f"no succeeded release of {target.name} matches {ref!r}", not_found=True)

    def release_quarantine(self, target: Target, digest: str) -> bool:
        """Lift a digest's quarantine (an operator's ``release``); False when it was not quarantined."""
        lifted = self.ledger.lift_quarantine(target.name, digest)
        if lifted:
            logger.info("quarantine lifted", target=target.name, digest=digest)
        return lifted
