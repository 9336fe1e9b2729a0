"""Notifications: one message per release state change, to SNS and (optionally) Slack.

A notification failure is logged and swallowed: it never fails the deployment bookkeeping. The Slack
webhook URL is a secret (Secrets Manager); it is never logged, and neither is any error text that could
contain it.
"""

from __future__ import annotations

from pushdeploy import aws
from pushdeploy.aws.notifications import post_to_slack, publish_to_sns
from pushdeploy.model.images import parse_image_uri
from pushdeploy.model.notifications import compose
from pushdeploy.model.releases import Release
from pushdeploy.model.targets import Target
from pushdeploy.observability import logger


class Notifier:
    def __init__(self, topic_arn: str | None, slack_secret_arn: str | None = None) -> None:
        self.topic_arn = topic_arn
        self.slack_secret_arn = slack_secret_arn

    def tell(self, target: Target, release: Release, state: str) -> list[str]:
        """:meth:`send` to the target's own channels (its topic and Slack secret), or the stack's."""
        return self.send(
            release,
            state,
            topic_arn=target.notify.sns_topic_arn,
            slack_secret_arn=target.notify.slack_webhook_secret_arn,
        )

    def send(
        self, release: Release, state: str, *, topic_arn: str | None = None, slack_secret_arn: str | None = None
    ) -> list[str]:
        """Publish; returns the channels that accepted the message. Never raises."""
        message = compose(release, state)
        delivered = []
        topic = topic_arn or self.topic_arn
        if topic:
            try:
                publish_to_sns(topic, message, target=release.target, state=state)
                delivered.append("sns")
            except Exception as exc:  # noqa: BLE001 - a notification never fails the bookkeeping
                logger.warning(
                    "SNS notification failed", target=release.target, error=type(exc).__name__, code=aws.error_code(exc)
                )
        secret = slack_secret_arn or self.slack_secret_arn
        if secret:
            try:
                post_to_slack(secret, message)
                delivered.append("slack")
            except Exception as exc:  # noqa: BLE001 - never log the exception text: it may carry the URL
                logger.warning("Slack notification failed", target=release.target, error=type(exc).__name__)
        return delivered


def commit_labels(image_uri: str) -> dict[str, str]:
    """``revision`` / ``source`` / ``version`` of a digest-pinned ECR image ({} when unknown)."""
    from pushdeploy.aws.ecr import inspect_image

    image = parse_image_uri(image_uri)
    if image is None:
        return {}
    try:
        return inspect_image(image).commit
    except Exception as exc:  # noqa: BLE001 - labels are a nicety; the message goes out without them
        logger.info("could not read image labels", image=image_uri, error=type(exc).__name__)
        return {}
