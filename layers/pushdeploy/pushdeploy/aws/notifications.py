"""Delivery of notifications: SNS topics and a Slack webhook kept in Secrets Manager."""

from __future__ import annotations

import json

from pushdeploy import aws
from pushdeploy.model.notifications import Message, slack_payload, sns_subject, webhook_url_from_secret


def publish_to_sns(topic_arn: str, message: Message, *, target: str, state: str) -> None:
    aws.sns_client().publish(
        TopicArn=topic_arn,
        Subject=sns_subject(message.subject),
        Message=json.dumps({"text": message.text, **message.fields}, default=str),
        MessageAttributes={
            "target": {"DataType": "String", "StringValue": target},
            "state": {"DataType": "String", "StringValue": state},
        },
    )


def post_to_slack(secret_arn: str, message: Message) -> None:
    """Post to the webhook the secret holds. Callers must never log this function's exception text."""
    import urllib.request

    from aws_lambda_powertools.utilities import parameters

    url = webhook_url_from_secret(parameters.get_secret(secret_arn, max_age=300))
    body = json.dumps(slack_payload(message)).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - scheme checked when read
        response.read(1024)
