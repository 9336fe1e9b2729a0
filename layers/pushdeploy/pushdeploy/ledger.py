"""The release ledger: one DynamoDB table (single-table design).

Items, all under ``pk = TARGET#<target>`` unless said otherwise:

==============================  =====================================================================
``RELEASE#<release_id>``        one release (push, revert, manual or rollback); ids sort by creation time
``CLAIM#<digest>``              idempotency: one digest starts at most one release per target
``PENDING``                     the newest push waiting for the group to be free (newer wins)
``KNOWN_GOOD``                  the last release that survived its watch window
``CANDIDATE``                   the last succeeded release still inside its watch window
``QUARANTINE#<digest>``         a digest that was rolled back: never auto-deployed again until released
``NEWEST_PUSH``                 the newest push accepted (by push time): an older one arriving later is stale
``pk = UNPROCESSED``            events that could not be processed at all (kept, never dropped; TTL)
==============================  =====================================================================

GSI ``by_deployment`` (hash ``deployment_id``) finds a release by CodeDeploy deployment id in one query.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from pushdeploy import aws, clock
from pushdeploy.images import ImagePush

DEPLOYMENT_INDEX = "by_deployment"
CLAIM_LEASE_SECONDS = 15 * 60  # a claim whose owner died mid-way (timeout, OOM) is taken over after this
UNPROCESSED_TTL_DAYS = 30
_CLAIM_IS_FREE = "attribute_not_exists(pk) OR (#state = :claimed AND lease_until < :now)"

ReleaseStatus = Literal[
    "RECEIVED",  # claimed, task definition being registered
    "QUEUED",  # waiting in the PENDING slot for the group to be free
    "IN_PROGRESS",
    "SUCCEEDED",
    "FAILED",
    "STOPPED",  # stopped (and rolled back) by an alarm, an operator or a superseding push
    "SUPERSEDED",  # never started: a newer push took its place
    "REJECTED",  # the group was busy and the target's policy is reject
    "REFUSED",  # quarantined digest
    "START_FAILED",  # could not be started (bad config, AWS error after retries)
]
Trigger = Literal["push", "revert", "manual", "rollback"]


@dataclass
class Release:
    target: str
    release_id: str
    digest: str
    image_uri: str
    trigger: Trigger
    status: ReleaseStatus
    created_at: str
    updated_at: str
    tag: str | None = None
    tags: list[str] = field(default_factory=list)
    repository: str | None = None
    event_id: str | None = None
    pushed_at: str | None = None
    deployment_id: str | None = None
    deployment_config: str | None = None
    task_definition_arn: str | None = None
    previous_task_definition_arn: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    reason: str | None = None
    reverts_release_id: str | None = None
    rolled_back_by: str | None = None  # rollback deployment id
    rollback_of: str | None = None  # for trigger=rollback: the release it undid
    hooks: dict[str, Any] = field(default_factory=dict)
    commit: dict[str, str] = field(default_factory=dict)
    alarm: str | None = None


@dataclass(frozen=True)
class Pending:
    release_id: str
    digest: str
    tag: str | None
    order_key: str


@dataclass(frozen=True)
class KnownGood:
    release_id: str
    digest: str
    image_uri: str
    task_definition_arn: str
    tag: str | None
    since: str


@dataclass(frozen=True)
class Candidate:
    release_id: str
    digest: str
    succeeded_at: str
    watch_until: str


@dataclass(frozen=True)
class Claim:
    outcome: Literal["claimed", "duplicate", "quarantined", "stale"]
    release_id: str | None


def new_release_id(digest: str) -> str:
    """Sortable by creation time, readable (digest prefix), and unique (random suffix)."""
    import secrets

    return f"{clock.now():%Y%m%dT%H%M%S%fZ}-{digest.split(':', 1)[-1][:12]}-{secrets.token_hex(3)}"


def _pk(target: str) -> str:
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


class Ledger:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.table = table_name
        self._client = client
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    @property
    def client(self) -> Any:
        return self._client or aws.client("dynamodb")

    # -- (de)serialisation ---------------------------------------------------------------------------
    def _item(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(_to_dynamo(v)) for k, v in values.items() if v is not None}

    def _plain(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: _from_dynamo(self._de.deserialize(v)) for k, v in item.items()}

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, Key=self._key(pk, sk), ConsistentRead=True).get("Item")
        return self._plain(item) if item else None

    @staticmethod
    def _release_from(plain: dict[str, Any]) -> Release:
        known = Release.__dataclass_fields__
        return Release(**{k: v for k, v in plain.items() if k in known})

    def _release_item(self, release: Release) -> dict[str, Any]:
        values = asdict(release)
        values.update(pk=_pk(release.target), sk=f"RELEASE#{release.release_id}", kind="release")
        return self._item(values)

    # -- claims ----------------------------------------------------------------------------------------
    def claim_push(self, target: str, push: ImagePush, *, trigger: Trigger = "push") -> tuple[Claim, Release | None]:
        """Claim (target, digest) and create its release, unless the digest is quarantined or claimed.

        One transaction: no quarantine marker, no live claim (a claim whose lease ran out is taken
        over), then the claim and the release record are written together.
        """
        digest = push.image.digest
        now = clock.now()
        release = Release(
            target=target,
            release_id=new_release_id(digest),
            digest=digest,
            image_uri=push.image.uri,
            trigger=trigger,
            status="RECEIVED",
            created_at=clock.iso(now),
            updated_at=clock.iso(now),
            tag=push.tag,
            tags=[push.tag] if push.tag else [],
            repository=push.image.repository,
            event_id=push.event_id,
            pushed_at=push.pushed_at,
        )
        claim_item = self._item(
            {
                "pk": _pk(target),
                "sk": f"CLAIM#{digest}",
                "kind": "claim",
                "release_id": release.release_id,
                "state": "CLAIMED",
                "claimed_at": clock.iso(now),
                "lease_until": clock.iso(now + timedelta(seconds=CLAIM_LEASE_SECONDS)),
            }
        )
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self.table,
                            "Key": self._key(_pk(target), f"QUARANTINE#{digest}"),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": claim_item,
                            "ConditionExpression": _CLAIM_IS_FREE,
                            "ExpressionAttributeNames": {"#state": "state"},
                            "ExpressionAttributeValues": {":claimed": {"S": "CLAIMED"}, ":now": {"S": clock.iso(now)}},
                        }
                    },
                    {"Put": {"TableName": self.table, "Item": self._release_item(release)}},
                    {
                        "Update": {  # pushes arrive in any order: an older one never follows a newer one
                            "TableName": self.table,
                            "Key": self._key(_pk(target), "NEWEST_PUSH"),
                            "UpdateExpression": "SET order_key = :k, digest = :d",
                            "ConditionExpression": "attribute_not_exists(order_key) OR order_key <= :k",
                            "ExpressionAttributeValues": {":k": {"S": push.order_key}, ":d": {"S": digest}},
                        }
                    },
                ]
            )
        except Exception as exc:
            if aws.error_code(exc) != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in getattr(exc, "response", {}).get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return Claim("quarantined", None), None
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                existing = self._get(_pk(target), f"CLAIM#{digest}")
                return Claim("duplicate", (existing or {}).get("release_id")), None
            if len(reasons) > 3 and reasons[3] == "ConditionalCheckFailed":
                return Claim("stale", None), None
            raise
        return Claim("claimed", release.release_id), release

    def complete_claim(self, target: str, digest: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._key(_pk(target), f"CLAIM#{digest}"),
            UpdateExpression="SET #state = :done",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":done": {"S": "DONE"}},
        )

    def drop_claim(self, target: str, digest: str) -> None:
        """Forget a claim so that a redelivery (or a later push) of the digest may start it again."""
        self.client.delete_item(TableName=self.table, Key=self._key(_pk(target), f"CLAIM#{digest}"))

    # -- releases ----------------------------------------------------------------------------------------
    def put_release(self, release: Release) -> None:
        self.client.put_item(TableName=self.table, Item=self._release_item(release))

    def update_release(self, target: str, release_id: str, **changes: Any) -> None:
        changes["updated_at"] = clock.iso()
        names, values, sets, removes = {}, {}, [], []
        for i, (name, value) in enumerate(changes.items()):
            names[f"#f{i}"] = name
            if value is None:
                removes.append(f"#f{i}")
            else:
                values[f":v{i}"] = self._ser.serialize(_to_dynamo(value))
                sets.append(f"#f{i} = :v{i}")
        expression = ("SET " + ", ".join(sets) if sets else "") + (" REMOVE " + ", ".join(removes) if removes else "")
        kwargs: dict[str, Any] = dict(
            TableName=self.table,
            Key=self._key(_pk(target), f"RELEASE#{release_id}"),
            UpdateExpression=expression.strip(),
            ExpressionAttributeNames=names,
            ConditionExpression="attribute_exists(pk)",
        )
        if values:
            kwargs["ExpressionAttributeValues"] = values
        self.client.update_item(**kwargs)

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
        items: list[dict[str, Any]] = [{"Put": {"TableName": self.table, "Item": self._release_item(release)}}]
        if release.trigger == "push":
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": self._key(_pk(release.target), f"CLAIM#{release.digest}"),
                        "UpdateExpression": "SET #state = :done",
                        "ExpressionAttributeNames": {"#state": "state"},
                        "ExpressionAttributeValues": {":done": {"S": "DONE"}},
                    }
                }
            )
        self.client.transact_write_items(TransactItems=items)

    def add_tag(self, target: str, release_id: str, tag: str) -> None:
        release = self.get_release(target, release_id)
        if release is None or tag in release.tags:
            return
        self.update_release(target, release_id, tags=[*release.tags, tag])

    def get_release(self, target: str, release_id: str) -> Release | None:
        plain = self._get(_pk(target), f"RELEASE#{release_id}")
        return self._release_from(plain) if plain else None

    def release_by_deployment(self, deployment_id: str) -> Release | None:
        response = self.client.query(
            TableName=self.table,
            IndexName=DEPLOYMENT_INDEX,
            KeyConditionExpression="deployment_id = :d",
            ExpressionAttributeValues={":d": {"S": deployment_id}},
            Limit=1,
        )
        items = response.get("Items") or []
        return self._release_from(self._plain(items[0])) if items else None

    def releases(self, target: str, *, limit: int = 20) -> list[Release]:
        """Newest first."""
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": _pk(target)}, ":prefix": {"S": "RELEASE#"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [self._release_from(self._plain(i)) for i in response.get("Items", [])]

    def record_hook(self, target: str, release_id: str, stage: str, verdict: dict[str, Any]) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._key(_pk(target), f"RELEASE#{release_id}"),
            UpdateExpression="SET hooks.#stage = :verdict, updated_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#stage": stage},
            ExpressionAttributeValues={
                ":verdict": self._ser.serialize(_to_dynamo(verdict)),
                ":now": {"S": clock.iso()},
            },
        )

    # -- the PENDING slot --------------------------------------------------------------------------------
    def offer_pending(self, target: str, release: Release, order_key: str) -> tuple[bool, Pending | None]:
        """Queue ``release`` unless a newer push already waits or was accepted since.

        Returns (queued, the older pending it displaced). One transaction: the newest accepted push is not
        newer than this one, and the slot still holds what was read (retried if another writer got there first).
        """
        item = self._item(
            {
                "pk": _pk(target),
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
            if current is not None and current.order_key >= order_key:
                return False, None
            if current is None:
                slot: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
            else:
                slot = {
                    "ConditionExpression": "order_key = :old",
                    "ExpressionAttributeValues": {":old": {"S": current.order_key}},
                }
            try:
                self.client.transact_write_items(
                    TransactItems=[
                        {
                            "ConditionCheck": {
                                "TableName": self.table,
                                "Key": self._key(_pk(target), "NEWEST_PUSH"),
                                "ConditionExpression": "attribute_not_exists(order_key) OR order_key <= :k",
                                "ExpressionAttributeValues": {":k": {"S": order_key}},
                            }
                        },
                        {"Put": {"TableName": self.table, "Item": item, **slot}},
                    ]
                )
            except Exception as exc:
                if aws.error_code(exc) != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in getattr(exc, "response", {}).get("CancellationReasons", [])]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False, None  # a newer push was accepted since this one
                continue  # the slot changed under us: read it again
            return True, current
        return False, None

    @staticmethod
    def _pending_from(plain: dict[str, Any]) -> Pending:
        return Pending(plain["release_id"], plain["digest"], plain.get("tag"), plain["order_key"])

    def get_pending(self, target: str) -> Pending | None:
        plain = self._get(_pk(target), "PENDING")
        return self._pending_from(plain) if plain else None

    def take_pending(self, target: str) -> Pending | None:
        """Remove and return the waiting push (only the one read: a newer one written meanwhile stays)."""
        pending = self.get_pending(target)
        if pending is None:
            return None
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=self._key(_pk(target), "PENDING"),
                ConditionExpression="order_key = :k",
                ExpressionAttributeValues={":k": {"S": pending.order_key}},
            )
        except Exception as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return None  # someone else took it or a newer one replaced it
            raise
        return pending

    # -- quarantine ----------------------------------------------------------------------------------------
    def quarantine(self, target: str, digest: str, *, reason: str, release_id: str | None) -> None:
        self.client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": _pk(target),
                    "sk": f"QUARANTINE#{digest}",
                    "kind": "quarantine",
                    "digest": digest,
                    "reason": reason,
                    "release_id": release_id,
                    "quarantined_at": clock.iso(),
                }
            ),
        )

    def is_quarantined(self, target: str, digest: str) -> bool:
        return self._get(_pk(target), f"QUARANTINE#{digest}") is not None

    def lift_quarantine(self, target: str, digest: str) -> bool:
        response = self.client.delete_item(
            TableName=self.table, Key=self._key(_pk(target), f"QUARANTINE#{digest}"), ReturnValues="ALL_OLD"
        )
        return bool(response.get("Attributes"))

    def quarantined(self, target: str) -> list[dict[str, Any]]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": _pk(target)}, ":prefix": {"S": "QUARANTINE#"}},
        )
        return [self._plain(i) for i in response.get("Items", [])]

    # -- known good and candidate ---------------------------------------------------------------------------
    def known_good(self, target: str) -> KnownGood | None:
        plain = self._get(_pk(target), "KNOWN_GOOD")
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
                    "pk": _pk(release.target),
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
        plain = self._get(_pk(target), "CANDIDATE")
        if not plain:
            return None
        return Candidate(plain["release_id"], plain["digest"], plain["succeeded_at"], plain["watch_until"])

    def set_candidate(self, release: Release, watch_until: str) -> None:
        self.client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": _pk(release.target),
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
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=self._key(_pk(target), "CANDIDATE"),
                ConditionExpression="release_id = :r",
                ExpressionAttributeValues={":r": {"S": release_id}},
            )
        except Exception as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                raise

    # -- events we could not process -------------------------------------------------------------------------
    def record_unprocessable(self, event: Any, reason: str, *, function: str) -> None:
        raw = json.dumps(event, default=str)[:32_000] if not isinstance(event, str) else event[:32_000]
        event_id = event.get("id") if isinstance(event, dict) and isinstance(event.get("id"), str) else "no-id"
        now = clock.now()
        self.client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": "UNPROCESSED",
                    "sk": f"{clock.iso(now)}#{event_id}",
                    "kind": "unprocessable",
                    "function": function,
                    "reason": reason[:2000],
                    "event": raw,
                    "expires_at": int((now + timedelta(days=UNPROCESSED_TTL_DAYS)).timestamp()),
                }
            ),
        )

    def unprocessable(self, limit: int = 50) -> list[dict[str, Any]]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "UNPROCESSED"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [self._plain(i) for i in response.get("Items", [])]


TABLE_DEFINITION: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "deployment_id", "AttributeType": "S"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": DEPLOYMENT_INDEX,
            "KeySchema": [{"AttributeName": "deployment_id", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
"""The table as template.yaml declares it (tests and the local rehearsal create it from this)."""
