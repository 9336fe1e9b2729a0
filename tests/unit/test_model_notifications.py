"""pushdeploy.model.notifications: the message of a release state change, and its SNS and Slack shapes."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from pushdeploy.model.notifications import (
    ICONS,
    Message,
    compose,
    failure_detail,
    slack_payload,
    sns_subject,
    webhook_url_from_secret,
)
from pushdeploy.model.releases import Release

DIGEST = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"
IMAGE = f"123456789012.dkr.ecr.us-west-2.amazonaws.com/my-repository-name@{DIGEST}"
HOOK = "https://hooks.slack.com/services/T000/B000/XXXX"


def release(**changes: Any) -> Release:
    base = Release(
        target="web",
        release_id="20240501T100000000000Z-7f5b2640fe6f-abcdef",
        digest=DIGEST,
        image_uri=IMAGE,
        trigger="push",
        status="IN_PROGRESS",
        created_at="2024-05-01T10:00:00.000Z",
        updated_at="2024-05-01T10:00:00.000Z",
        tag="v1.2.3",
        tags=["v1.2.3"],
        deployment_id="d-ABC123",
        task_definition_arn="arn:aws:ecs:us-west-2:123456789012:task-definition/web:42",
    )
    return replace(base, **changes)


# -- compose ---------------------------------------------------------------------------------------------------------
def test_the_subject_has_the_icon_target_tag_and_headline() -> None:
    message = compose(release(), "SUCCEEDED")

    assert message.subject == f"{ICONS['SUCCEEDED']} web: v1.2.3 deployed"
    assert message.text.splitlines()[0] == message.subject
    assert f"digest {DIGEST}" in message.text


def test_an_untagged_release_is_labelled_by_its_short_digest() -> None:
    message = compose(release(tag=None, tags=[]), "IN_PROGRESS")

    assert message.subject == f"{ICONS['IN_PROGRESS']} web: sha256:7f5b2640fe6f deploying"
    assert "tag" not in message.fields


@pytest.mark.parametrize(("trigger", "suffix"), [("revert", " (revert)"), ("manual", " (manual)"), ("push", "")])
def test_a_trigger_other_than_a_push_is_named_in_the_subject(trigger: str, suffix: str) -> None:
    message = compose(release(trigger=trigger), "IN_PROGRESS")

    assert message.subject.endswith(f"deploying{suffix}")


def test_an_unknown_state_has_no_icon_and_its_own_name() -> None:
    assert compose(release(), "SUPERSEDED").subject == "web: v1.2.3 superseded"


def test_empty_fields_are_dropped() -> None:
    # Given a release that has not started: no deployment, no task definition, no duration
    fresh = release(deployment_id=None, task_definition_arn=None, status="RECEIVED")

    # When its message is composed
    fields = compose(fresh, "QUEUED").fields

    # Then only what is known is a field
    assert fields == {
        "target": "web",
        "state": "QUEUED",
        "tag": "v1.2.3",
        "digest": DIGEST,
        "image": IMAGE,
        "trigger": "push",
    }


def test_a_finished_release_has_its_duration_and_commit() -> None:
    done = release(
        started_at="2024-05-01T10:00:00.000Z",
        finished_at="2024-05-01T10:07:05.500Z",
        commit={"revision": "0123456789abcdef0123", "source": "https://github.com/acme/web", "version": ""},
    )

    message = compose(done, "SUCCEEDED")

    assert message.fields["duration"] == "7m05s"
    assert message.fields["commit_revision"] == "0123456789abcdef0123"
    assert "commit_version" not in message.fields
    assert "commit 0123456789ab (https://github.com/acme/web)" in message.text.splitlines()
    assert "duration 7m05s" in message.text.splitlines()
    assert "reason" not in message.fields  # success has no reason


def test_a_duration_under_a_minute_is_in_seconds() -> None:
    done = release(started_at="2024-05-01T10:00:00Z", finished_at="2024-05-01T10:00:42Z")

    assert compose(done, "SUCCEEDED").fields["duration"] == "42s"


def test_a_failed_release_names_the_failing_hook() -> None:
    # Given a release whose AfterAllowTestTraffic hook failed
    failed = release(
        status="FAILED",
        reason="deployment failed",
        hooks={
            "BeforeInstall": {"status": "Succeeded", "reason": "3 check(s) passed"},
            "AfterAllowTestTraffic": {"status": "Failed", "reason": "smoke GET /healthz: 503"},
        },
    )

    # When its failure is announced
    message = compose(failed, "FAILED")

    # Then the reason is the hook's, not the generic one
    assert message.fields["reason"] == "AfterAllowTestTraffic hook failed: smoke GET /healthz: 503"
    assert message.text.splitlines()[-1] == "why: AfterAllowTestTraffic hook failed: smoke GET /healthz: 503"
    assert message.subject.endswith("failed and was rolled back")


def test_a_stopped_release_names_the_alarm_first() -> None:
    stopped = release(
        status="STOPPED",
        alarm="web-5xx",
        reason="5xx rate above 1%",
        rolled_back_by="d-ROLLBACK1",
        hooks={"AfterAllowTraffic": {"status": "Failed", "reason": "bake"}},
    )

    message = compose(stopped, "STOPPED")

    assert message.fields["reason"] == "alarm web-5xx: 5xx rate above 1%"
    assert message.fields["rollback_deployment_id"] == "d-ROLLBACK1"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"alarm": "web-5xx"}, "alarm web-5xx"),
        ({"reason": "stopped by the operator"}, "stopped by the operator"),
        ({"hooks": {"AfterInstall": {"status": "Succeeded"}}, "reason": "timeout"}, "timeout"),
        ({}, None),
    ],
)
def test_failure_detail(changes: dict[str, Any], expected: str | None) -> None:
    assert failure_detail(release(**changes)) == expected


def test_a_revert_names_the_release_it_reverts() -> None:
    revert = release(trigger="revert", reverts_release_id="20240430T000000000000Z-aaaaaaaaaaaa-000000")

    fields = compose(revert, "IN_PROGRESS").fields

    assert fields["reverts_release"] == "20240430T000000000000Z-aaaaaaaaaaaa-000000"
    assert fields["trigger"] == "revert"


def test_the_subject_is_at_most_100_characters() -> None:
    message = compose(release(target="t" * 64, tag="v" + "9" * 120), "KNOWN_GOOD")

    assert len(message.subject) == 100
    assert message.subject.startswith(ICONS["KNOWN_GOOD"])


# -- SNS and Slack -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("✅ web: v1.2.3 deployed", "web: v1.2.3 deployed"),
        ("web:\nv1\tdeployed", "web:v1deployed"),
        ("🚀⏳", "pushdeploy"),
        ("   ", "pushdeploy"),
        ("x" * 150, "x" * 100),
        ("café ünïcode", "café ünïcode"),
    ],
)
def test_sns_subject(subject: str, expected: str) -> None:
    assert sns_subject(subject) == expected


def test_every_composed_subject_is_a_valid_sns_subject() -> None:
    for state in ICONS:
        cleaned = sns_subject(compose(release(), state).subject)
        assert cleaned.isprintable()
        assert cleaned.isascii()
        assert 0 < len(cleaned) <= 100


def test_slack_payload_shape() -> None:
    message = compose(release(started_at="2024-05-01T10:00:00Z", finished_at="2024-05-01T10:01:00Z"), "SUCCEEDED")

    payload = slack_payload(message)

    assert payload["text"] == message.subject
    text_block, fields_block = payload["blocks"]
    assert text_block == {"type": "section", "text": {"type": "mrkdwn", "text": message.text}}
    assert {"type": "mrkdwn", "text": "*target*\nweb"} in fields_block["fields"]
    assert len(fields_block["fields"]) == len(message.fields)


def test_slack_payload_has_at_most_ten_fields() -> None:
    message = Message("s", "t", {f"k{i}": i for i in range(14)})

    fields = slack_payload(message)["blocks"][1]["fields"]

    assert len(fields) == 10
    assert fields[-1]["text"] == "*k9*\n9"


@pytest.mark.parametrize(
    "secret",
    [
        HOOK,
        f"  {HOOK}\n",
        HOOK.encode(),
        json.dumps({"url": HOOK}),
        json.dumps({"url": HOOK, "channel": "#deploys"}).encode(),
    ],
)
def test_webhook_url_from_secret(secret: str | bytes) -> None:
    assert webhook_url_from_secret(secret) == HOOK


def test_a_loopback_http_webhook_is_allowed() -> None:
    assert webhook_url_from_secret("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"


@pytest.mark.parametrize(
    "secret",
    ["http://hooks.slack.com/services/T000/B000/XXXX", "", "hooks.slack.com/x", '{"webhook": "https://x"}', "{}"],
)
def test_a_secret_without_an_https_url_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="https webhook URL"):
        webhook_url_from_secret(secret)


@pytest.mark.parametrize("secret", ["http://127.0.0.1.attacker.example/hook", "http://127.0.0.1@attacker.example/"])
def test_plain_http_to_a_host_that_is_not_loopback_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="https webhook URL"):
        webhook_url_from_secret(secret)
