"""Fixtures of the integration tier: the release topic's inbox, and pushdeploy's clock moved forward."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pushdeploy import aws, clock, runtime
from pushdeploy.settings import Settings


@pytest.fixture
def inbox(world: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stack's SNS topic, subscribed by a queue the test reads."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="pushdeploy-releases")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    monkeypatch.setenv("PUSHDEPLOY_TOPIC_ARN", topic)
    runtime.configure(Settings.from_env())

    def read() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return read


@pytest.fixture
def later() -> Iterator[Any]:
    """Move pushdeploy's clock forward (the watch window is 30 minutes)."""

    def advance(minutes: float) -> None:
        moment = datetime.now(UTC) + timedelta(minutes=minutes)
        clock.use(lambda: moment)

    yield advance
    clock.reset()
