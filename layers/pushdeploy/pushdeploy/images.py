"""ECR image references: push events, digest-pinned URIs, and what an image says about itself."""

from __future__ import annotations

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
