"""Claims: one digest starts at most one release per target (``CLAIM#<digest>``), and pushes never go back in
time (``NEWEST_PUSH``: the newest push accepted, by push time; an older one arriving later is stale)."""

from __future__ import annotations

from datetime import timedelta

from pushdeploy import clock
from pushdeploy.ledger.table import Table, cancellation_reasons, pk
from pushdeploy.model.images import ImagePush
from pushdeploy.model.releases import Claim, Release, Trigger

CLAIM_LEASE_SECONDS = 15 * 60  # a claim whose owner died mid-way (timeout, OOM) is taken over after this
_CLAIM_IS_FREE = "attribute_not_exists(pk) OR (#state = :claimed AND lease_until < :now)"
NOT_OLDER_THAN_NEWEST = "attribute_not_exists(order_key) OR order_key <= :k"


class Claims(Table):
    def claim_push(self, target: str, push: ImagePush, *, trigger: Trigger = "push") -> tuple[Claim, Release | None]:
        """Claim (target, digest) and create its release, unless the digest is quarantined, claimed or stale.

        One transaction: no quarantine marker, no live claim (a claim whose lease ran out is taken over),
        the push is not older than the newest accepted; then the claim and the release are written together.
        """
        digest = push.image.digest
        now = clock.now()
        release = Release.new(
            target=target,
            digest=digest,
            image_uri=push.image.uri,
            trigger=trigger,
            tag=push.tag,
            repository=push.image.repository,
            event_id=push.event_id,
            pushed_at=push.pushed_at,
        )
        claim_item = self._item(
            {
                "pk": pk(target),
                "sk": f"CLAIM#{digest}",
                "kind": "claim",
                "release_id": release.release_id,
                "state": "CLAIMED",
                "claimed_at": clock.iso(now),
                "lease_until": clock.iso(now + timedelta(seconds=CLAIM_LEASE_SECONDS)),
            }
        )
        steps = {
            "not-quarantined": {
                "ConditionCheck": {
                    "TableName": self.table,
                    "Key": self._key(pk(target), f"QUARANTINE#{digest}"),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            "claim": {
                "Put": {
                    "TableName": self.table,
                    "Item": claim_item,
                    "ConditionExpression": _CLAIM_IS_FREE,
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": {":claimed": {"S": "CLAIMED"}, ":now": {"S": clock.iso(now)}},
                }
            },
            "release": {"Put": {"TableName": self.table, "Item": self._release_item(release)}},
            "newest-push": {  # pushes arrive in any order: an older one never follows a newer one
                "Update": {
                    "TableName": self.table,
                    "Key": self._key(pk(target), "NEWEST_PUSH"),
                    "UpdateExpression": "SET order_key = :k, digest = :d",
                    "ConditionExpression": NOT_OLDER_THAN_NEWEST,
                    "ExpressionAttributeValues": {":k": {"S": push.order_key}, ":d": {"S": digest}},
                }
            },
        }
        try:
            self.client.transact_write_items(TransactItems=list(steps.values()))
        except Exception as exc:
            reasons = cancellation_reasons(exc, list(steps))
            if reasons is None:
                raise
            if reasons.get("not-quarantined") == "ConditionalCheckFailed":
                return Claim("quarantined", None), None
            if reasons.get("claim") == "ConditionalCheckFailed":
                existing = self._get(pk(target), f"CLAIM#{digest}")
                return Claim("duplicate", (existing or {}).get("release_id")), None
            if reasons.get("newest-push") == "ConditionalCheckFailed":
                return Claim("stale", None), None
            raise
        return Claim("claimed", release.release_id), release

    def complete_claim(self, target: str, digest: str) -> None:
        """Handled for good: a redelivery is a duplicate, however long the release waits."""
        self.client.update_item(**self._claim_done(target, digest))

    def drop_claim(self, target: str, digest: str) -> None:
        """Forget a claim so that a redelivery (or a later push) of the digest may start it again."""
        self.client.delete_item(TableName=self.table, Key=self._key(pk(target), f"CLAIM#{digest}"))
