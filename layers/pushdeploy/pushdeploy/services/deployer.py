"""The deployer: an ECR push becomes a blue/green deployment on every target it is for."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pushdeploy import clock
from pushdeploy.ledger import Ledger
from pushdeploy.model.events import Ignored, parse_push_event
from pushdeploy.model.images import ImagePush, ImageRef
from pushdeploy.model.releases import Release, ReleaseStatus, Trigger
from pushdeploy.model.results import Result
from pushdeploy.model.targets import Target, TargetCatalog
from pushdeploy.observability import logger
from pushdeploy.services.starter import Starter


class PushNotProcessed(Exception):
    """At least one target could not be handled; the event is retried (then dead-lettered)."""


@dataclass
class Deployer:
    ledger: Ledger
    starter: Starter

    def handle(self, event: Any, catalog: TargetCatalog) -> list[Result]:
        push = parse_push_event(event)
        if isinstance(push, Ignored):
            return [self._not_a_push(event, push)]
        targets = catalog.matching(push.image.repository, push.tag)
        if not targets:
            reason = self._why_no_target(push, catalog)
            logger.info(
                "push ignored", repository=push.image.repository, tag=push.tag, digest=push.image.digest, reason=reason
            )
            return [Result("ignored", reason)]
        results, failures = [], []
        for target in targets:
            try:
                results.append(self.deploy(target, push))
            except Exception as exc:  # noqa: BLE001 - one broken target never blocks the others; re-raised below
                logger.exception("push failed for target", target=target.name, digest=push.image.digest)
                failures.append(f"{target.name}: {type(exc).__name__}: {exc}")
                results.append(Result("failed", str(exc), target.name))
        if failures:
            raise PushNotProcessed("; ".join(failures))
        return results

    def deploy(self, target: Target, push: ImagePush, *, trigger: Trigger = "push") -> Result:
        """One push for one target (``trigger`` "manual" for an operator's deploy: the same path, labelled so)."""
        claim, release = self.ledger.claim_push(target.name, push, trigger=trigger)
        if claim.outcome == "duplicate":
            if claim.release_id and push.tag:
                self.ledger.add_tag(target.name, claim.release_id, push.tag)
            reason = f"duplicate: {claim.why or 'digest already handled'} (release {claim.release_id})"
            logger.info(
                "duplicate push",
                target=target.name,
                digest=push.image.digest,
                tag=push.tag,
                release_id=claim.release_id,
            )
            return Result("duplicate", reason, target.name, claim.release_id)
        if claim.outcome == "quarantined":
            return self._refuse(
                target,
                push,
                "REFUSED",
                f"digest {push.image.digest} is quarantined (release it with `pushdeploy release`)",
                trigger,
            )
        if claim.outcome == "stale":
            return self._refuse(
                target,
                push,
                "SUPERSEDED",
                f"a newer push for {target.name} was already accepted (push time {push.pushed_at})",
                trigger,
            )
        assert release is not None
        try:
            return self.starter.start(target, release, order_key=release.order_key)
        except Exception as exc:
            self.ledger.update_release(
                target.name,
                release.release_id,
                status="START_FAILED",
                reason=f"{type(exc).__name__}: {exc}",
                finished_at=clock.iso(),
            )
            self.ledger.drop_claim(target.name, push.image.digest)  # the retry may start it
            raise

    def _refuse(self, target: Target, push: ImagePush, status: ReleaseStatus, reason: str, trigger: Trigger) -> Result:
        """Record a push that will not deploy (quarantined digest, or older than one already accepted)."""
        release = Release.new(
            target=target.name,
            digest=push.image.digest,
            image_uri=push.image.uri,
            trigger=trigger,
            status=status,
            finished_at=clock.iso(),
            tag=push.tag,
            repository=push.image.repository,
            event_id=push.event_id,
            pushed_at=push.pushed_at,
            reason=reason,
        )
        self.ledger.put_release(release)
        logger.warning(
            "push not deployed",
            target=target.name,
            digest=push.image.digest,
            tag=push.tag,
            status=status,
            reason=reason,
        )
        return Result("quarantined" if status == "REFUSED" else "superseded", reason, target.name, release.release_id)

    def _not_a_push(self, event: Any, why: Ignored) -> Result:
        if why.malformed:
            logger.warning("malformed ECR event kept in the ledger", reason=why.reason)
            self.ledger.record_unprocessable(event, why.reason, function="deployer")
        else:
            logger.info("event ignored", reason=why.reason)
        return Result("ignored", why.reason)

    @staticmethod
    def _why_no_target(push: ImagePush, catalog: TargetCatalog) -> str:
        if not push.tag:
            return "push has no tag (untagged pushes never deploy)"
        same_repo = [t for t in catalog.targets if t.repository == push.image.repository]
        if same_repo:
            rules = ", ".join(f"{t.name}: {t.tag_pattern}" for t in same_repo)
            return f"tag {push.tag!r} matches no target's tag_pattern ({rules})"
        broken = f" ({len(catalog.errors)} target documents are invalid)" if catalog.errors else ""
        return f"no target deploys repository {push.image.repository!r}{broken}"

    # -- an operator's deploy ----------------------------------------------------------------------------------
    def deploy_image(self, target: Target, *, tag: str | None, digest: str | None, force: bool) -> Result:
        """Deploy an image of the target's repository, named by tag or digest, through the push path.

        ``force`` deploys even a digest already handled or quarantined (a new manual release).
        """
        from pushdeploy.aws import account, ecr

        if digest is None:
            digest = ecr.digest_of_tag(target.repository, str(tag))
        push = ImagePush(
            event_id=f"manual-{uuid.uuid4()}",
            pushed_at=f"{clock.now():%Y-%m-%dT%H:%M:%SZ}",  # whole seconds, like EventBridge's: one order for both
            image=ImageRef(account.account_id(), ecr.registry_region(), target.repository, digest),
            tag=tag,
        )
        if not force:
            return self.deploy(target, push, trigger="manual")
        release = Release.new(
            target=target.name,
            digest=digest,
            image_uri=push.image.uri,
            trigger="manual",
            tag=tag,
            repository=target.repository,
            event_id=push.event_id,
            pushed_at=push.pushed_at,
            reason="manual deploy (--force)",
        )
        self.ledger.put_release(release)
        return self.starter.start(target, release, order_key=push.order_key)
