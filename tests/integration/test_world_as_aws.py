"""The world plays ECR as ECR behaves (contracts.md 11.3), not as moto's shortcuts would have it."""

from __future__ import annotations

from typing import Any

from pushdeploy import aws
from pushdeploy_local.emulator.ecr import publish_image

REPO = "my-repository-name"


def test_fifty_different_images_get_fifty_different_content_digests(world: Any) -> None:
    ecr = aws.client("ecr")
    images = [
        publish_image(ecr, REPO, f"v1.{n}.0", architectures=("arm64", "amd64"), as_index=True, seed=f"build-{n}")
        for n in range(50)
    ]
    assert len({image.digest for image in images}) == 50
    stored = ecr.batch_get_image(repositoryName=REPO, imageIds=[{"imageDigest": images[7].digest}])["images"][0]
    import hashlib

    assert images[7].digest == "sha256:" + hashlib.sha256(stored["imageManifest"].encode()).hexdigest()


def test_a_moved_tag_leaves_its_old_image_in_the_repository_untagged(world: Any) -> None:
    ecr = aws.client("ecr")
    old = publish_image(ecr, REPO, "main", architectures=("arm64",), as_index=False, seed="old")
    new = publish_image(ecr, REPO, "main", architectures=("arm64",), as_index=False, seed="new")
    assert old.digest != new.digest

    [still_there] = ecr.describe_images(repositoryName=REPO, imageIds=[{"imageDigest": old.digest}])["imageDetails"]
    assert "imageTags" not in still_there or still_there["imageTags"] == []
    [tagged] = ecr.describe_images(repositoryName=REPO, imageIds=[{"imageTag": "main"}])["imageDetails"]
    assert tagged["imageDigest"] == new.digest
    assert tagged["imagePushedAt"].microsecond or still_there["imagePushedAt"].microsecond  # sub-second precision


def test_an_index_lags_behind_but_a_deployments_release_is_read_at_once(world: Any) -> None:
    """GSI reads are eventually consistent; the ledger reads a deployment's release from the base table."""
    from datetime import UTC, datetime, timedelta

    from pushdeploy.model.releases import Release
    from pushdeploy_local.world.world import GSI_LAG, _gsi_lags_behind

    from tests.helpers import ledger

    moment = [datetime(2026, 12, 1, tzinfo=UTC)]
    _gsi_lags_behind(lambda: moment[0])
    try:
        release = Release.new(
            target="sample-app-prod", digest="sha256:" + "5" * 64, image_uri="x", trigger="push", tag="v5.0.0"
        )
        ledger().put_release(release)
        ledger().mark_started(
            release,
            deployment_id="d-LAGGING01",
            task_definition_arn="arn:aws:ecs:us-west-2:123456789012:task-definition/sample-app:9",
            previous_task_definition_arn=None,
            deployment_config=None,
        )
        index = aws.client("dynamodb").query(
            TableName="pushdeploy-ledger",
            IndexName="by_deployment",
            KeyConditionExpression="deployment_id = :d",
            ExpressionAttributeValues={":d": {"S": "d-LAGGING01"}},
        )
        assert index["Items"] == []  # not in the index yet
        found = ledger().release_by_deployment("d-LAGGING01")
        assert found is not None and found.release_id == release.release_id  # read its own write
        moment[0] += GSI_LAG + timedelta(seconds=1)
        later = aws.client("dynamodb").query(
            TableName="pushdeploy-ledger",
            IndexName="by_deployment",
            KeyConditionExpression="deployment_id = :d",
            ExpressionAttributeValues={":d": {"S": "d-LAGGING01"}},
        )
        assert len(later["Items"]) == 1
    finally:
        _gsi_lags_behind(None)


def test_a_stopped_rollback_keeps_the_link_to_what_it_rolled_back(world: Any, codedeploy: Any) -> None:
    started = codedeploy.create_deployment(
        applicationName="sample-app",
        deploymentGroupName="sample-app-prod",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
    )["deploymentId"]
    rollback = codedeploy.finish(started, "Stopped", error_code="MANUAL_STOP", rollback=True)["deploymentId"]

    codedeploy.stop_deployment(deploymentId=rollback, autoRollbackEnabled=True)

    info = codedeploy.get_deployment(deploymentId=rollback)["deploymentInfo"]
    assert info["status"] == "Stopped"
    assert info["rollbackInfo"]["rollbackTriggeringDeploymentId"] == started
