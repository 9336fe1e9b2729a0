"""The queue (``PENDING``): the newest push waiting for the deployment group to be free. Newer wins the slot;
an older push never overwrites a newer one."""

from __future__ import annotations

from typing import Any

from pushdeploy import aws
from pushdeploy.ledger.claims import NOT_OLDER_THAN_NEWEST
from pushdeploy.ledger.table import Table, pk
from pushdeploy.model.releases import Pending, Release

REMEDY_SLOT = "PENDING_REMEDY"


class Queue(Table):
    def offer_pending(self, target: str, release: Release, order_key: str) -> tuple[bool, Pending | None]:
        """Queue ``release`` unless a newer push already waits or was accepted since.

        Returns (queued, the older pending it displaced). One transaction: the newest accepted push is not
        newer than this one, and the slot still holds what was read (retried if another writer got there first).
        """
        item = self._item(
            {
                "pk": pk(target),
                "sk": "PENDING",
                "kind": "pending",
                "release_id": release.release_id,
                "digest": release.digest,
                "tag": release.tag,
                "order_key": order_key,
            }
        )
        for _ in range(5):
            current = self.get_pending(target)
            if current is not None and current.order_key > order_key:
                return False, None  # an equal key (the registry could not tell them apart): the later arrival waits
            if current is None:
                slot: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
            else:
                slot = {
                    "ConditionExpression": "order_key = :old",
                    "ExpressionAttributeValues": {":old": {"S": current.order_key}},
                }
            steps = {
                "not-older-than-newest": {
                    "ConditionCheck": {
                        "TableName": self.table,
                        "Key": self._key(pk(target), "NEWEST_PUSH"),
                        "ConditionExpression": NOT_OLDER_THAN_NEWEST,
                        "ExpressionAttributeValues": {":k": {"S": order_key}},
                    }
                },
                "slot": {"Put": {"TableName": self.table, "Item": item, **slot}},
            }
            failed = self._transact(steps)
            if "not-older-than-newest" in failed:
                return False, None  # a newer push was accepted since this one
            if failed:
                continue  # the slot changed under us: read it again
            return True, current
        return False, None

    @staticmethod
    def _pending_from(plain: dict[str, Any]) -> Pending:
        return Pending(plain["release_id"], plain["digest"], plain.get("tag"), plain["order_key"])

    def offer_remedy(self, target: str, release: Release) -> Pending | None:
        """A remedy waits in its own slot (``PENDING_REMEDY``): no push displaces it, and it starts before any
        waiting push. A newer remedy replaces an older one (returned)."""
        response = self.client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": pk(target),
                    "sk": REMEDY_SLOT,
                    "kind": "pending",
                    "release_id": release.release_id,
                    "digest": release.digest,
                    "tag": release.tag,
                    "order_key": release.order_key,
                }
            ),
            ReturnValues="ALL_OLD",
        )
        old = response.get("Attributes")
        return self._pending_from(self._plain(old)) if old else None

    def get_pending(self, target: str, *, remedy: bool = False) -> Pending | None:
        plain = self._get(pk(target), REMEDY_SLOT if remedy else "PENDING")
        return self._pending_from(plain) if plain else None

    def take_pending(self, target: str, *, remedy: bool = False) -> Pending | None:
        """Remove and return the waiting push (only the one read: a newer one written meanwhile stays)."""
        pending = self.get_pending(target, remedy=remedy)
        if pending is None:
            return None
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=self._key(pk(target), REMEDY_SLOT if remedy else "PENDING"),
                ConditionExpression="order_key = :k",
                ExpressionAttributeValues={":k": {"S": pending.order_key}},
            )
        except Exception as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return None  # someone else took it or a newer one replaced it
            raise
        return pending
