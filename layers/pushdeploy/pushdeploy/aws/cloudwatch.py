"""CloudWatch alarms: which of a deployment group's alarms are in ALARM, and since when."""

from __future__ import annotations

from datetime import datetime

from pushdeploy import aws


def alarms_in_alarm(names: tuple[str, ...] | list[str]) -> dict[str, datetime | None]:
    """The alarms among ``names`` whose state is ALARM, each with the moment it entered that state.

    Metric and composite alarms alike (composites are answered only to a DescribeAlarms grant on ``*``).
    """
    if not names:
        return {}
    response = aws.client("cloudwatch").describe_alarms(
        AlarmNames=list(names)[:100], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    alarms = response.get("MetricAlarms", []) + response.get("CompositeAlarms", [])
    firing: dict[str, datetime | None] = {}
    for alarm in alarms:
        if alarm.get("StateValue") == "ALARM":
            # when it entered ALARM (StateUpdatedTimestamp also moves on updates that keep the state: composites)
            changed = alarm.get("StateTransitionedTimestamp") or alarm.get("StateUpdatedTimestamp")
            firing[str(alarm["AlarmName"])] = changed if isinstance(changed, datetime) else None
    return firing


def existing_alarms(names: tuple[str, ...] | list[str]) -> set[str]:
    """The alarms among ``names`` that exist (metric or composite)."""
    if not names:
        return set()
    response = aws.client("cloudwatch").describe_alarms(
        AlarmNames=list(names)[:100], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    return {str(a["AlarmName"]) for a in response.get("MetricAlarms", []) + response.get("CompositeAlarms", [])}
