"""pushdeploy.model.images: digest-pinned URIs, push ordering, and what an image says about itself."""

from __future__ import annotations

from typing import Any

import pytest
from pushdeploy.model.events import parse_push_event
from pushdeploy.model.images import (
    ImageFacts,
    ImagePush,
    ImageRef,
    config_platforms,
    index_platforms,
    is_index,
    labels_of,
    parse_image_uri,
    refined_order_key,
    same_second,
)

from tests.helpers import push_event

DIGEST = "sha256:" + "ab" * 32


def sample_push(**changes: Any) -> ImagePush:
    push = parse_push_event(push_event(**changes))
    assert isinstance(push, ImagePush)
    return push


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("us-west-2", "123456789012.dkr.ecr.us-west-2.amazonaws.com"),
        ("eu-central-1", "123456789012.dkr.ecr.eu-central-1.amazonaws.com"),
        ("cn-north-1", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
        ("cn-northwest-1", "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn"),
    ],
)
def test_uri_is_pinned_to_the_digest_on_the_regions_registry(region: str, host: str) -> None:
    image = ImageRef("123456789012", region, "team/web", DIGEST)

    assert image.uri == f"{host}/team/web@{DIGEST}"


def test_the_real_push_samples_image_uri() -> None:
    push = sample_push()

    assert push.image.uri == (
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-repository-name"
        "@sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"
    )
    assert push.image.short_digest == "7f5b2640fe6f"


@pytest.mark.parametrize("region", ["us-west-2", "cn-north-1", "ap-southeast-4"])
@pytest.mark.parametrize("repository", ["web", "team/web", "org/team/web-api_v2.x"])
def test_parse_image_uri_inverts_uri(region: str, repository: str) -> None:
    image = ImageRef("123456789012", region, repository, DIGEST)

    assert parse_image_uri(image.uri) == image


@pytest.mark.parametrize(
    "uri",
    [
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/web:latest",
        f"123456789012.dkr.ecr.us-west-2.amazonaws.com/web:latest@{DIGEST}",
        f"docker.io/library/web@{DIGEST}",
        f"public.ecr.aws/team/web@{DIGEST}",
        f"12345.dkr.ecr.us-west-2.amazonaws.com/web@{DIGEST}",
        "",
    ],
)
def test_parse_image_uri_refuses_tags_and_other_registries(uri: str) -> None:
    assert parse_image_uri(uri) is None


def test_a_later_push_sorts_after_an_earlier_one() -> None:
    # Given pushes at different times (ISO 8601 from the envelopes), listed out of order
    late = sample_push(time="2024-05-01T10:00:01Z", event_id="a")
    early = sample_push(time="2024-05-01T09:59:59Z", event_id="z")

    # When ordered by their order key
    ordered = sorted([late, early], key=lambda p: p.order_key)

    # Then time decides, not the event id
    assert ordered == [early, late]


def test_pushes_in_one_second_tie_until_the_registry_time_refines_them() -> None:
    # EventBridge's time has whole seconds and event ids are random: neither orders two pushes in one second
    first = sample_push(event_id="ffff")
    second = sample_push(event_id="0000")
    assert first.order_key == second.order_key and same_second(first.order_key, second.order_key)

    earlier = refined_order_key(first.order_key, "2019-11-16T01:54:34.100000Z")
    later = refined_order_key(second.order_key, "2019-11-16T01:54:34.900000Z")

    assert first.order_key < earlier < later  # a refined key sorts after the unrefined one of its second
    assert later < sample_push(time="2019-11-16T01:54:35Z").order_key  # and before the next second


def test_labels_win_over_annotations_for_the_commit() -> None:
    # Given an image whose config labels and manifest annotations disagree on the revision
    facts = ImageFacts(
        platforms=("linux/amd64",),
        labels={"org.opencontainers.image.revision": "label-sha", "unrelated": "x"},
        annotations={
            "org.opencontainers.image.revision": "annotation-sha",
            "org.opencontainers.image.source": "https://github.com/acme/web",
        },
    )

    # Then the label's revision wins, and the annotation still supplies what the labels lack
    assert facts.commit == {"revision": "label-sha", "source": "https://github.com/acme/web"}


def test_empty_commit_labels_do_not_override_annotations() -> None:
    facts = ImageFacts((), {"org.opencontainers.image.version": ""}, {"org.opencontainers.image.version": "1.2.3"})

    assert facts.commit == {"version": "1.2.3"}


def test_architectures_of_the_platforms() -> None:
    facts = ImageFacts(("linux/amd64", "linux/arm64/v8", "weird"), {}, {})

    assert facts.architectures() == {"amd64", "arm64"}


def test_index_platforms_skip_attestations_and_keep_variants() -> None:
    # Given a buildx multi-platform index with attestation manifests
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"digest": "sha256:att1", "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": "sha256:noplatform"},
        ],
    }

    # When its platforms are read
    platforms, first = index_platforms(index)

    # Then attestations and entries without a platform are not platforms, and the first real image is named
    assert platforms == ("linux/amd64", "linux/arm64/v8")
    assert first == "sha256:amd"
    assert is_index(index)


def test_an_empty_index_offers_nothing() -> None:
    assert index_platforms({"manifests": None}) == ((), None)
    assert not is_index({"layers": []})


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"architecture": "arm64", "os": "linux"}, ("linux/arm64",)),
        ({"architecture": "amd64"}, ("linux/amd64",)),
        ({"os": "linux"}, ()),
        (None, ()),
    ],
)
def test_config_platforms(config: dict[str, Any] | None, expected: tuple[str, ...]) -> None:
    assert config_platforms(config) == expected


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"config": {"Labels": {"a": "1", "n": 2}}}, {"a": "1", "n": "2"}),
        ({"config": {"Labels": None}}, {}),
        ({"config": None}, {}),
        (None, {}),
    ],
)
def test_labels_of(config: dict[str, Any] | None, expected: dict[str, str]) -> None:
    assert labels_of(config) == expected
