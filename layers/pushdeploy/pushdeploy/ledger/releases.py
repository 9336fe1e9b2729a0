"""Releases (``RELEASE#<release_id>``): one per push, revert, manual deploy or CodeDeploy rollback; ids sort by
creation time. The GSI ``by_deployment`` finds a release by CodeDeploy deployment id in one query."""

from __future__ import annotations

from typing import Any

from pushdeploy import aws, clock
from pushdeploy.ledger.table import DEPLOYMENT_INDEX, Table, pk
from pushdeploy.model.releases import Release


class Releases(Table):
    def put_release(self, release: Release) -> None:
        if release.deployment_id is None:
            self.client.put_item(TableName=self.table, Item=self._release_item(release))
            return
        self.client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self.table, "Item": self._release_item(release)}},
                {"Put": {"TableName": self.table, "Item": self._deployment_pointer(release)}},
            ]
        )

    def _deployment_pointer(self, release: Release) -> dict[str, Any]:
        """``DEPLOYMENT#<id>``: the release of a deployment, readable at once (the GSI is eventually consistent)."""
        return self._item(
            {
                "pk": f"DEPLOYMENT#{release.deployment_id}",
                "sk": "RELEASE",
                "kind": "deployment",
                "target": release.target,
                "release_id": release.release_id,
            }
        )

    def update_release(self, target: str, release_id: str, **changes: Any) -> None:
        changes["updated_at"] = clock.iso()
        update = self._release_changes(target, release_id, changes)
        self.client.update_item(**update, ConditionExpression="attribute_exists(pk)")

    def claim_due_checks(self, target: str, release_id: str, due: str, until: str) -> bool:
        """Hold the release's due checks (a rolling update's) until ``until``: True for one visit at a time; a visit
        that died lets go when ``until`` passes. ``checks_due_at`` stays until the checks conclude."""
        now = clock.iso()
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(pk(target), f"RELEASE#{release_id}"),
                UpdateExpression="SET checks_claimed_until = :until, updated_at = :now",
                ConditionExpression="checks_due_at = :due AND "
                "(attribute_not_exists(checks_claimed_until) OR checks_claimed_until < :now)",
                ExpressionAttributeValues={":due": {"S": due}, ":until": {"S": until}, ":now": {"S": now}},
            )
        except Exception as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_started(
        self,
        release: Release,
        *,
        deployment_id: str,
        task_definition_arn: str,
        previous_task_definition_arn: str | None,
        deployment_config: str | None,
    ) -> None:
        """The release's deployment exists: record it and close the claim, in one transaction."""
        now = clock.iso()
        release.status, release.deployment_id, release.started_at, release.updated_at = (
            "IN_PROGRESS",
            deployment_id,
            now,
            now,
        )
        release.task_definition_arn = task_definition_arn
        release.previous_task_definition_arn = previous_task_definition_arn
        release.deployment_config = deployment_config
        items: list[dict[str, Any]] = [
            {"Update": self._release_update(release)},  # never over the evidence a hook may have recorded already
            {"Put": {"TableName": self.table, "Item": self._deployment_pointer(release)}},
        ]
        if release.trigger == "push":
            items.append({"Update": self._claim_done(release.target, release.digest)})
        self.client.transact_write_items(TransactItems=items)

    def add_tag(self, target: str, release_id: str, tag: str) -> None:
        release = self.get_release(target, release_id)
        if release is None or tag in release.tags:
            return
        self.update_release(target, release_id, tags=[*release.tags, tag])

    def get_release(self, target: str, release_id: str) -> Release | None:
        plain = self._get(pk(target), f"RELEASE#{release_id}")
        return Release.from_record(plain) if plain else None

    def point_revision(self, release: Release, task_definition_arn: str) -> None:
        """``REVISION#<task definition>``: the release about to run this task definition on an ECS-controlled service,
        written before UpdateService so ECS's lifecycle hooks (which name only the service revision) find it; a
        newer release of the same task definition (a revert) takes the pointer over."""
        self.client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": f"REVISION#{task_definition_arn}",
                    "sk": "RELEASE",
                    "kind": "revision",
                    "target": release.target,
                    "release_id": release.release_id,
                }
            ),
        )

    def release_by_task_definition(self, task_definition_arn: str) -> Release | None:
        pointer = self._get(f"REVISION#{task_definition_arn}", "RELEASE")
        if pointer is None:
            return None
        return self.get_release(str(pointer["target"]), str(pointer["release_id"]))

    def release_by_deployment(self, deployment_id: str) -> Release | None:
        """The release a CodeDeploy deployment belongs to: a consistent read of its pointer (a deployment's events
        may arrive before the index shows the release); the index for releases written before pointers existed."""
        pointer = self._get(f"DEPLOYMENT#{deployment_id}", "RELEASE")
        if pointer is not None:
            return self.get_release(str(pointer["target"]), str(pointer["release_id"]))
        response = self.client.query(
            TableName=self.table,
            IndexName=DEPLOYMENT_INDEX,
            KeyConditionExpression="deployment_id = :d",
            ExpressionAttributeValues={":d": {"S": deployment_id}},
            Limit=1,
        )
        items = response.get("Items") or []
        return Release.from_record(self._plain(items[0])) if items else None

    def releases(self, target: str, *, limit: int = 20) -> list[Release]:
        """Newest first."""
        records = self._query_prefix(pk(target), "RELEASE#", ScanIndexForward=False, Limit=limit)
        return [Release.from_record(record) for record in records]

    def record_hook(self, target: str, release_id: str, stage: str, verdict: dict[str, Any]) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._key(pk(target), f"RELEASE#{release_id}"),
            UpdateExpression="SET hooks.#stage = :verdict, updated_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#stage": stage},
            ExpressionAttributeValues={
                ":verdict": self._value(verdict),
                ":now": {"S": clock.iso()},
            },
        )
