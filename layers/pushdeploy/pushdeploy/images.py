"""ECR image references: push events, digest-pinned URIs, and what an image says about itself."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# OCI image-spec digest grammar (algorithm ":" encoded). AWS's own documented sample digest is 60 hex
# characters, so a strict 64-hex check would refuse AWS's sample event: accept the grammar instead.
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
REPOSITORY_RE = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")


def registry_host(account: str, region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"


@dataclass(frozen=True)
class ImageRef:
    account: str
    region: str
    repository: str
    digest: str

    @property
    def uri(self) -> str:
        """``{account}.dkr.ecr.{region}.amazonaws.com/{repository}@{digest}`` (pinned, never a tag)."""
        return f"{registry_host(self.account, self.region)}/{self.repository}@{self.digest}"

    @property
    def short_digest(self) -> str:
        return self.digest.split(":", 1)[-1][:12]


@dataclass(frozen=True)
class ImagePush:
    """One successful ECR push, as the deployer needs it."""

    event_id: str
    pushed_at: str  # the event's envelope time (ISO 8601)
    image: ImageRef
    tag: str | None
    manifest_media_type: str | None = None

    @property
    def order_key(self) -> str:
        """Total order of pushes: newer pushes sort after older ones (event id breaks ties)."""
        return f"{self.pushed_at}#{self.event_id}"


@dataclass(frozen=True)
class NotAPush:
    """An event the deployer does not act on, and why. ``malformed`` events are kept in the ledger."""

    reason: str
    malformed: bool = False


_NON_IMAGE_MEDIA = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


def parse_push_event(event: Any) -> ImagePush | NotAPush:
    """Read an EventBridge "ECR Image Action" event; anything else is explained, never raised."""
    if not isinstance(event, dict):
        return NotAPush(f"event is a {type(event).__name__}, not an object", malformed=True)
    if event.get("source") != "aws.ecr" or event.get("detail-type") != "ECR Image Action":
        return NotAPush(
            f"not an ECR Image Action event (source={event.get('source')!r}, detail-type={event.get('detail-type')!r})"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return NotAPush("detail is missing or not an object", malformed=True)
    action, result = detail.get("action-type"), detail.get("result")
    if action != "PUSH":
        return NotAPush(f"action-type is {action!r}, only PUSH deploys")
    if result != "SUCCESS":
        return NotAPush(f"result is {result!r}, only SUCCESS deploys")
    problems = []
    repository, digest, tag = detail.get("repository-name"), detail.get("image-digest"), detail.get("image-tag")
    account, region = event.get("account"), event.get("region")
    if not isinstance(repository, str) or not REPOSITORY_RE.match(repository):
        problems.append(f"repository-name {repository!r} is not a repository name")
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        problems.append(f"image-digest {digest!r} is not a digest")
    if tag is not None and not isinstance(tag, str):
        problems.append(f"image-tag {tag!r} is not a string")
    if not isinstance(account, str) or not ACCOUNT_RE.match(account):
        problems.append(f"account {account!r} is not an account id")
    if not isinstance(region, str) or not REGION_RE.match(region):
        problems.append(f"region {region!r} is not a region")
    event_id, time = event.get("id"), event.get("time")
    if not isinstance(event_id, str) or not event_id:
        problems.append("id is missing")
    if not isinstance(time, str) or not time:
        problems.append("time is missing")
    if problems:
        return NotAPush("; ".join(problems), malformed=True)
    assert isinstance(repository, str) and isinstance(digest, str) and isinstance(account, str)
    assert isinstance(region, str) and isinstance(event_id, str) and isinstance(time, str)
    media = detail.get("manifest-media-type")
    return ImagePush(
        event_id=event_id,
        pushed_at=time,
        image=ImageRef(account, region, repository, digest),
        tag=tag or None,
        manifest_media_type=media if isinstance(media, str) else None,
    )


def parse_image_uri(uri: str) -> ImageRef | None:
    """The inverse of :attr:`ImageRef.uri` (None for images that are not digest-pinned ECR images)."""
    match = re.match(
        r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<repo>[^@:]+)@(?P<digest>.+)$",
        uri,
    )
    if not match:
        return None
    return ImageRef(match["account"], match["region"], match["repo"], match["digest"])


# -- what an image says about itself (ECR manifests and config blob) --------------------------------------
MANIFEST_MEDIA_TYPES = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/json",
]
COMMIT_LABELS = {
    "org.opencontainers.image.revision": "revision",
    "org.opencontainers.image.source": "source",
    "org.opencontainers.image.version": "version",
}
ECS_TO_OCI_ARCH = {"X86_64": "amd64", "ARM64": "arm64"}


@dataclass(frozen=True)
class ImageFacts:
    """Platforms and labels read from the registry; each may be unknown (None / empty)."""

    platforms: tuple[str, ...]  # e.g. ("linux/amd64", "linux/arm64")
    labels: dict[str, str]
    annotations: dict[str, str]

    @property
    def commit(self) -> dict[str, str]:
        """``revision`` / ``source`` / ``version`` from OCI labels (config) or annotations (manifest)."""
        found: dict[str, str] = {}
        for source in (self.annotations, self.labels):  # labels win where both are set
            for key, short in COMMIT_LABELS.items():
                value = source.get(key)
                if isinstance(value, str) and value:
                    found[short] = value
        return found

    def architectures(self) -> set[str]:
        return {p.split("/")[1] for p in self.platforms if "/" in p}


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

    from pushdeploy import aws

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


def inspect_image(image: ImageRef, ecr: Any) -> ImageFacts:
    """Platforms and labels of ``image``: the index's platforms, or the config blob's os/architecture."""
    manifest = _manifest(ecr, image.account, image.repository, image.digest)
    if manifest is None:
        return ImageFacts((), {}, {})
    annotations = {k: str(v) for k, v in (manifest.get("annotations") or {}).items()}
    if isinstance(manifest.get("manifests"), list):  # an index / manifest list
        platforms = []
        child_digest = None
        for entry in manifest["manifests"]:
            platform = entry.get("platform") or {}
            os_name, arch = platform.get("os"), platform.get("architecture")
            if not os_name or not arch or "unknown" in (os_name, arch):
                continue  # buildx attestation manifests
            variant = f"/{platform['variant']}" if platform.get("variant") else ""
            platforms.append(f"{os_name}/{arch}{variant}")
            child_digest = child_digest or entry.get("digest")
        labels: dict[str, str] = {}
        if child_digest:
            child = _manifest(ecr, image.account, image.repository, child_digest) or {}
            annotations = {**{k: str(v) for k, v in (child.get("annotations") or {}).items()}, **annotations}
            config = _config_blob(ecr, image.account, image.repository, (child.get("config") or {}).get("digest", ""))
            labels = _labels(config)
        return ImageFacts(tuple(platforms), labels, annotations)
    config_digest = (manifest.get("config") or {}).get("digest")
    config = _config_blob(ecr, image.account, image.repository, config_digest) if config_digest else None
    platforms_found: tuple[str, ...] = ()
    if config and config.get("architecture"):
        platforms_found = (f"{config.get('os', 'linux')}/{config['architecture']}",)
    return ImageFacts(platforms_found, _labels(config), annotations)


def _labels(config: dict[str, Any] | None) -> dict[str, str]:
    labels = ((config or {}).get("config") or {}).get("Labels")  # null when no label is set
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
