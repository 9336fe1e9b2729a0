"""``LANE``: the one release deploying on a target's ECS-controlled service.

ECS starts a new deployment on every UpdateService, even while one runs (unlike CodeDeploy, which refuses a
second deployment per group). pushdeploy keeps one deployment per service itself: a release takes the lane (a
conditional write) before UpdateService and frees it when its deployment ends, so on_busy, supersede and
"never stop a remedy" mean for an ECS service what they mean for a CodeDeploy group.
"""

from __future__ import annotations

from pushdeploy import aws, clock
from pushdeploy.ledger.table import Table, pk


class Lanes(Table):
    def take_lane(self, target: str, release_id: str) -> str | None:
        """Hold the lane for ``release_id``; None when it holds it now, else the release that does."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=self._item(
                    {"pk": pk(target), "sk": "LANE", "kind": "lane", "release_id": release_id, "since": clock.iso()}
                ),
                ConditionExpression="attribute_not_exists(pk) OR release_id = :me",
                ExpressionAttributeValues={":me": {"S": release_id}},
            )
        except Exception as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                raise
            holder = self._get(pk(target), "LANE")
            return str(holder["release_id"]) if holder else self.take_lane(target, release_id)
        return None

    def lane_holder(self, target: str) -> str | None:
        holder = self._get(pk(target), "LANE")
        return str(holder["release_id"]) if holder else None

    def free_lane(self, target: str, release_id: str) -> bool:
        """Let go of the lane if ``release_id`` holds it (a newer holder is never evicted)."""
        return self._delete_held(pk(target), "LANE", release_id)
