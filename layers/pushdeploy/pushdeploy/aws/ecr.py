"""ECR: image manifests, config blobs (platforms and labels), and tags to digests."""

from __future__ import annotations

import json
from typing import Any

from pushdeploy import aws
from pushdeploy.errors import ImageNotFound
from pushdeploy.model.images import (
    MANIFEST_MEDIA_TYPES,
    ImageFacts,
    ImageRef,
    annotations_of,
    config_platforms,
    index_platforms,
    is_index,
    labels_of,
)


def _manifest(ecr: Any, registry_id: str, repository: str, digest: str) -> dict[str, Any] | None:
    response = ecr.batch_get_image(
        registryId=registry_id,
        repositoryName=repository,
        imageIds=[{"imageDigest": digest}],
        acceptedMediaTypes=MANIFEST_MEDIA_TYPES,
    )
    images = response.get("images") or []
    if not images:
        return None  # failures come back in the response, not as exceptions
    try:
        return dict(json.loads(images[0]["imageManifest"]))
    except (KeyError, ValueError, TypeError):
        return None


def _config_blob(ecr: Any, registry_id: str, repository: str, config_digest: str) -> dict[str, Any] | None:
    """The image config JSON (labels, architecture): GetDownloadUrlForLayer, then an HTTPS GET."""
    import urllib.request

    try:
        url = ecr.get_download_url_for_layer(
            registryId=registry_id, repositoryName=repository, layerDigest=config_digest
        )["downloadUrl"]
    except Exception as exc:
        if aws.error_code(exc) or isinstance(exc, NotImplementedError):
            return None
        raise
    if not str(url).startswith(("https://", "http://")):
        return None
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - scheme checked above
        return dict(json.loads(response.read(1_000_000)))


def inspect_image(image: ImageRef, ecr: Any | None = None) -> ImageFacts:
    """Platforms and labels of ``image``: the index's platforms, or the config blob's os/architecture."""
    ecr = ecr or aws.client("ecr", region=image.region)  # the image's registry, in the image's region
    manifest = _manifest(ecr, image.account, image.repository, image.digest)
    if manifest is None:
        return ImageFacts((), {}, {})
    annotations = annotations_of(manifest)
    if is_index(manifest):
        platforms, child_digest = index_platforms(manifest)
        labels: dict[str, str] = {}
        if child_digest:
            child = _manifest(ecr, image.account, image.repository, child_digest) or {}
            annotations = {**annotations_of(child), **annotations}
            config = _config_blob(ecr, image.account, image.repository, (child.get("config") or {}).get("digest", ""))
            labels = labels_of(config)
        return ImageFacts(platforms, labels, annotations)
    config_digest = (manifest.get("config") or {}).get("digest")
    config = _config_blob(ecr, image.account, image.repository, config_digest) if config_digest else None
    return ImageFacts(config_platforms(config), labels_of(config), annotations)


def digest_of_tag(repository: str, tag: str) -> str:
    """The digest ``repository:tag`` points at now; :class:`ImageNotFound` when there is none."""
    try:
        details = aws.ecr_client().describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])[
            "imageDetails"
        ]
    except Exception as exc:
        if aws.error_code(exc) in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise ImageNotFound(f"no image tagged {tag!r} in {repository}") from exc
        raise
    return str(details[0]["imageDigest"])


def repository_exists(repository: str) -> bool:
    try:
        aws.ecr_client().describe_repositories(repositoryNames=[repository])
    except Exception as exc:
        if aws.error_code(exc) == "RepositoryNotFoundException":
            return False
        raise
    return True


def registry_region() -> str:
    return str(aws.ecr_client().meta.region_name)


def pushed_at(image: ImageRef) -> str | None:
    """ECR's ``imagePushedAt`` of ``image`` (sub-second), as sortable ISO text; None when the registry does not know
    it. Read only to order two pushes that EventBridge's one-second ``time`` cannot tell apart."""
    from datetime import UTC, datetime

    try:
        details = aws.client("ecr", region=image.region).describe_images(
            registryId=image.account, repositoryName=image.repository, imageIds=[{"imageDigest": image.digest}]
        )["imageDetails"]
    except Exception as exc:
        if aws.error_code(exc) in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return None
        raise
    moment = details[0].get("imagePushedAt") if details else None
    if not isinstance(moment, datetime):
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
