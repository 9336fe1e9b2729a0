"""Notification text: one message per release state change (subject, text, structured fields), and its
shapes for SNS and Slack. Pure: :mod:`pushdeploy.services.notify` delivers it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pushdeploy import clock
from pushdeploy.model.releases import Release

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
    "REVERTED": "⏪",
    "ALARM_DURING_REMEDY": "⚠️",
    "REMEDY_FAILED": "🚨",
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
    "REVERTED": "was reverted",
    "ALARM_DURING_REMEDY": "is still in ALARM while the remedy deploys",
    "REMEDY_FAILED": "REMEDY FAILED: production may still serve the release it was removing; act now",
}
PROBLEM_STATES = frozenset({"FAILED", "STOPPED", "REJECTED", "REFUSED", "REVERTED", "REMEDY_FAILED"})


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
    return release.failed_hook() or release.reason


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
    if state in PROBLEM_STATES:
        fields["reason"] = failure_detail(release)
    if state == "ALARM_DURING_REMEDY" and release.incidents:
        fields["reason"] = release.incidents[-1]
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


def sns_subject(subject: str) -> str:
    """SNS subjects: ASCII-ish printable, no newlines, at most 100 characters."""
    cleaned = "".join(ch for ch in subject if ch.isprintable() and ord(ch) < 0x2000).strip()
    return (cleaned or "pushdeploy")[:100]


def slack_payload(message: Message) -> dict[str, Any]:
    """A Slack incoming-webhook body: the text, then up to ten fields."""
    fields = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in list(message.fields.items())[:10]]
    return {
        "text": message.subject,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": message.text}},
            {"type": "section", "fields": fields},
        ],
    }


def webhook_url_from_secret(secret: str | bytes) -> str:
    """The webhook URL a Slack secret holds (plain, or JSON ``{"url": ...}``); only https (or loopback) URLs."""
    import json

    url = (secret.decode() if isinstance(secret, bytes) else str(secret)).strip()
    if url.startswith("{"):
        url = str(json.loads(url).get("url", ""))
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    loopback = parts.scheme == "http" and parts.hostname == "127.0.0.1" and not parts.username
    if not (parts.scheme == "https" and parts.hostname) and not loopback:
        raise ValueError("the Slack secret does not hold an https webhook URL")
    return url
