"""The ledger's table: keys, (de)serialisation and the client, shared by every item kind."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from pushdeploy import aws
from pushdeploy.model.releases import Release

DEPLOYMENT_INDEX = "by_deployment"


def pk(target: str) -> str:
    return f"TARGET#{target}"


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_from_dynamo(v) for v in value]
    return value


def cancellation_reasons(exc: BaseException, positions: list[str]) -> dict[str, str] | None:
    """A cancelled transaction's reason per named position (None when ``exc`` is not a cancellation)."""
    if aws.error_code(exc) != "TransactionCanceledException":
        return None
    codes = [str(r.get("Code", "")) for r in getattr(exc, "response", {}).get("CancellationReasons", [])]
    return dict(zip(positions, codes, strict=False))


class Table:
    """One DynamoDB table, single-table design; the item kinds (releases, claims, ...) build on this."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.table = table_name
        self._client = client
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    @property
    def client(self) -> Any:
        return self._client or aws.client("dynamodb")

    def _item(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(_to_dynamo(v)) for k, v in values.items() if v is not None}

    def _value(self, value: Any) -> dict[str, Any]:
        return dict(self._ser.serialize(_to_dynamo(value)))

    def _plain(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: _from_dynamo(self._de.deserialize(v)) for k, v in item.items()}

    def _transact(self, steps: dict[str, dict[str, Any]]) -> set[str]:
        """Write the named steps in one transaction. Returns the names of the steps whose condition failed (empty
        when it was written); any other failure (a conflict, throttling) is raised as it came."""
        try:
            self.client.transact_write_items(TransactItems=list(steps.values()))
        except Exception as exc:
            reasons = cancellation_reasons(exc, list(steps)) or {}
            failed = {name for name, code in reasons.items() if code == "ConditionalCheckFailed"}
            if not failed:
                raise
            return failed
        return set()

    @staticmethod
    def _key(partition: str, sort: str) -> dict[str, Any]:
        return {"pk": {"S": partition}, "sk": {"S": sort}}

    def _get(self, partition: str, sort: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, Key=self._key(partition, sort), ConsistentRead=True).get(
            "Item"
        )
        return self._plain(item) if item else None

    def _delete_held(self, partition: str, sort: str, release_id: str) -> bool:
        """Delete an item only while ``release_id`` holds it (a newer holder is never evicted); False otherwise."""
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=self._key(partition, sort),
                ConditionExpression="release_id = :me",
                ExpressionAttributeValues={":me": {"S": release_id}},
            )
        except Exception as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _query_prefix(self, partition: str, prefix: str, **options: Any) -> list[dict[str, Any]]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": partition}, ":prefix": {"S": prefix}},
            **options,
        )
        return [self._plain(i) for i in response.get("Items", [])]

    def _release_item(self, release: Release) -> dict[str, Any]:
        values = asdict(release)
        values.update(pk=pk(release.target), sk=f"RELEASE#{release.release_id}", kind="release")
        return self._item(values)

    def _release_update(self, release: Release, *, leave: tuple[str, ...] = ("hooks",)) -> dict[str, Any]:
        """The transaction update that writes ``release`` as it is in memory, except ``leave``: what others write
        on their own at any time (a lifecycle hook's evidence may land before the starter records its start)."""
        values = {k: v for k, v in asdict(release).items() if k not in leave}
        return self._release_changes(release.target, release.release_id, values)

    def _release_changes(self, target: str, release_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """UpdateItem arguments that set the release's ``changes`` (a None value removes the attribute)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        removes: list[str] = []
        for i, (name, value) in enumerate(changes.items()):
            names[f"#f{i}"] = name
            if value is None:
                removes.append(f"#f{i}")
            else:
                values[f":v{i}"] = self._value(value)
                sets.append(f"#f{i} = :v{i}")
        expression = ("SET " + ", ".join(sets) if sets else "") + (" REMOVE " + ", ".join(removes) if removes else "")
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._key(pk(target), f"RELEASE#{release_id}"),
            "UpdateExpression": expression.strip(),
            "ExpressionAttributeNames": names,
        }
        if values:
            update["ExpressionAttributeValues"] = values
        return update

    def _claim_done(self, target: str, digest: str) -> dict[str, Any]:
        """The update that marks a claim DONE (a release started or queued for good)."""
        return {
            "TableName": self.table,
            "Key": self._key(pk(target), f"CLAIM#{digest}"),
            "UpdateExpression": "SET #state = :done",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": {":done": {"S": "DONE"}},
        }
