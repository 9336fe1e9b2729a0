"""The rehearsal world's CloudWatch evaluates alarms with their own period and statistic (1-minute datapoints are
what the local traffic produces; a 5-minute alarm sees them summed over the last 5 minutes, evaluated every minute
on a sliding window, CloudWatch's default)."""

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


def test_a_five_minute_alarm_sums_the_last_five_minutes_on_a_sliding_window(world: Any) -> None:
    name = _alarm(world, Period=300, EvaluationPeriods=1, DatapointsToAlarm=1, Threshold=10.0, Statistic="Sum")
    world.minutes[world.spec.target] = [9, 0, 0, 0, 0, 0, 4, 4]  # the 9 is six minutes back: out of the window

    world._evaluate_alarm(name, minute=1_000_003)
    assert world.alarm_states[name] == "OK"  # 0+0+0+4+4 = 8

    world.minutes[world.spec.target].append(4)
    world._evaluate_alarm(name, minute=1_000_004)  # the next minute: the window slid
    assert world.alarm_states[name] == "ALARM"  # 0+0+4+4+4 = 12, although no single minute reached 10


def test_a_one_minute_alarm_judges_every_minute_on_single_minutes(world: Any) -> None:
    name = _alarm(world, Period=60, EvaluationPeriods=1, DatapointsToAlarm=1, Threshold=10.0, Statistic="Sum")
    world.minutes[world.spec.target] = [0, 0, 4, 4, 4]

    world._evaluate_alarm(name, minute=1_000_003)

    assert world.alarm_states[name] == "OK"  # 4 in the last minute: under 10
