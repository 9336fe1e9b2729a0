"""Notifications: one message per release state change, to SNS and (optionally) Slack.

A notification failure is logged and swallowed: it never fails the deployment bookkeeping. The Slack
webhook URL is a secret (Secrets Manager); it is never logged, and neither is any error text that could
contain it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pushdeploy import aws, clock
from pushdeploy.ledger import Release
from pushdeploy.observability import logger

ICONS = {
    "IN_PROGRESS": "🚀",
    "SUCCEEDED": "✅",
    "FAILED": "❌",
    "STOPPED": "⏪",
    "QUEUED": "⏳",
    "REJECTED": "⛔",
    "REFUSED": "⛔",
    "KNOWN_GOOD": "🟢",
    "READY": "⏸",
}
HEADLINES = {
    "IN_PROGRESS": "deploying",
    "SUCCEEDED": "deployed",
    "FAILED": "failed and was rolled back",
    "STOPPED": "was stopped and rolled back",
    "QUEUED": "queued",
    "REJECTED": "rejected (deployment in progress)",
    "REFUSED": "refused (quarantined digest)",
    "KNOWN_GOOD": "is now the known-good release",
    "READY": "is ready and waits for traffic to be rerouted",
}


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    fields: dict[str, Any]


def _duration(release: Release) -> str | None:
    if not release.started_at or not release.finished_at:
        return None
    seconds = (clock.parse(release.finished_at) - clock.parse(release.started_at)).total_seconds()
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def failure_detail(release: Release) -> str | None:
    """The failing hook and check, or the alarm, behind a failed or stopped release."""
    if release.alarm:
        return f"alarm {release.alarm}" + (f": {release.reason}" if release.reason else "")
    for stage, verdict in (release.hooks or {}).items():
        if isinstance(verdict, dict) and verdict.get("status") == "Failed":
            return f"{stage} hook failed: {verdict.get('reason', '')}"
    return release.reason


def compose(release: Release, state: str) -> Message:
    headline = HEADLINES.get(state, state.lower())
    label = release.tag or release.digest[:19]
    trigger = "" if release.trigger == "push" else f" ({release.trigger})"
    subject = f"{ICONS.get(state, '')} {release.target}: {label} {headline}{trigger}".strip()[:100]
    fields: dict[str, Any] = {
        "target": release.target,
        "state": state,
        "tag": release.tag,
        "digest": release.digest,
        "image": release.image_uri,
        "trigger": release.trigger,
        "deployment_id": release.deployment_id,
        "task_definition": release.task_definition_arn,
        "duration": _duration(release),
    }
    for key in ("revision", "source", "version"):
        if release.commit.get(key):
            fields[f"commit_{key}"] = release.commit[key]
    if state in ("FAILED", "STOPPED", "REJECTED", "REFUSED"):
        fields["reason"] = failure_detail(release)
    if release.reverts_release_id:
        fields["reverts_release"] = release.reverts_release_id
    if release.rolled_back_by:
        fields["rollback_deployment_id"] = release.rolled_back_by
    fields = {k: v for k, v in fields.items() if v}
    lines = [subject]
    if release.commit.get("revision"):
        source = release.commit.get("source", "")
        lines.append(f"commit {release.commit['revision'][:12]}" + (f" ({source})" if source else ""))
    lines.append(f"digest {release.digest}")
    if fields.get("duration"):
        lines.append(f"duration {fields['duration']}")
    if fields.get("reason"):
        lines.append(f"why: {fields['reason']}")
    return Message(subject, "\n".join(lines), fields)


class Notifier:
    def __init__(self, topic_arn: str | None, slack_secret_arn: str | None = None) -> None:
        self.topic_arn = topic_arn
        self.slack_secret_arn = slack_secret_arn

    def send(
        self, release: Release, state: str, *, topic_arn: str | None = None, slack_secret_arn: str | None = None
    ) -> list[str]:
        """Publish; returns the channels that accepted the message. Never raises."""
        message = compose(release, state)
        delivered = []
        topic = topic_arn or self.topic_arn
        if topic:
            try:
                aws.client("sns").publish(
                    TopicArn=topic,
                    Subject=_sns_subject(message.subject),
                    Message=json.dumps({"text": message.text, **message.fields}, default=str),
                    MessageAttributes={
                        "target": {"DataType": "String", "StringValue": release.target},
                        "state": {"DataType": "String", "StringValue": state},
                    },
                )
                delivered.append("sns")
            except Exception as exc:  # noqa: BLE001 - a notification never fails the bookkeeping
                logger.warning(
                    "SNS notification failed", target=release.target, error=type(exc).__name__, code=aws.error_code(exc)
                )
        secret = slack_secret_arn or self.slack_secret_arn
        if secret:
            try:
                _post_to_slack(secret, message)
                delivered.append("slack")
            except Exception as exc:  # noqa: BLE001 - never log the exception text: it may carry the URL
                logger.warning("Slack notification failed", target=release.target, error=type(exc).__name__)
        return delivered


def _sns_subject(subject: str) -> str:
    """SNS subjects: ASCII-ish printable, no newlines, at most 100 characters."""
    cleaned = "".join(ch for ch in subject if ch.isprintable() and ord(ch) < 0x2000).strip()
    return (cleaned or "pushdeploy")[:100]


def _post_to_slack(secret_arn: str, message: Message) -> None:
    import urllib.request

    from aws_lambda_powertools.utilities import parameters

    url = parameters.get_secret(secret_arn, max_age=300)
    if isinstance(url, bytes):
        url = url.decode()
    url = str(url).strip()
    if url.startswith("{"):
        url = str(json.loads(url).get("url", ""))
    if not url.startswith("https://") and not url.startswith("http://127.0.0.1"):
        raise ValueError("the Slack secret does not hold an https webhook URL")
    fields = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in list(message.fields.items())[:10]]
    body = json.dumps(
        {
            "text": message.subject,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": message.text}},
                {"type": "section", "fields": fields},
            ],
        }
    ).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - scheme checked above
        response.read(1024)


def commit_labels(image_uri: str) -> dict[str, str]:
    """``revision`` / ``source`` / ``version`` of a digest-pinned ECR image ({} when unknown)."""
    from pushdeploy.images import inspect_image, parse_image_uri

    image = parse_image_uri(image_uri)
    if image is None:
        return {}
    try:
        return inspect_image(image, aws.client("ecr")).commit
    except Exception as exc:  # noqa: BLE001 - labels are a nicety; the message goes out without them
        logger.info("could not read image labels", image=image_uri, error=type(exc).__name__)
        return {}
