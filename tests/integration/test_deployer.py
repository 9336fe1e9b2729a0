"""The deployer against moto (ECR/ECS/DynamoDB/SSM) and the local CodeDeploy emulator, driven by AWS's sample."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from pushdeploy import aws, runtime
from pushdeploy.model.appspec import HOOK_STAGES

from tests.helpers import ledger, load_event, load_handler, push_event

SAMPLE_DIGEST = load_event("ecr-image-action-push.json")["detail"]["image-digest"]
OTHER_DIGEST = "sha256:" + "b" * 64
LATER = "2026-11-22T10:05:00Z"  # pushed after the one that keeps the group busy


def deploy(event: dict[str, Any], lambda_context: Any) -> list[dict[str, Any]]:
    return list(load_handler("deployer").lambda_handler(event, lambda_context)["results"])


def test_real_sample_push_registers_a_pinned_revision_and_creates_a_deployment(world, codedeploy, lambda_context):
    event = load_event("ecr-image-action-push.json")

    [result] = deploy(event, lambda_context)

    assert result["outcome"] == "deployed", result
    deployment = codedeploy.deployments[result["deployment_id"]]
    content = deployment["revision"]["appSpecContent"]["content"]
    assert deployment["revision"]["revisionType"] == "AppSpecContent"
    assert deployment["revision"]["appSpecContent"]["sha256"] == hashlib.sha256(content.encode()).hexdigest()
    appspec = json.loads(content)
    props = appspec["Resources"][0]["TargetService"]["Properties"]
    assert appspec["Resources"][0]["TargetService"]["Type"] == "AWS::ECS::Service"
    assert props["LoadBalancerInfo"] == {"ContainerName": "web", "ContainerPort": 8080}
    assert [next(iter(h)) for h in appspec["Hooks"]] == list(HOOK_STAGES)
    assert [next(iter(h.values())) for h in appspec["Hooks"]] == [
        f"CodeDeployHook_pushdeploy-test-{stage}" for stage in HOOK_STAGES
    ]
    assert deployment["deploymentConfigName"] == "CodeDeployDefault.ECSCanary10Percent5Minutes"

    ecs = aws.client("ecs")
    new = ecs.describe_task_definition(taskDefinition=props["TaskDefinition"], include=["TAGS"])
    old = ecs.describe_task_definition(taskDefinition=world.task_definition_arn, include=["TAGS"])
    assert new["taskDefinition"]["revision"] == old["taskDefinition"]["revision"] + 1
    image = new["taskDefinition"]["containerDefinitions"][0]["image"]
    assert image == f"123456789012.dkr.ecr.us-west-2.amazonaws.com/my-repository-name@{SAMPLE_DIGEST}"
    assert new["tags"] == old["tags"] and new["tags"]
    for key in (
        "family",
        "networkMode",
        "cpu",
        "memory",
        "executionRoleArn",
        "runtimePlatform",
        "requiresCompatibilities",
    ):
        assert new["taskDefinition"][key] == old["taskDefinition"][key], key
    old_container = dict(old["taskDefinition"]["containerDefinitions"][0], image=image)
    assert new["taskDefinition"]["containerDefinitions"][0] == old_container

    release = ledger().release_by_deployment(result["deployment_id"])
    assert release is not None
    assert (release.status, release.trigger, release.tag, release.digest) == (
        "IN_PROGRESS",
        "push",
        "latest",
        SAMPLE_DIGEST,
    )
    assert release.task_definition_arn == props["TaskDefinition"]
    assert release.previous_task_definition_arn == world.task_definition_arn
    assert release.started_at and release.created_at


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (push_event(tag="feature-x"), "matches no target's tag_pattern"),
        (push_event(tag="v1.2"), "matches no target's tag_pattern"),
        (push_event(tag="xlatest"), "matches no target's tag_pattern"),
        (push_event(repository="another-repo"), "no target deploys repository 'another-repo'"),
        (push_event(tag=""), "push has no tag"),
        (push_event(tag=None), "push has no tag"),
        (load_event("ecr-image-action-push-empty-tag.json"), "push has no tag"),
        (load_event("ecr-image-action-delete.json"), "action-type is 'DELETE'"),
        (load_event("ecr-image-action-archive.json"), "action-type is 'UPDATE_STORAGE_CLASS'"),
        (push_event(result="FAILURE"), "result is 'FAILURE'"),
        (load_event("codedeploy-deployment-state-change.json"), "not an ECR Image Action event"),
    ],
)
def test_pushes_not_for_a_target_are_ignored_with_a_reason(world, codedeploy, lambda_context, event, reason):
    [result] = deploy(event, lambda_context)

    assert result["outcome"] == "ignored"
    assert reason in result["reason"]
    assert codedeploy.deployments == {}


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"detail-type": "ECR Image Action", "source": "aws.ecr", "detail": "nope"}, "detail is missing"),
        (push_event(digest="not-a-digest"), "image-digest 'not-a-digest' is not a digest"),
        (push_event(**{"repository-name": 42}), "repository-name 42"),
        (push_event(event_id=""), "id is missing"),
        (["not", "an", "object"], "not an object"),
    ],
)
def test_malformed_events_are_ignored_and_kept_in_the_ledger(world, codedeploy, lambda_context, event, reason):
    [result] = deploy(event, lambda_context)

    assert result["outcome"] == "ignored"
    assert reason in result["reason"]
    kept = ledger().unprocessable()
    assert len(kept) == 1 and reason in kept[0]["reason"] and kept[0]["function"] == "deployer"
    assert codedeploy.deployments == {}


def test_one_digest_under_three_tags_delivered_twice_starts_one_deployment(world, codedeploy, lambda_context):
    events = [push_event(tag=tag, event_id=f"evt-{tag}") for tag in ("latest", "main", "v1.4.0")]

    outcomes = [deploy(event, lambda_context)[0] for event in events + events]

    assert [o["outcome"] for o in outcomes] == ["deployed"] + ["duplicate"] * 5
    assert len(codedeploy.deployments) == 1
    [release] = ledger().releases("sample-app-prod")
    assert sorted(release.tags) == ["latest", "main", "v1.4.0"]


def test_a_failure_before_create_deployment_releases_the_claim_so_the_retry_deploys(
    world, codedeploy, lambda_context, monkeypatch
):
    original = codedeploy.create_deployment
    calls = {"n": 0}

    def flaky(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "CreateDeployment"
            )
        return original(**kwargs)

    monkeypatch.setattr(codedeploy, "create_deployment", flaky)
    event = load_event("ecr-image-action-push.json")

    from pushdeploy.services.deployer import PushNotProcessed

    with pytest.raises(PushNotProcessed, match="ThrottlingException"):
        deploy(event, lambda_context)
    [retry] = deploy(event, lambda_context)

    assert retry["outcome"] == "deployed"
    assert len(codedeploy.deployments) == 1
    [release] = ledger().releases("sample-app-prod")  # retries of one push are one release, not one per attempt
    assert release.status == "IN_PROGRESS" and release.release_id == retry["release_id"]


def _busy_group(codedeploy: Any, lambda_context: Any) -> str:
    [first] = deploy(
        push_event(tag="v1.0.1", digest="sha256:" + "1" * 64, event_id="e1", time="2026-11-22T10:00:00Z"),
        lambda_context,
    )
    assert first["outcome"] == "deployed"
    return str(first["deployment_id"])


def test_queue_latest_keeps_only_the_newest_waiting_push(world, codedeploy, lambda_context):
    active = _busy_group(codedeploy, lambda_context)
    second = push_event(tag="v1.0.2", digest="sha256:" + "2" * 64, event_id="e2", time="2026-11-22T10:01:00Z")
    third = push_event(tag="v1.0.3", digest="sha256:" + "3" * 64, event_id="e3", time="2026-11-22T10:02:00Z")

    [r3] = deploy(third, lambda_context)  # newest arrives first (EventBridge does not order)
    [r2] = deploy(second, lambda_context)

    assert (r3["outcome"], r2["outcome"]) == ("queued", "superseded")
    assert active in r3["reason"]
    pending = ledger().get_pending("sample-app-prod")
    assert pending is not None and pending.digest == "sha256:" + "3" * 64
    assert len(codedeploy.deployments) == 1

    codedeploy.finish(active, "Succeeded")
    services = runtime.services()
    started = services.starter.start_pending(services.catalog().by_name("sample-app-prod"))
    assert started is not None and started.outcome == "deployed"
    release = ledger().release_by_deployment(str(started.deployment_id))
    assert release is not None and release.digest == "sha256:" + "3" * 64
    assert ledger().get_pending("sample-app-prod") is None


def test_a_queued_push_is_replaced_by_a_newer_one(world, codedeploy, lambda_context):
    _busy_group(codedeploy, lambda_context)
    deploy(
        push_event(tag="v1.0.2", digest="sha256:" + "2" * 64, event_id="e2", time="2026-11-22T10:01:00Z"),
        lambda_context,
    )
    [newer] = deploy(
        push_event(tag="v1.0.3", digest="sha256:" + "3" * 64, event_id="e3", time="2026-11-22T10:02:00Z"),
        lambda_context,
    )

    assert newer["outcome"] == "queued"
    by_tag = {r.tag: r.status for r in ledger().releases("sample-app-prod")}
    assert by_tag == {"v1.0.1": "IN_PROGRESS", "v1.0.2": "SUPERSEDED", "v1.0.3": "QUEUED"}


def test_busy_registers_no_orphan_task_definition(world, codedeploy, lambda_context):
    _busy_group(codedeploy, lambda_context)
    ecs = aws.client("ecs")
    before = ecs.list_task_definitions(familyPrefix="sample-app", status="ACTIVE")["taskDefinitionArns"]

    deploy(push_event(tag="v1.0.2", digest="sha256:" + "2" * 64, event_id="e2", time=LATER), lambda_context)

    assert ecs.list_task_definitions(familyPrefix="sample-app", status="ACTIVE")["taskDefinitionArns"] == before


def test_supersede_stops_the_active_deployment_with_rollback_and_queues_the_push(world, codedeploy, lambda_context):
    world.put_target({**world.target_document(), "on_busy": "supersede"})
    active = _busy_group(codedeploy, lambda_context)

    [result] = deploy(push_event(tag="v1.0.2", digest="sha256:" + "2" * 64, event_id="e2", time=LATER), lambda_context)

    assert result["outcome"] == "superseded"
    assert codedeploy.deployments[active]["status"] == "Stopped"
    rollback_id = codedeploy.deployments[active]["rollbackInfo"]["rollbackDeploymentId"]
    assert codedeploy.deployments[rollback_id]["creator"] == "codeDeployRollback"
    pending = ledger().get_pending("sample-app-prod")
    assert pending is not None and pending.digest == "sha256:" + "2" * 64


def test_reject_records_and_does_not_deploy(world, codedeploy, lambda_context):
    world.put_target({**world.target_document(), "on_busy": "reject"})
    active = _busy_group(codedeploy, lambda_context)

    [result] = deploy(push_event(tag="v1.0.2", digest="sha256:" + "2" * 64, event_id="e2", time=LATER), lambda_context)

    assert result["outcome"] == "rejected" and active in result["reason"]
    assert codedeploy.deployments[active]["status"] == "Created"
    assert ledger().get_pending("sample-app-prod") is None
    assert {r.tag: r.status for r in ledger().releases("sample-app-prod")}["v1.0.2"] == "REJECTED"


def test_a_quarantined_digest_is_refused_and_recorded(world, codedeploy, lambda_context):
    ledger().quarantine("sample-app-prod", SAMPLE_DIGEST, reason="rolled back by alarm", release_id=None)

    [result] = deploy(load_event("ecr-image-action-push.json"), lambda_context)

    assert result["outcome"] == "quarantined"
    assert codedeploy.deployments == {}
    [release] = ledger().releases("sample-app-prod")
    assert release.status == "REFUSED" and "quarantined" in (release.reason or "")


def test_an_invalid_target_never_blocks_a_valid_one(world, codedeploy, lambda_context):
    world.put_target({**world.target_document(), "name": "broken", "container_port": "eighty"}, name="broken")

    [result] = deploy(load_event("ecr-image-action-push.json"), lambda_context)

    assert result["outcome"] == "deployed" and result["target"] == "sample-app-prod"


def test_a_push_for_two_targets_deploys_both(world, codedeploy, lambda_context):
    codedeploy.create_application(applicationName="sample-app-staging")
    group = codedeploy.get_deployment_group(applicationName="sample-app", deploymentGroupName="sample-app-prod")
    info = group["deploymentGroupInfo"]
    codedeploy.create_deployment_group(
        applicationName="sample-app-staging",
        deploymentGroupName="staging",
        **{
            k: v
            for k, v in info.items()
            if k in ("ecsServices", "loadBalancerInfo", "deploymentStyle", "serviceRoleArn")
        },
    )
    world.put_target(
        {
            **world.target_document(),
            "name": "staging",
            "application": "sample-app-staging",
            "deployment_group": "staging",
        },
        name="staging",
    )

    results = deploy(load_event("ecr-image-action-push.json"), lambda_context)

    assert sorted((r["target"], r["outcome"]) for r in results) == [
        ("sample-app-prod", "deployed"),
        ("staging", "deployed"),
    ]


def test_a_queued_push_redelivered_after_the_claim_lease_is_still_a_duplicate(world, codedeploy, lambda_context):
    from datetime import UTC, datetime, timedelta

    from pushdeploy import clock

    _busy_group(codedeploy, lambda_context)
    queued = push_event(tag="v1.0.2", digest="sha256:" + "2" * 64, event_id="e2", time=LATER)
    assert deploy(queued, lambda_context)[0]["outcome"] == "queued"
    moment = datetime.now(UTC) + timedelta(hours=2)  # the active deployment takes a long time
    clock.use(lambda: moment)
    try:
        [again] = deploy(queued, lambda_context)
    finally:
        clock.reset()

    assert again["outcome"] == "duplicate"
    assert [r.tag for r in ledger().releases("sample-app-prod")].count("v1.0.2") == 1


def test_an_older_push_arriving_after_a_newer_one_never_deploys(world, codedeploy, lambda_context):
    newer = push_event(tag="v1.0.3", digest="sha256:" + "3" * 64, event_id="e3", time="2026-11-22T10:02:00Z")
    older = push_event(tag="v1.0.2", digest="sha256:" + "2" * 64, event_id="e2", time="2026-11-22T10:01:00Z")
    assert deploy(newer, lambda_context)[0]["outcome"] == "deployed"
    codedeploy.finish(next(iter(codedeploy.deployments)), "Succeeded")  # the group is free again

    [late] = deploy(older, lambda_context)

    assert late["outcome"] == "superseded" and "a newer push" in late["reason"]
    assert len(codedeploy.deployments) == 1


def test_a_push_queued_as_the_active_deployment_ends_is_started_at_once(world, codedeploy, lambda_context, monkeypatch):
    active = _busy_group(codedeploy, lambda_context)
    original = codedeploy.create_deployment

    def busy_then_done(**kwargs: Any) -> Any:
        try:
            return original(**kwargs)
        finally:  # CodeDeploy answers "busy", and the active deployment ends right after (its events handled)
            if codedeploy.deployments[active]["status"] == "Created":
                codedeploy.finish(active, "Succeeded")

    monkeypatch.setattr(codedeploy, "create_deployment", busy_then_done)

    [result] = deploy(push_event(tag="v1.0.2", digest="sha256:" + "2" * 64, event_id="e2", time=LATER), lambda_context)

    assert result["outcome"] == "deployed"
    release = ledger().release_by_deployment(result["deployment_id"])
    assert release is not None and release.tag == "v1.0.2"
    assert ledger().get_pending("sample-app-prod") is None
