"""The pure parts of the lifecycle hooks: a verdict from check results, the evidence, and the time budget."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pushdeploy import aws, clock
from pushdeploy.checks import Budget, BudgetExhausted, CheckResult
from pushdeploy.services.hooks import conclude

START = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to; sleeping moves it and is recorded."""

    def __init__(self) -> None:
        self.now = START
        self.slept: list[float] = []

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


@pytest.fixture(autouse=True)
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are pure: creating an AWS client is a failure."""

    def refuse(service: str) -> None:
        raise AssertionError(f"a unit test created a {service} client")

    monkeypatch.setattr(aws, "_new_client", refuse)


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    clock.use(lambda: fake.now)
    clock.use_sleep(fake.sleep)
    yield fake
    clock.reset()
    clock.reset_sleep()


# -- conclude --------------------------------------------------------------------------------------------------------
def test_all_checks_passing_succeed() -> None:
    checks = [CheckResult("architecture", True, "arm64 image"), CheckResult("findings", True, "0 critical")]

    assert conclude(checks) == ("Succeeded", "passed: architecture, findings")  # each check named


def test_a_failed_error_check_fails_the_hook_with_every_failure_named() -> None:
    # Given two failing error checks, a passing one and a failing warning
    checks = [
        CheckResult("architecture", False, "image is amd64, service runs ARM64"),
        CheckResult("findings", True, "0 critical"),
        CheckResult("labels", False, "no revision label", severity="warning"),
        CheckResult("smoke GET /", False, "503 after 3 attempts"),
    ]

    # When the verdict is concluded
    status, reason = conclude(checks)

    # Then the hook fails, naming the errors only
    assert status == "Failed"
    assert reason == "architecture: image is amd64, service runs ARM64; smoke GET /: 503 after 3 attempts"


def test_failed_warnings_do_not_fail_the_hook_but_are_named() -> None:
    checks = [
        CheckResult("findings", True, "0 critical"),
        CheckResult("labels", False, "no revision label", severity="warning"),
        CheckResult("note", False, "nothing to compare", severity="info"),
    ]

    assert conclude(checks) == ("Succeeded", "passed: findings; warnings: labels, note")


def test_no_checks_succeed() -> None:
    assert conclude([]) == ("Succeeded", "passed: nothing to check")


# -- CheckResult.as_dict ---------------------------------------------------------------------------------------------
def test_check_result_as_dict_drops_unknown_values() -> None:
    assert CheckResult("smoke", False, "timed out").as_dict() == {
        "name": "smoke",
        "passed": False,
        "message": "timed out",
        "severity": "error",
    }


def test_check_result_as_dict_keeps_falsy_measurements() -> None:
    result = CheckResult("5xx rate", True, "0.0 <= 0.01", value=0.0, limit=0.01, severity="info")

    assert result.as_dict() == {
        "name": "5xx rate",
        "passed": True,
        "message": "0.0 <= 0.01",
        "value": 0.0,
        "limit": 0.01,
        "severity": "info",
    }


# -- Budget --------------------------------------------------------------------------------------------------------
def test_a_budget_counts_down_on_the_clock(fake_clock: FakeClock) -> None:
    budget = Budget.seconds(60)

    fake_clock.advance(15)

    assert budget.deadline == START + timedelta(seconds=60)
    assert budget.remaining() == 45


def test_a_negative_budget_is_already_spent(fake_clock: FakeClock) -> None:
    budget = Budget.seconds(-10)

    assert budget.deadline == START
    assert budget.remaining() == 0
    with pytest.raises(BudgetExhausted):
        budget.wait(1)


@pytest.mark.parametrize(("limit", "remaining"), [(10, 10), (600, 60)])
def test_limited_to_never_extends_the_deadline(fake_clock: FakeClock, limit: float, remaining: float) -> None:
    budget = Budget.seconds(60)

    assert budget.limited_to(limit).remaining() == remaining
    assert budget.remaining() == 60  # the original is untouched


def test_wait_sleeps_at_most_until_the_deadline(fake_clock: FakeClock) -> None:
    # Given 10 seconds left
    budget = Budget.seconds(10)

    # When a check waits 4 seconds, then 30
    budget.wait(4)
    budget.wait(30)

    # Then it slept 4, then only the 6 that were left, and the next wait finds nothing left
    assert fake_clock.slept == [4, 6]
    with pytest.raises(BudgetExhausted, match="exhausted"):
        budget.wait(1)
    assert fake_clock.slept == [4, 6]
