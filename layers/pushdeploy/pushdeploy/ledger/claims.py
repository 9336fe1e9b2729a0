"""Idempotency means "the same event, or already there" (design.md section 9).

A push is a duplicate when it is a redelivery of the same event (``EVENT#<id>``), or its digest is live (``LIVE``),
in flight or queued for the target (``CLAIM#<digest>``, held by an unfinished release and given back when the release
ends). Any other push of a digest, a re-tag of an older image included, is a new intent and deploys unless the digest
is quarantined. Pushes never go back in time (``NEWEST_PUSH``: the newest push accepted; an older one is stale).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pushdeploy import aws, clock
from pushdeploy.aws import ecr
from pushdeploy.ledger.table import Table, pk
from pushdeploy.model.images import ImagePush, ImageRef, refined_order_key, same_second
from pushdeploy.model.releases import UNFINISHED_STATUSES, Claim, Release, Trigger

# A claim whose owner died mid-way (timeout, OOM) is taken over after this: longer than the deployer's 60-s timeout,
# shorter than Lambda's first retry of a failed asynchronous invocation (about a minute after the failure).
CLAIM_LEASE_SECONDS = 90
EVENT_MEMORY_SECONDS = 7 * 24 * 3600  # EventBridge retries for at most 24 hours; Lambda's async queue 6
_CLAIM_IS_FREE = "attribute_not_exists(pk) OR (#state = :claimed AND lease_until < :now)"
NOT_OLDER_THAN_NEWEST = "attribute_not_exists(order_key) OR order_key <= :k"


def _moment_in_second(image: ImageRef, order_key: str) -> str | None:
    """When in its second ``image`` was pushed, by ECR's ``imagePushedAt``; None when the registry cannot place it:
    an image pushed in an earlier second was re-tagged (ECR keeps the first push's time)."""
    second = order_key.split("#", 1)[0].removesuffix("Z")
    registry = ecr.pushed_at(image)
    if registry is None or not registry.startswith(second):
        return None
    return registry


@dataclass(frozen=True)
class _Again:
    """Try the claim again: as a retry of ``retry_of`` (a failed start), or ordered against ``newest``."""

    retry_of: Release | None = None
    newest: dict[str, Any] | None = None


class Claims(Table):
    def claim_push(self, target: str, push: ImagePush, *, trigger: Trigger = "push") -> tuple[Claim, Release | None]:
        """Claim (target, digest) for this push and create its release, unless it is a duplicate, quarantined or
        stale. One transaction: not quarantined, not live, not in flight, not this event again, not older than the
        newest accepted push; then the claim, the release, the event and the newest push are written together.
        Nothing is read first: a failed condition says what to read (the common push costs one write).

        A retry of a push whose start failed (Lambda retries the event) continues the same release.
        """
        release = Release.new(
            target=target,
            digest=push.image.digest,
            image_uri=push.image.uri,
            trigger=trigger,
            tag=push.tag,
            repository=push.image.repository,
            event_id=push.event_id,
            pushed_at=push.pushed_at,
        )
        again = _Again()
        for _ in range(4):
            order = self._order(push, again.newest)
            if order is None:
                return Claim("stale", None), None
            answer = self._try_claim(target, push, release, order, retry_of=again.retry_of)
            if not isinstance(answer, _Again):
                return answer
            again = answer
            if again.retry_of is not None:  # the same push again after a failed start: one release, not one per try
                release.release_id, release.created_at = again.retry_of.release_id, again.retry_of.created_at
        return Claim("duplicate", None, "the digest's claim keeps changing hands"), None

    @staticmethod
    def _order(push: ImagePush, newest: dict[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
        """The push's order key and the condition on ``NEWEST_PUSH`` that accepts it; None when it is older.

        First strictly newer than every key of an earlier second. EventBridge's ``time`` has whole seconds: when a
        push of the same second (``newest``, read after that failed) was accepted, both are ordered by ECR's
        sub-second ``imagePushedAt``, read only then.
        """
        key = push.order_key
        if newest is None or not same_second(str(newest.get("order_key", "")), key):
            return key, {"ConditionExpression": "attribute_not_exists(order_key) OR order_key < :k"}
        seen = str(newest["order_key"])
        ours = _moment_in_second(push.image, key)
        theirs = _moment_in_second(replace(push.image, digest=str(newest["digest"])), key)
        if ours is not None and theirs is not None and ours < theirs:
            return None
        # not older: the registry says ours came later, or cannot place one of them (a re-tag) and arrival order
        # decides; either way the key sorts after the one seen
        later = refined_order_key(key, ours) if ours is not None and theirs is not None else ""
        return max(later, seen + "+"), {
            "ConditionExpression": "order_key = :seen",
            "ExpressionAttributeValues": {":seen": {"S": str(newest["order_key"])}},
        }

    def _try_claim(
        self,
        target: str,
        push: ImagePush,
        release: Release,
        order: tuple[str, dict[str, Any]],
        *,
        retry_of: Release | None,
    ) -> tuple[Claim, Release | None] | _Again:
        digest = push.image.digest
        now = clock.now()
        order_key, newest_condition = order
        release.push_order = order_key
        event_condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        if retry_of is not None:
            event_condition = {
                "ConditionExpression": "release_id = :r",
                "ExpressionAttributeValues": {":r": {"S": retry_of.release_id}},
            }
        steps = {
            "not-quarantined": {
                "ConditionCheck": {
                    "TableName": self.table,
                    "Key": self._key(pk(target), f"QUARANTINE#{digest}"),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            "not-live": {
                "ConditionCheck": {
                    "TableName": self.table,
                    "Key": self._key(pk(target), "LIVE"),
                    "ConditionExpression": "attribute_not_exists(pk) OR digest <> :d",
                    "ExpressionAttributeValues": {":d": {"S": digest}},
                }
            },
            "claim": {
                "Put": {
                    "TableName": self.table,
                    "Item": self._item(
                        {
                            "pk": pk(target),
                            "sk": f"CLAIM#{digest}",
                            "kind": "claim",
                            "release_id": release.release_id,
                            "state": "CLAIMED",
                            "claimed_at": clock.iso(now),
                            "lease_until": clock.iso(now + timedelta(seconds=CLAIM_LEASE_SECONDS)),
                        }
                    ),
                    "ConditionExpression": _CLAIM_IS_FREE,
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": {":claimed": {"S": "CLAIMED"}, ":now": {"S": clock.iso(now)}},
                }
            },
            "release": {"Put": {"TableName": self.table, "Item": self._release_item(release)}},
            "event": {
                "Put": {
                    "TableName": self.table,
                    "Item": self._item(
                        {
                            "pk": pk(target),
                            "sk": f"EVENT#{push.event_id}",
                            "kind": "event",
                            "release_id": release.release_id,
                            "expires_at": int(time.time()) + EVENT_MEMORY_SECONDS,
                        }
                    ),
                    **event_condition,
                }
            },
            "newest-push": {  # pushes arrive in any order: an older one never follows a newer one
                "Update": {
                    "TableName": self.table,
                    "Key": self._key(pk(target), "NEWEST_PUSH"),
                    "UpdateExpression": "SET order_key = :k, digest = :d",
                    "ConditionExpression": newest_condition["ConditionExpression"],
                    "ExpressionAttributeValues": {
                        ":k": {"S": order_key},
                        ":d": {"S": digest},
                        **newest_condition.get("ExpressionAttributeValues", {}),
                    },
                }
            },
        }
        failed = self._transact(steps)
        if "not-quarantined" in failed:
            return Claim("quarantined", None), None
        if "event" in failed:
            seen = self._get(pk(target), f"EVENT#{push.event_id}") or {}
            plain = self._get(pk(target), f"RELEASE#{seen.get('release_id')}") if seen else None
            earlier = Release.from_record(plain) if plain else None
            if earlier is not None and retry_of is None and self._never_started(target, earlier, now):
                return _Again(retry_of=earlier)  # the event again after a failed or abandoned start: continue it
            return Claim("duplicate", seen.get("release_id"), "the same push event, delivered again"), None
        if "not-live" in failed:
            live = self._get(pk(target), "LIVE") or {}
            return Claim("duplicate", live.get("release_id"), "the digest is already live"), None
        if "claim" in failed:
            holder = self._get(pk(target), f"CLAIM#{digest}")
            if holder is None or self._claim_outlived_its_release(target, digest, holder):
                return _Again(retry_of=retry_of)  # given back meanwhile, or its release ended without giving it back
            return Claim("duplicate", holder.get("release_id"), "the digest is already deploying or queued"), None
        if "newest-push" in failed:
            newest = self._get(pk(target), "NEWEST_PUSH") or {}
            if same_second(str(newest.get("order_key", "")), push.order_key):
                return _Again(retry_of=retry_of, newest=newest)  # a push of the same second: compare registry times
            return Claim("stale", None), None
        if failed:
            return _Again(retry_of=retry_of)  # nothing else can fail a condition; were it to, try again
        return Claim("claimed", release.release_id), release

    def _never_started(self, target: str, release: Release, now: datetime) -> bool:
        """The release of an event delivered again never got going: its start failed, or its owner died mid-way
        (still RECEIVED, and the claim's lease ran out). The redelivery continues it."""
        if release.status == "START_FAILED":
            return True
        if release.status != "RECEIVED":
            return False
        holder = self._get(pk(target), f"CLAIM#{release.digest}")
        return holder is None or (
            holder.get("release_id") == release.release_id and str(holder.get("lease_until", "")) < clock.iso(now)
        )

    def _claim_outlived_its_release(self, target: str, digest: str, holder: dict[str, Any]) -> bool:
        """A claim whose release is finished (its end was recorded but the claim not given back): free it."""
        plain = self._get(pk(target), f"RELEASE#{holder.get('release_id')}")
        owner = Release.from_record(plain) if plain else None
        if owner is not None and owner.status in UNFINISHED_STATUSES:
            return False
        self.give_back_claim(target, digest, owner.release_id if owner else None)
        return True

    def complete_claim(self, target: str, digest: str) -> None:
        """Started or queued: the claim is held until the release ends, however long it waits."""
        self.client.update_item(**self._claim_done(target, digest))

    def drop_claim(self, target: str, digest: str) -> None:
        """Forget a claim so that a redelivery (or a later push) of the digest may start it again."""
        self.client.delete_item(TableName=self.table, Key=self._key(pk(target), f"CLAIM#{digest}"))

    def give_back_claim(self, target: str, digest: str, release_id: str | None) -> None:
        """The release holding the digest's claim ended: a later push of the digest is a new intent."""
        condition: dict[str, Any] = {}
        if release_id is not None:
            condition = {
                "ConditionExpression": "release_id = :r",
                "ExpressionAttributeValues": {":r": {"S": release_id}},
            }
        try:
            self.client.delete_item(TableName=self.table, Key=self._key(pk(target), f"CLAIM#{digest}"), **condition)
        except Exception as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                raise  # another release holds it now: not ours to give back

    # -- what serves production -------------------------------------------------------------------------------
    def set_live(self, release: Release) -> None:
        """``LIVE``: the digest production serves since ``release`` succeeded (a push of it is "already there")."""
        self.client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": pk(release.target),
                    "sk": "LIVE",
                    "kind": "live",
                    "release_id": release.release_id,
                    "digest": release.digest,
                    "since": clock.iso(),
                }
            ),
        )

    def live_digest(self, target: str) -> str | None:
        plain = self._get(pk(target), "LIVE")
        return str(plain["digest"]) if plain else None
