"""The pure parts of the lifecycle hooks: a verdict from check results, the evidence, and the time budget."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pushdeploy import aws, clock
from pushdeploy.checks import Budget, BudgetExhausted, CarryOn, CheckResult, HookContext
from pushdeploy.services.hooks import conclude

from tests.helpers import START, FakeClock


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


def context(budget_seconds: float, resumed: dict[str, Any] | None = None) -> HookContext:
    """A hook's context as the pausing and carrying-on parts see it (no AWS reads)."""
    nothing: Any = None
    return HookContext(
        "AfterAllowTraffic",
        nothing,
        nothing,
        nothing,
        "",
        "web",
        8080,
        Budget.seconds(budget_seconds),
        resumed=resumed or {},
    )


def test_pause_waits_while_the_invocation_has_time_left(fake_clock: FakeClock) -> None:
    ctx = context(60)

    assert ctx.pause(15, fake_clock.now + timedelta(minutes=5), "baked", keep=20)
    assert fake_clock.slept == [15] and ctx.carry_on is None


def test_pause_never_waits_past_the_checks_own_end(fake_clock: FakeClock) -> None:
    ctx = context(60)

    assert ctx.pause(15, fake_clock.now + timedelta(seconds=4), "baked")
    assert fake_clock.slept == [4]


def test_pause_carries_the_check_on_when_only_the_kept_time_is_left(fake_clock: FakeClock) -> None:
    # Given a check that began 5 s ago in an invocation with 20 s left, all of it kept to conclude
    ctx = context(25)
    started = ctx.since()
    fake_clock.advance(5)

    # When it would wait again
    waited = ctx.pause(15, fake_clock.now + timedelta(minutes=40), "baked 5s of 40m", keep=20, seen=["a"])

    # Then it does not wait: the next invocation carries on from the first start, with the check's own state
    assert not waited and fake_clock.slept == []
    assert ctx.carry_on == CarryOn({"started_at": clock.iso(started), "seen": ["a"]}, "baked 5s of 40m")


def test_a_resumed_check_counts_from_its_first_invocation(fake_clock: FakeClock) -> None:
    ctx = context(60, {"started_at": "2024-05-01T09:40:00.000Z"})

    assert ctx.since() == START - timedelta(minutes=20)


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
