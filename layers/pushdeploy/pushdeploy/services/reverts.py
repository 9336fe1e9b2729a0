"""Remedies: stop a deployment with rollback, revert to the known-good release, and an operator's rollback.

Shared by the alarm function and the CLI, so that both quarantine, record and start the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pushdeploy.aws import deployments
from pushdeploy.ledger import Ledger
from pushdeploy.model.releases import KnownGood, Release, Trigger
from pushdeploy.model.results import Result
from pushdeploy.model.targets import Target
from pushdeploy.observability import count, logger
from pushdeploy.services.inspection import Inspection
from pushdeploy.services.notify import Notifier
from pushdeploy.services.remedies import remedy_in_flight
from pushdeploy.services.starter import Starter


def resolve_digest(ref: str, candidates: list[tuple[str, str | None]], *, what: str) -> str:
    """The one digest among ``candidates`` ((digest, tag) pairs, newest first) that ``ref`` names: a tag (its newest
    image), a full digest, or a unique digest prefix (``sha256:`` optional, at least 6 hex digits).
    :class:`NothingToRollBack` otherwise, listing the candidates an ambiguous prefix matched."""
    text = ref.strip()
    by_tag = [d for d, tag in candidates if tag == text]
    if by_tag:
        return by_tag[0]  # a moving tag: the newest of its images (candidates come newest first)
    prefix = text if text.startswith("sha256:") else f"sha256:{text}"
    hexdigits = prefix.removeprefix("sha256:")
    if re.fullmatch(r"[0-9a-f]{1,5}", hexdigits):
        raise NothingToRollBack(f"{ref!r} is too short a digest prefix: give at least 6 hex digits (or a tag)")
    found = {d for d, _ in candidates if d == text or (len(hexdigits) >= 6 and d.startswith(prefix))}
    if len(found) == 1:
        return found.pop()
    if not found:
        raise NothingToRollBack(f"no {what} matches {ref!r}", not_found=True)
    listed = ", ".join(sorted(d[:19] for d in found))
    raise NothingToRollBack(f"{ref!r} matches {len(found)} of them ({listed}): give more of the digest")


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
        status = deployments.stop_with_rollback(target, deployment_id, reason)
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
        active = deployments.active_deployment_ids(target)
        if active and to is not None:
            raise NothingToRollBack(self._to_while_deploying(target, active[0], to))
        if active:
            remedy = remedy_in_flight(self.ledger, deployments.get_deployment(active[0]))
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

    @staticmethod
    def _to_while_deploying(target: Target, deployment_id: str, to: str) -> str:
        return (
            f"{target.name}: {deployment_id} is deploying, and stopping it sends production back to the task set it "
            f"replaces, not to {to!r}: run `pushdeploy rollback {target.name}` first, then `--to {to}` once nothing "
            "deploys"
        )

    def _destination(self, target: Target, ref: str | None) -> KnownGood:
        if ref is None:
            known_good = self.ledger.known_good(target.name)
            if known_good is None:
                raise NothingToRollBack(
                    f"{target.name} has no known-good release to roll back to (use --to)", not_found=True
                )
            return known_good
        succeeded = [
            r for r in self.ledger.releases(target.name, limit=200) if r.task_definition_arn and r.status == "SUCCEEDED"
        ]
        digest = resolve_digest(ref, [(r.digest, r.tag) for r in succeeded], what=f"succeeded release of {target.name}")
        return KnownGood.of(next(r for r in succeeded if r.digest == digest))

    def rollback_plan(self, target: Target, *, to: str | None, force: bool = False) -> str:
        """What :meth:`operator_rollback` would do, in words, read-only (for the confirmation prompt). Raises what
        it would raise."""
        active = deployments.active_deployment_ids(target)
        if active and to is not None:
            raise NothingToRollBack(self._to_while_deploying(target, active[0], to))
        if active:
            deployment = deployments.get_deployment(active[0])
            remedy = remedy_in_flight(self.ledger, deployment)
            if remedy is not None and not force:
                raise RemedyInProgress(
                    f"{target.name}: {remedy.describe()}; a rollback now would undo it (--force to stop it anyway)"
                )
            release = self.ledger.release_by_deployment(active[0])
            what = f"{release.tag or release.digest} " if release else ""
            known_good = self.ledger.known_good(target.name)
            doomed = f"{what or 'its image '}will be quarantined"
            if release is not None and known_good is not None and release.digest == known_good.digest:
                doomed = f"{what}is the known-good release: it is not quarantined"
            if remedy is not None:
                doomed = "it is a remedy (--force)"
            return (
                f"stop {active[0]} ({what}{deployment.status}) with rollback: production returns to the original "
                f"task set; {doomed}"
            )
        destination = self._destination(target, to)
        live = self.inspection.live(target)
        if live.task_definition_arn == destination.task_definition_arn or live.digest == destination.digest:
            raise NothingToRollBack(
                f"{target.name} already serves {destination.tag or destination.digest}: nothing to roll back"
            )
        serving = (live.release.tag if live.release else None) or live.digest or live.task_definition_arn
        return (
            f"deploy {destination.tag or destination.digest} ({destination.digest}) over {serving} on {target.name}; "
            f"{serving} ({live.digest or 'its image'}) will be quarantined"
        )

    def resolve_quarantined(self, target: Target, ref: str) -> str:
        """The quarantined digest ``ref`` names: a full digest, a unique prefix (with or without ``sha256:``) or a
        tag a quarantined release carried."""
        quarantined = {q.digest for q in self.ledger.quarantined(target.name)}
        tags = {r.digest: r.tag for r in self.ledger.releases(target.name, limit=200) if r.digest in quarantined}
        return resolve_digest(
            ref, [(d, tags.get(d)) for d in sorted(quarantined)], what=f"quarantined digest of {target.name}"
        )

    def release_quarantine(self, target: Target, digest: str) -> bool:
        """Lift a digest's quarantine (an operator's ``release``); False when it was not quarantined."""
        lifted = self.ledger.lift_quarantine(target.name, digest)
        if lifted:
            logger.info("quarantine lifted", target=target.name, digest=digest)
        return lifted
