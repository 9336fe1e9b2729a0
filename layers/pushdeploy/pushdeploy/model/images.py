"""ECR image references: digest-pinned URIs, pushes, and what an image says about itself (parsed, not fetched)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# OCI image-spec digest grammar (algorithm ":" encoded). AWS's own documented sample digest is 60 hex
# characters, so a strict 64-hex check would refuse AWS's sample event: accept the grammar instead.
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
# ECR's own RepositoryName pattern (botocore ecr model): `__` and runs of `-` are valid separators.
REPOSITORY_RE = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$")
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
        """Where the push sorts among a target's pushes: EventBridge's ``time`` (whole seconds). Two pushes in one
        second are told apart by ECR's ``imagePushedAt`` (:func:`refined_order_key`), fetched only then."""
        return f"{self.pushed_at}#"


def refined_order_key(order_key: str, registry_pushed_at: str | None) -> str:
    """``order_key`` with the registry's sub-second push time: sorts after every unrefined key of its second."""
    return f"{order_key.split('#', 1)[0]}#{registry_pushed_at or ''}"


def same_second(order_key: str, other: str) -> bool:
    return order_key.split("#", 1)[0] == other.split("#", 1)[0]


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


def labels_of(config: dict[str, Any] | None) -> dict[str, str]:
    labels = ((config or {}).get("config") or {}).get("Labels")  # null when no label is set
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def annotations_of(manifest: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (manifest.get("annotations") or {}).items()}


def index_platforms(index: dict[str, Any]) -> tuple[tuple[str, ...], str | None]:
    """The platforms an image index (or manifest list) offers, and the digest of its first image manifest.

    buildx attestation manifests (platform ``unknown/unknown``) are not platforms.
    """
    platforms: list[str] = []
    first: str | None = None
    for entry in index.get("manifests") or []:
        platform = entry.get("platform") or {}
        os_name, arch = platform.get("os"), platform.get("architecture")
        if not os_name or not arch or "unknown" in (os_name, arch):
            continue
        variant = f"/{platform['variant']}" if platform.get("variant") else ""
        platforms.append(f"{os_name}/{arch}{variant}")
        first = first or entry.get("digest")
    return tuple(platforms), first


def is_index(manifest: dict[str, Any]) -> bool:
    return isinstance(manifest.get("manifests"), list)


def config_platforms(config: dict[str, Any] | None) -> tuple[str, ...]:
    """``os/architecture`` from an image config blob (empty when it does not say)."""
    if config and config.get("architecture"):
        return (f"{config.get('os', 'linux')}/{config['architecture']}",)
    return ()
