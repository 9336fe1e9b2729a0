"""pushdeploy.model.events: AWS's real sample events parse; everything else is Ignored with a reason."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pushdeploy.model.events import (
    CONTINUATION_KEY,
    AlarmEvent,
    DeploymentEvent,
    HookContinuation,
    HookInvocation,
    Ignored,
    alarm_kind,
    is_scheduled_sweep,
    parse_alarm_event,
    parse_deployment_event,
    parse_hook_invocation,
    parse_push_event,
)
from pushdeploy.model.images import ImagePush

from tests.helpers import load_event, push_event

SAMPLE_DIGEST = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"


def alarm_event(**state: Any) -> dict[str, Any]:
    """AWS's real alarm state-change sample, with state fields replaced."""
    event = copy.deepcopy(load_event("cloudwatch-alarm-state-change-metric.json"))
    event["detail"]["state"].update(state)
    return event


# -- ECR pushes ----------------------------------------------------------------------------------------------------
def test_the_real_push_sample_parses_into_an_image_push() -> None:
    # Given AWS's sample ECR push event
    event = load_event("ecr-image-action-push.json")

    # When it is parsed
    push = parse_push_event(event)

    # Then every field comes from the event
    assert isinstance(push, ImagePush)
    assert push.event_id == "13cde686-328b-6117-af20-0e5566167482"
    assert push.pushed_at == "2019-11-16T01:54:34Z"
    assert push.tag == "latest"
    assert (push.image.account, push.image.region) == ("123456789012", "us-west-2")
    assert (push.image.repository, push.image.digest) == ("my-repository-name", SAMPLE_DIGEST)
    assert push.manifest_media_type is None


def test_the_semver_push_sample_keeps_its_tag_and_manifest_media_type() -> None:
    push = parse_push_event(load_event("ecr-image-action-push-semver-tag.json"))

    assert isinstance(push, ImagePush)
    assert push.tag == "v1.2.3"
    assert push.manifest_media_type == "application/vnd.docker.distribution.manifest.v2+json"


def test_an_empty_tag_becomes_no_tag() -> None:
    push = parse_push_event(load_event("ecr-image-action-push-empty-tag.json"))

    assert isinstance(push, ImagePush)
    assert push.tag is None
    assert push.manifest_media_type == "application/vnd.oci.image.manifest.v1+json"


def test_a_push_without_an_image_tag_has_no_tag() -> None:
    push = parse_push_event(push_event(tag=None))

    assert isinstance(push, ImagePush)
    assert push.tag is None


@pytest.mark.parametrize(
    ("sample", "word"),
    [("ecr-image-action-delete.json", "DELETE"), ("ecr-image-action-archive.json", "UPDATE_STORAGE_CLASS")],
)
def test_other_ecr_actions_are_ignored_but_not_malformed(sample: str, word: str) -> None:
    outcome = parse_push_event(load_event(sample))

    assert isinstance(outcome, Ignored)
    assert not outcome.malformed
    assert word in outcome.reason


def test_a_failed_push_is_ignored_but_not_malformed() -> None:
    outcome = parse_push_event(push_event(result="FAILURE"))

    assert isinstance(outcome, Ignored)
    assert not outcome.malformed
    assert "FAILURE" in outcome.reason


@pytest.mark.parametrize(
    "sample",
    ["cloudwatch-alarm-state-change-metric.json", "codedeploy-deployment-state-change.json"],
)
def test_events_of_other_services_are_not_pushes(sample: str) -> None:
    outcome = parse_push_event(load_event(sample))

    assert isinstance(outcome, Ignored)
    assert not outcome.malformed
    assert "not an ECR Image Action event" in outcome.reason


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"repository-name": "My_Repo!"}, "repository-name"),
        ({"image-digest": "latest"}, "image-digest"),
        ({"image-tag": 42}, "image-tag"),
    ],
)
def test_a_push_with_a_bad_detail_field_is_malformed_and_names_the_field(change: dict[str, Any], field: str) -> None:
    # Given an ECR push whose detail has one unreadable field
    event = push_event(**change)

    # When it is parsed
    outcome = parse_push_event(event)

    # Then it is kept as malformed, and the reason names the field
    assert isinstance(outcome, Ignored)
    assert outcome.malformed
    assert field in outcome.reason


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [("account", "12345", "account"), ("region", "mars", "region"), ("id", "", "id"), ("time", None, "time")],
)
def test_a_push_with_a_bad_envelope_field_is_malformed_and_names_it(key: str, value: Any, field: str) -> None:
    event = push_event()
    event[key] = value

    outcome = parse_push_event(event)

    assert isinstance(outcome, Ignored)
    assert outcome.malformed
    assert outcome.reason.startswith(field)


def test_every_problem_of_a_push_is_reported_at_once() -> None:
    event = push_event(digest="nope", repository="UPPER")

    outcome = parse_push_event(event)

    assert isinstance(outcome, Ignored)
    assert "repository-name" in outcome.reason
    assert "image-digest" in outcome.reason


def test_a_push_whose_detail_is_not_an_object_is_malformed() -> None:
    event = push_event()
    event["detail"] = "PUSH"

    outcome = parse_push_event(event)

    assert outcome == Ignored("detail is missing or not an object", malformed=True)


@pytest.mark.parametrize("event", [None, "an ECR push", ["aws.ecr"], 7])
def test_an_event_that_is_not_an_object_is_malformed_for_every_parser(event: Any) -> None:
    for parse in (parse_push_event, parse_alarm_event, parse_deployment_event, parse_hook_invocation):
        outcome = parse(event)
        assert isinstance(outcome, Ignored), parse.__name__
        assert outcome.malformed
        assert type(event).__name__ in outcome.reason


# -- CloudWatch alarms ---------------------------------------------------------------------------------------------
def test_the_real_alarm_sample_parses() -> None:
    alarm = parse_alarm_event(load_event("cloudwatch-alarm-state-change-metric.json"))

    assert isinstance(alarm, AlarmEvent)
    assert alarm.name == "ServerCpuTooHigh"
    assert alarm.arn == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"
    assert alarm.state == "ALARM"
    assert alarm.reason.startswith("Threshold Crossed")
    assert alarm.kind == "metric"
    assert alarm.triggering_alarms == ()
    # "+0000", as alarm details write it, is read as UTC with its milliseconds
    assert alarm.changed_at == datetime(2019, 10, 2, 17, 4, 40, 989000, tzinfo=UTC)


def test_an_alarm_without_a_state_timestamp_takes_the_envelope_time() -> None:
    event = alarm_event()
    del event["detail"]["state"]["timestamp"]

    alarm = parse_alarm_event(event)

    assert isinstance(alarm, AlarmEvent)
    assert alarm.changed_at == datetime(2019, 10, 2, 17, 4, 40, tzinfo=UTC)


@pytest.mark.parametrize("timestamp", ["yesterday", "2019-13-45T00:00:00Z"])
def test_an_alarm_with_a_bad_timestamp_is_malformed_and_names_it(timestamp: str) -> None:
    outcome = parse_alarm_event(alarm_event(timestamp=timestamp))

    assert isinstance(outcome, Ignored)
    assert outcome.malformed
    assert "ServerCpuTooHigh" in outcome.reason
    assert "state.timestamp" in outcome.reason


def test_an_alarm_with_no_time_at_all_is_malformed() -> None:
    event = alarm_event()
    del event["detail"]["state"]["timestamp"]
    del event["time"]

    outcome = parse_alarm_event(event)

    assert isinstance(outcome, Ignored)
    assert outcome.malformed


@pytest.mark.parametrize(
    ("change", "field"),
    [({"state": None}, "detail.state"), ({"alarmName": ""}, "detail.alarmName"), ({"alarmName": 3}, "alarmName")],
)
def test_an_alarm_with_a_bad_field_is_malformed_and_names_it(change: dict[str, Any], field: str) -> None:
    event = alarm_event()
    event["detail"].update(change)

    outcome = parse_alarm_event(event)

    assert isinstance(outcome, Ignored)
    assert outcome.malformed
    assert field in outcome.reason


@pytest.mark.parametrize("sample", ["ecr-image-action-push.json", "codedeploy-deployment-state-change.json"])
def test_events_of_other_services_are_not_alarms(sample: str) -> None:
    outcome = parse_alarm_event(load_event(sample))

    assert isinstance(outcome, Ignored)
    assert not outcome.malformed


def test_a_composite_alarm_names_the_alarms_that_triggered_it() -> None:
    # Given a composite alarm's state change: reasonData lists the child alarms that fired
    event = alarm_event(
        reasonData=json.dumps(
            {
                "triggeringAlarms": [
                    {"arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-5xx", "state": {"value": "ALARM"}},
                    {"arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-latency"},
                    {"state": {"value": "ALARM"}},
                ]
            }
        )
    )
    event["detail"]["configuration"] = {"alarmRule": "ALARM(web-5xx) OR ALARM(web-latency)"}

    # When it is parsed
    alarm = parse_alarm_event(event)

    # Then it is a composite alarm, with its children's names (entries without an arn are skipped)
    assert isinstance(alarm, AlarmEvent)
    assert alarm.kind == "composite"
    assert alarm.triggering_alarms == ("web-5xx", "web-latency")


@pytest.mark.parametrize("reason_data", ["not json", "[1, 2]", '{"triggeringAlarms": "all"}'])
def test_unreadable_reason_data_does_not_stop_the_alarm(reason_data: str) -> None:
    alarm = parse_alarm_event(alarm_event(reasonData=reason_data))

    assert isinstance(alarm, AlarmEvent)
    assert alarm.state == "ALARM"
    assert alarm.triggering_alarms == ()


@pytest.mark.parametrize(
    ("configuration", "kind"),
    [
        ({"metrics": [{"id": "m1", "metricStat": {"stat": "Average"}, "returnData": True}]}, "metric"),
        ({}, "metric"),
        ({"metrics": [{"id": "m1", "metricStat": {}}, {"id": "e1", "expression": "m1 * 100"}]}, "metric-math"),
        (
            {"metrics": [{"id": "m1", "metricStat": {}}, {"id": "ad1", "expression": "ANOMALY_DETECTION_BAND(m1, 2)"}]},
            "anomaly-detection",
        ),
        ({"alarmRule": "ALARM(a) OR ALARM(b)", "metrics": [{"expression": "m1 * 2"}]}, "composite"),
        ({"metrics": [{"id": "m1", "expression": ""}]}, "metric"),
    ],
)
def test_alarm_kind(configuration: dict[str, Any], kind: str) -> None:
    assert alarm_kind(configuration) == kind


def test_an_alarm_without_resources_has_no_arn() -> None:
    event = alarm_event()
    event["resources"] = []

    alarm = parse_alarm_event(event)

    assert isinstance(alarm, AlarmEvent)
    assert alarm.arn is None


def test_an_alarm_with_null_metrics_does_not_raise() -> None:
    event = alarm_event()
    event["detail"]["configuration"] = {"metrics": None}

    alarm = parse_alarm_event(event)

    assert isinstance(alarm, AlarmEvent)
    assert alarm.kind == "metric"


# -- CodeDeploy deployment state changes ---------------------------------------------------------------------------
def test_the_real_deployment_state_change_sample_parses() -> None:
    outcome = parse_deployment_event(load_event("codedeploy-deployment-state-change.json"))

    assert outcome == DeploymentEvent("d-123456789", "SUCCESS", "myApplication", "myDeploymentGroup")


@pytest.mark.parametrize("missing", ["deploymentId", "state", "application", "deploymentGroup"])
def test_a_deployment_event_lacking_a_field_is_malformed_and_names_it(missing: str) -> None:
    event = load_event("codedeploy-deployment-state-change.json")
    del event["detail"][missing]

    outcome = parse_deployment_event(event)

    assert isinstance(outcome, Ignored)
    assert outcome.malformed
    assert outcome.reason == f"detail lacks {missing}"


def test_a_deployment_event_with_a_bad_detail_is_malformed() -> None:
    event = load_event("codedeploy-deployment-state-change.json")
    event["detail"] = None

    outcome = parse_deployment_event(event)

    assert isinstance(outcome, Ignored)
    assert outcome.malformed


def test_an_ecr_push_is_not_a_deployment_event() -> None:
    outcome = parse_deployment_event(load_event("ecr-image-action-push.json"))

    assert isinstance(outcome, Ignored)
    assert not outcome.malformed


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}, True),
        ({"source": "aws.events", "detail-type": "Something Else"}, False),
        ({"source": "aws.ecr", "detail-type": "Scheduled Event"}, False),
        ("aws.events", False),
        (None, False),
    ],
)
def test_is_scheduled_sweep(event: Any, expected: bool) -> None:
    assert is_scheduled_sweep(event) is expected


def test_no_real_sample_is_a_scheduled_sweep() -> None:
    for name in ("ecr-image-action-push.json", "codedeploy-deployment-state-change.json"):
        assert not is_scheduled_sweep(load_event(name))


# -- lifecycle-hook invocations ------------------------------------------------------------------------------------
def test_the_real_hook_invocation_sample_parses() -> None:
    outcome = parse_hook_invocation(load_event("codedeploy-lifecycle-hook-invocation.json"))

    assert outcome == HookInvocation("d-ABCDEF", "xxxxxxxxxxxxxxxxxxxxxxxx")


@pytest.mark.parametrize(
    "change", [{"DeploymentId": ""}, {"LifecycleEventHookExecutionId": None}, {"DeploymentId": 12}]
)
def test_a_hook_invocation_lacking_an_id_is_malformed(change: dict[str, Any]) -> None:
    event = {**load_event("codedeploy-lifecycle-hook-invocation.json"), **change}

    outcome = parse_hook_invocation(event)

    assert isinstance(outcome, Ignored)
    assert outcome.malformed
    assert "DeploymentId or LifecycleEventHookExecutionId" in outcome.reason


def test_a_continuation_carries_codedeploys_ids_and_the_checks_progress() -> None:
    first = parse_hook_invocation(load_event("codedeploy-lifecycle-hook-invocation.json"))
    assert isinstance(first, HookInvocation)
    began = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    payload = first.continued({"started_at": "2026-12-01T12:00:05.000Z"}, began)
    second = parse_hook_invocation(json.loads(json.dumps(payload)))  # through Scheduler's Input (a JSON string)

    assert isinstance(second, HookInvocation) and second.continuation is not None
    assert (second.deployment_id, second.execution_id) == ("d-ABCDEF", "xxxxxxxxxxxxxxxxxxxxxxxx")
    assert second.continuation == HookContinuation(2, began, {"started_at": "2026-12-01T12:00:05.000Z"})
    assert second.continued({}, began)[CONTINUATION_KEY]["invocation"] == 3


@pytest.mark.parametrize(
    ("continuation", "problem"),
    [
        ("soon", "not an object"),
        ({"invocation": 1, "hook_started_at": "2026-12-01T12:00:00Z", "state": {}}, "at least 2"),
        ({"invocation": True, "hook_started_at": "2026-12-01T12:00:00Z", "state": {}}, "at least 2"),
        ({"invocation": 2, "hook_started_at": "noon", "state": {}}, "ISO 8601"),
        ({"invocation": 2, "hook_started_at": "2026-12-01T12:00:00Z", "state": []}, "state must be an object"),
    ],
)
def test_an_unreadable_continuation_is_named_so_the_hook_can_report_failed(continuation: Any, problem: str) -> None:
    event = {**load_event("codedeploy-lifecycle-hook-invocation.json"), CONTINUATION_KEY: continuation}

    outcome = parse_hook_invocation(event)

    assert isinstance(outcome, HookInvocation)  # CodeDeploy's ids are there: the hook reports
    assert outcome.continuation is None and problem in str(outcome.continuation_problem)


@pytest.mark.parametrize("repository", ["my__repo", "team/my---svc", "a.b_c/d-e", "x"])
def test_repository_names_ecr_accepts_are_pushes(repository):
    event = load_event("ecr-image-action-push.json")
    event["detail"]["repository-name"] = repository
    parsed = parse_push_event(event)
    assert not isinstance(parsed, Ignored) and parsed.image.repository == repository


@pytest.mark.parametrize("repository", ["My-Repo", "repo/", "_repo", "a___b", "a/-b"])
def test_repository_names_ecr_refuses_are_malformed(repository):
    event = load_event("ecr-image-action-push.json")
    event["detail"]["repository-name"] = repository
    parsed = parse_push_event(event)
    assert isinstance(parsed, Ignored) and parsed.malformed and "repository-name" in parsed.reason
