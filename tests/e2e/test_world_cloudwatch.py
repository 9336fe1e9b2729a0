"""The rehearsal world's CloudWatch evaluates alarms with their own period and statistic (1-minute datapoints are
what the local traffic produces; a 5-minute alarm sees them summed per 5 minutes, at 5-minute boundaries)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from pushdeploy import aws


@pytest.fixture(scope="module")
def world() -> Iterator[Any]:
    from pushdeploy_local.world.world import World

    environment = dict(os.environ)
    started = World().start()
    started.reset()
    started.build_sample()
    yield started
    started.stop()
    os.environ.clear()
    os.environ.update(environment)


def _alarm(world: Any, **settings: Any) -> str:
    name = world.spec.alarm
    current = aws.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    keep = ("AlarmName", "MetricName", "Namespace", "Dimensions", "ComparisonOperator", "Threshold", "Statistic")
    aws.client("cloudwatch").put_metric_alarm(**({k: current[k] for k in keep if k in current} | settings))
    world.alarm_states[name] = "OK"
    return str(name)


def test_a_five_minute_alarm_sums_five_minutes_and_judges_only_when_its_period_ends(world: Any) -> None:
    name = _alarm(world, Period=300, EvaluationPeriods=1, DatapointsToAlarm=1, Threshold=10.0, Statistic="Sum")
    world.datapoints[:] = [0, 0, 4, 4, 4]  # 12 errors in five minutes; never more than 10 in one

    world._evaluate_alarm(name, minute=1_000_003)  # not a 5-minute boundary: no datapoint yet
    assert world.alarm_states[name] == "OK"
    world._evaluate_alarm(name, minute=1_000_005)
    assert world.alarm_states[name] == "ALARM"


def test_a_one_minute_alarm_judges_every_minute_on_single_minutes(world: Any) -> None:
    name = _alarm(world, Period=60, EvaluationPeriods=1, DatapointsToAlarm=1, Threshold=10.0, Statistic="Sum")
    world.datapoints[:] = [0, 0, 4, 4, 4]

    world._evaluate_alarm(name, minute=1_000_003)

    assert world.alarm_states[name] == "OK"  # 4 in the last minute: under 10
