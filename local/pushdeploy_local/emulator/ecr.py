"""Images for the local world: real OCI manifests, indexes and config blobs pushed to (moto) ECR.

moto's ECR stores manifests but has no GetDownloadUrlForLayer; :func:`serve_layer_downloads` adds it,
backed by a small local HTTP blob server, so the config blob (labels, architecture) is fetched the way
AWS serves it: a download URL, then an HTTP GET.
"""

from __future__ import annotations

import hashlib
import http.server
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pushdeploy_local.emulator.loopback import LoopbackServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class BlobServer:
    """Serves blobs by digest over HTTP on 127.0.0.1 (stands in for ECR's presigned S3 URLs)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        blobs = self.blobs

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = blobs.get(self.path.rsplit("/", 1)[-1])
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                self.wfile.write(data or b"")

            def log_message(self, *args: Any) -> None:
                return

        self.loopback = LoopbackServer(Handler, "blob-server")

    def add(self, data: bytes) -> str:
        digest = sha256(data)
        self.blobs[digest] = data
        return digest

    def url(self, digest: str) -> str:
        return f"{self.loopback.url}/blobs/{digest}"

    def close(self) -> None:
        if self in _serving:
            _serving.remove(self)
        self.loopback.close()


_serving: list[BlobServer] = []


def serve_layer_downloads(blobs: BlobServer) -> None:
    """moto's ECR lacks GetDownloadUrlForLayer: answer it as ECR does, with URLs ``blobs`` serves.

    One fix for both ways moto runs (in-process ``mock_aws`` and the threaded server): moto's ECR responses
    learn the operation. An unknown layer is ``LayersNotFoundException``, ECR's documented error.
    """
    from moto.core.exceptions import JsonRESTError
    from moto.core.responses import ActionResult
    from moto.ecr.responses import ECRResponse

    _serving[:] = [blobs]

    def get_download_url_for_layer(self: ECRResponse) -> ActionResult:
        digest = self._get_param("layerDigest")
        for server in _serving:
            if digest in server.blobs:
                return ActionResult({"downloadUrl": server.url(digest), "layerDigest": digest})
        raise JsonRESTError(
            "LayersNotFoundException", f"The layer {digest} does not exist in {self._get_param('repositoryName')}"
        )

    ECRResponse.get_download_url_for_layer = get_download_url_for_layer  # type: ignore[method-assign,assignment]


@dataclass
class PublishedImage:
    digest: str
    tag: str | None
    platforms: list[str] = field(default_factory=list)


def _config(architecture: str, labels: dict[str, str] | None) -> bytes:
    return json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "config": {"Labels": labels, "Env": ["PATH=/usr/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256(architecture.encode())]},
        }
    ).encode()


def _manifest(config_digest: str, config_size: int, layer_seed: str, annotations: dict[str, str] | None) -> str:
    layer = sha256(layer_seed.encode())
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": 1024}],
    }
    if annotations:
        manifest["annotations"] = annotations
    return json.dumps(manifest)


def publish_image(
    ecr: Any,
    repository: str,
    tag: str | None,
    *,
    architectures: tuple[str, ...] = ("arm64",),
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    blobs: BlobServer | None = None,
    as_index: bool = False,
    seed: str = "",
) -> PublishedImage:
    """Push an image (single manifest, or an index over one manifest per architecture) and return its digest.

    moto computes digests its own way (not sha256 of the manifest), so the digest is read from the response.
    """
    children = []
    for arch in architectures:
        config = _config(arch, labels)
        config_digest = blobs.add(config) if blobs else sha256(config)
        manifest = _manifest(
            config_digest, len(config), f"{repository}:{tag}:{arch}:{seed}", annotations if not as_index else None
        )
        if not as_index:
            response = ecr.put_image(
                repositoryName=repository,
                imageManifest=manifest,
                imageManifestMediaType=OCI_MANIFEST,
                **({"imageTag": tag} if tag else {}),
            )
            return PublishedImage(response["image"]["imageId"]["imageDigest"], tag, [f"linux/{arch}"])
        response = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageManifestMediaType=OCI_MANIFEST)
        children.append((arch, response["image"]["imageId"]["imageDigest"], len(manifest)))
    index: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": size,
                "platform": {"os": "linux", "architecture": arch},
            }
            for arch, digest, size in children
        ]
        + [
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256(b"attestation" + seed.encode()),
                "size": 10,
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
            }
        ],
    }
    if annotations:
        index["annotations"] = annotations
    response = ecr.put_image(
        repositoryName=repository,
        imageManifest=json.dumps(index),
        imageManifestMediaType=OCI_INDEX,
        **({"imageTag": tag} if tag else {}),
    )
    return PublishedImage(response["image"]["imageId"]["imageDigest"], tag, [f"linux/{a}" for a in architectures])


_registry_clock: list[Callable[[], datetime] | None] = [None]
_last_push = [0.0]


def registry_as_ecr(now: Callable[[], datetime] | None = None) -> None:
    """Make moto's ECR behave as ECR does where pushdeploy depends on it (contracts.md 11.3):

    - a manifest's or index's digest is sha256 of its exact bytes (moto draws an index's from 101 values and
      hashes a manifest's layer digests instead), so two different images never share a digest;
    - moving a tag leaves the image it moved from in the repository, untagged (moto deletes it);
    - ``imagePushedAt`` keeps sub-second precision (moto truncates it to whole seconds), on ``now``'s clock when
      given (the world's virtual clock: the same clock its EventBridge push events are stamped with).
    """
    import time

    from moto.ecr.models import ECRBackend, Image

    _registry_clock[0] = now
    _last_push[0] = 0.0
    if getattr(Image, "_pushdeploy_as_ecr", False):
        return

    def content_digest(self: Image) -> None:
        self._image_digest = "sha256:" + hashlib.sha256(self.image_manifest.encode("utf-8")).hexdigest()

    original_init = Image.__init__

    def init(self: Image, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        clock = _registry_clock[0]
        moment = clock().timestamp() if clock else time.time()
        # no two pushes happen at the same instant: the registry's times strictly increase (by a millisecond)
        _last_push[0] = max(moment, _last_push[0] + 0.001)
        self.image_pushed_at = _last_push[0]  # type: ignore[assignment]

    original_put = ECRBackend.put_image

    def put_image(
        self: ECRBackend, repository_name: str, image_manifest: str, image_tag: str, *args: Any, **kwargs: Any
    ) -> Image:
        repository = self.repositories.get(repository_name)
        for image in list(repository.images) if repository and image_tag else []:
            if image_tag in image.image_tags and image.image_manifest != image_manifest:
                image.image_tags.remove(image_tag)  # the tag moves; the image stays, untagged if it was its last
                image.image_tag = image.image_tags[-1] if image.image_tags else None  # type: ignore[assignment]
        return original_put(self, repository_name, image_manifest, image_tag, *args, **kwargs)

    Image._create_digest = content_digest  # type: ignore[method-assign]
    Image.__init__ = init  # type: ignore[method-assign]
    ECRBackend.put_image = put_image  # type: ignore[method-assign]
    Image._pushdeploy_as_ecr = True  # type: ignore[attr-defined]
