"""pushdeploy.model.releases and pushdeploy.model.results: the ledger's records and the use cases' answers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest
from pushdeploy import clock
from pushdeploy.model.releases import UNFINISHED_STATUSES, KnownGood, Release, ReleaseStatus
from pushdeploy.model.results import OUTCOMES, Result

DIGEST = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"
IMAGE = f"123456789012.dkr.ecr.us-west-2.amazonaws.com/my-repository-name@{DIGEST}"
START = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def set_time() -> Iterator[Callable[[datetime], None]]:
    """Fix the clock at a moment of the test's choosing; the real clock comes back afterwards."""

    def at(moment: datetime) -> None:
        clock.use(lambda: moment)

    at(START)
    yield at
    clock.reset()


def new(**details: object) -> Release:
    return Release.new(target="web", digest=DIGEST, image_uri=IMAGE, trigger="push", **details)  # type: ignore[arg-type]


def test_a_new_release_is_received_now_with_a_readable_id(set_time: Callable[[datetime], None]) -> None:
    release = new(tag="v1.2.3")

    assert release.status == "RECEIVED"
    assert release.created_at == release.updated_at == "2024-05-01T10:00:00.000Z"
    assert re.fullmatch(r"20240501T100000000000Z-7f5b2640fe6f-[0-9a-f]{6}", release.release_id)
    assert release.tags == ["v1.2.3"]
    assert release.is_unfinished


def test_release_ids_sort_by_creation_time(set_time: Callable[[datetime], None]) -> None:
    # Given releases created a microsecond, a second and a day apart (listed newest first)
    moments = [START + timedelta(days=1), START + timedelta(seconds=1), START + timedelta(microseconds=1), START]
    ids = []
    for moment in moments:
        set_time(moment)
        ids.append(new().release_id)

    # Then sorting their ids puts them in creation order
    assert sorted(ids) == list(reversed(ids))


def test_release_ids_created_at_the_same_moment_differ(set_time: Callable[[datetime], None]) -> None:
    ids = {new().release_id for _ in range(20)}

    assert len(ids) == 20


def test_an_untagged_release_has_no_tags(set_time: Callable[[datetime], None]) -> None:
    assert new().tags == []
    assert new(tag=None).tag is None


def test_explicit_tags_are_kept(set_time: Callable[[datetime], None]) -> None:
    release = new(tag="v1.2.3", tags=["v1.2.3", "latest"], status="QUEUED", event_id="e-1")

    assert release.tags == ["v1.2.3", "latest"]
    assert release.status == "QUEUED"
    assert release.event_id == "e-1"


def test_from_record_ignores_the_tables_keys(set_time: Callable[[datetime], None]) -> None:
    # Given a stored record: the release's attributes plus the table's own keys
    original = new(tag="v1.2.3", hooks={"BeforeInstall": {"status": "Succeeded"}})
    record = {**asdict(original), "pk": "TARGET#web", "sk": "RELEASE#x", "gsi1pk": "DEPLOYMENT#d-1", "ttl": 1}

    # When it is read back
    restored = Release.from_record(record)

    # Then it is the same release
    assert restored == original


@pytest.mark.parametrize("status", get_args(ReleaseStatus))
def test_is_unfinished(status: str, set_time: Callable[[datetime], None]) -> None:
    release = new(status=status)

    assert release.is_unfinished is (status in {"RECEIVED", "QUEUED", "IN_PROGRESS"})


def test_unfinished_statuses_are_release_statuses() -> None:
    assert set(get_args(ReleaseStatus)) > UNFINISHED_STATUSES


def test_known_good_of_a_finished_release_is_since_it_finished(set_time: Callable[[datetime], None]) -> None:
    release = new(
        tag="v1.2.3",
        task_definition_arn="arn:aws:ecs:us-west-2:123456789012:task-definition/web:42",
        finished_at="2024-05-01T10:07:00.000Z",
    )

    known = KnownGood.of(release)

    assert known == KnownGood(
        release.release_id,
        DIGEST,
        IMAGE,
        "arn:aws:ecs:us-west-2:123456789012:task-definition/web:42",
        "v1.2.3",
        "2024-05-01T10:07:00.000Z",
    )


def test_known_good_since_falls_back_to_creation_and_may_be_given(set_time: Callable[[datetime], None]) -> None:
    release = new(task_definition_arn="arn:td:1")

    assert KnownGood.of(release).since == "2024-05-01T10:00:00.000Z"
    assert KnownGood.of(release, since="2024-05-02T00:00:00.000Z").since == "2024-05-02T00:00:00.000Z"


# -- results ---------------------------------------------------------------------------------------------------------
def test_result_as_dict() -> None:
    result = Result("deployed", "deployment started", target="web", release_id="r-1", deployment_id="d-1")

    assert result.as_dict() == {
        "outcome": "deployed",
        "reason": "deployment started",
        "target": "web",
        "release_id": "r-1",
        "deployment_id": "d-1",
    }


def test_result_as_dict_keeps_unknowns_as_none() -> None:
    assert Result("ignored", "not a push").as_dict() == {
        "outcome": "ignored",
        "reason": "not a push",
        "target": None,
        "release_id": None,
        "deployment_id": None,
    }


def test_outcomes_are_the_documented_ones() -> None:
    assert {
        "deployed",
        "queued",
        "superseded",
        "rejected",
        "duplicate",
        "ignored",
        "quarantined",
        "rollback-started",
        "revert-started",
        "recorded",
        "failed",
    } == OUTCOMES
    assert isinstance(OUTCOMES, frozenset)
