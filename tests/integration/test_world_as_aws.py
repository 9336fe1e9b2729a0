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
