"""Events that could not be processed at all (``pk = UNPROCESSED``): kept, never dropped (TTL 30 days)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pushdeploy import clock
from pushdeploy.ledger.table import Table

UNPROCESSED_TTL_DAYS = 30


class Unprocessed(Table):
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
