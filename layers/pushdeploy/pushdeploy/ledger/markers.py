"""Markers: ``KNOWN_GOOD`` (the last release that survived its watch window), ``CANDIDATE`` (the last succeeded
release still inside it) and ``QUARANTINE#<digest>`` (rolled back: never auto-deployed until released)."""

from __future__ import annotations

from pushdeploy import clock
from pushdeploy.ledger.table import Table, pk
from pushdeploy.model.releases import Candidate, KnownGood, Quarantine, Release


class Markers(Table):
    # -- quarantine --------------------------------------------------------------------------------------------
    def quarantine(self, target: str, digest: str, *, reason: str, release_id: str | None) -> bool:
        """Quarantine ``digest`` unless it is KNOWN_GOOD's (checked in the same transaction): automation never takes
        away the way back. False when it was KNOWN_GOOD's."""
        failed = self._transact(
            {
                "not-known-good": {
                    "ConditionCheck": {
                        "TableName": self.table,
                        "Key": self._key(pk(target), "KNOWN_GOOD"),
                        "ConditionExpression": "attribute_not_exists(pk) OR digest <> :d",
                        "ExpressionAttributeValues": {":d": {"S": digest}},
                    }
                },
                "quarantine": {
                    "Put": {
                        "TableName": self.table,
                        "Item": self._item(
                            {
                                "pk": pk(target),
                                "sk": f"QUARANTINE#{digest}",
                                "kind": "quarantine",
                                "digest": digest,
                                "reason": reason,
                                "release_id": release_id,
                                "quarantined_at": clock.iso(),
                            }
                        ),
                    }
                },
            }
        )
        return "not-known-good" not in failed

    def is_quarantined(self, target: str, digest: str) -> bool:
        return self._get(pk(target), f"QUARANTINE#{digest}") is not None

    def lift_quarantine(self, target: str, digest: str) -> bool:
        response = self.client.delete_item(
            TableName=self.table, Key=self._key(pk(target), f"QUARANTINE#{digest}"), ReturnValues="ALL_OLD"
        )
        return bool(response.get("Attributes"))

    def quarantined(self, target: str) -> list[Quarantine]:
        return [
            Quarantine(q["digest"], q.get("reason", ""), q.get("release_id"), q.get("quarantined_at", ""))
            for q in self._query_prefix(pk(target), "QUARANTINE#")
        ]

    # -- known good and candidate ---------------------------------------------------------------------------
    def known_good(self, target: str) -> KnownGood | None:
        plain = self._get(pk(target), "KNOWN_GOOD")
        if not plain:
            return None
        return KnownGood(
            plain["release_id"],
            plain["digest"],
            plain["image_uri"],
            plain["task_definition_arn"],
            plain.get("tag"),
            plain["since"],
        )

    def set_known_good(self, release: Release) -> None:
        self.client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": pk(release.target),
                    "sk": "KNOWN_GOOD",
                    "kind": "known_good",
                    "release_id": release.release_id,
                    "digest": release.digest,
                    "image_uri": release.image_uri,
                    "task_definition_arn": release.task_definition_arn,
                    "tag": release.tag,
                    "since": clock.iso(),
                }
            ),
        )

    def candidate(self, target: str) -> Candidate | None:
        plain = self._get(pk(target), "CANDIDATE")
        if not plain:
            return None
        return Candidate(plain["release_id"], plain["digest"], plain["succeeded_at"], plain["watch_until"])

    def set_candidate(self, release: Release, watch_until: str) -> None:
        self.client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": pk(release.target),
                    "sk": "CANDIDATE",
                    "kind": "candidate",
                    "release_id": release.release_id,
                    "digest": release.digest,
                    "succeeded_at": clock.iso(),
                    "watch_until": watch_until,
                }
            ),
        )

    def clear_candidate(self, target: str, release_id: str) -> None:
        self._delete_held(pk(target), "CANDIDATE", release_id)
