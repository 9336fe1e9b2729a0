"""Alarm rollback: a watched CloudWatch alarm goes to ALARM -> stop the deployment, or revert to known-good."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pushdeploy import clock, deployments
from pushdeploy.ledger import Ledger
from pushdeploy.lifecycle import Lifecycle
from pushdeploy.observability import count, logger, measure_ms
from pushdeploy.releases import Result
from pushdeploy.targets import Target, TargetCatalog

AlarmKind = Literal["metric", "metric-math", "anomaly-detection", "composite"]


@dataclass(frozen=True)
class AlarmEvent:
    name: str
    arn: str | None
    state: str
    reason: str
    changed_at: datetime
    kind: AlarmKind
    triggering_alarms: tuple[str, ...] = field(default=())


def _kind(configuration: dict[str, Any]) -> AlarmKind:
    if "alarmRule" in configuration:
        return "composite"
    expressions = [m.get("expression", "") for m in configuration.get("metrics", []) if isinstance(m, dict)]
    if any("ANOMALY_DETECTION_BAND" in e for e in expressions):
        return "anomaly-detection"
    return "metric-math" if expressions and any(expressions) else "metric"


def parse_alarm_event(event: Any) -> AlarmEvent | str:
    """An EventBridge "CloudWatch Alarm State Change" event, or why it is not one to act on."""
    if not isinstance(event, dict):
        return f"event is a {type(event).__name__}, not an object"
    if event.get("source") != "aws.cloudwatch":
        return f"not a CloudWatch event (source={event.get('source')!r})"
    if event.get("detail-type") != "CloudWatch Alarm State Change":
        return f"detail-type {event.get('detail-type')!r} is not acted on"
    detail = event.get("detail")
    if not isinstance(detail, dict) or not isinstance(detail.get("state"), dict):
        return "detail.state is missing"
    name, state = detail.get("alarmName"), detail["state"]
    if not isinstance(name, str) or not name:
        return "detail.alarmName is missing"
    value = state.get("value")
    try:
        changed_at = clock.parse(str(state.get("timestamp") or event.get("time")))
    except (TypeError, ValueError):
        return f"alarm {name}: state.timestamp {state.get('timestamp')!r} is not a timestamp"
    triggering: tuple[str, ...] = ()
    try:
        reason_data = json.loads(state.get("reasonData") or "{}")
        triggering = tuple(
            a["arn"].rsplit(":alarm:", 1)[-1]
            for a in reason_data.get("triggeringAlarms", [])
            if isinstance(a, dict) and isinstance(a.get("arn"), str)
        )
    except (ValueError, AttributeError, TypeError):
        pass  # reasonData is informative only
    resources = event.get("resources") or []
    raw_configuration = detail.get("configuration")
    configuration: dict[str, Any] = raw_configuration if isinstance(raw_configuration, dict) else {}
    return AlarmEvent(
        name=name,
        arn=resources[0] if resources and isinstance(resources[0], str) else None,
        state=str(value),
        reason=str(state.get("reason", "")),
        changed_at=changed_at,
        kind=_kind(configuration),
        triggering_alarms=triggering,
    )


@dataclass
class AlarmResponder:
    ledger: Ledger
    lifecycle: Lifecycle

    def handle(self, event: Any, catalog: TargetCatalog) -> list[Result]:
        alarm = parse_alarm_event(event)
        if isinstance(alarm, str):
            malformed = (
                isinstance(event, dict)
                and event.get("source") == "aws.cloudwatch"
                and event.get("detail-type") == "CloudWatch Alarm State Change"
            )
            if malformed:
                self.ledger.record_unprocessable(event, alarm, function="alarm-rollback")
            logger.info("alarm event ignored", reason=alarm)
            return [Result("ignored", alarm)]
        if alarm.state != "ALARM":
            reason = f"alarm {alarm.name} is {alarm.state}: only ALARM acts"
            logger.info("alarm event ignored", alarm=alarm.name, reason=reason)
            return [Result("ignored", reason)]
        watching = [t for t in catalog.targets if alarm.name in self._watched(t)]
        if not watching:
            reason = f"no target watches alarm {alarm.name}"
            logger.info("alarm event ignored", alarm=alarm.name, reason=reason)
            return [Result("ignored", reason)]
        results = []
        for target in watching:
            results.append(self._respond(target, alarm))
        return results

    @staticmethod
    def _watched(target: Target) -> tuple[str, ...]:
        if target.rollback.alarms is not None:
            return tuple(target.rollback.alarms)
        return deployments.describe_group(target.application, target.deployment_group).alarms

    def _respond(self, target: Target, alarm: AlarmEvent) -> Result:
        why = f"alarm {alarm.name} ({alarm.kind}) in ALARM: {alarm.reason}"
        for deployment_id in deployments.active_deployment_ids(target.application, target.deployment_group):
            info = deployments.get_deployment(deployment_id)
            if info.get("creator") == deployments.ROLLBACK_CREATOR:
                return Result(
                    "recorded",
                    f"{why}; rollback {deployment_id} already under way",
                    target.name,
                    deployment_id=deployment_id,
                )
            started = info.get("createTime")
            if isinstance(started, datetime) and alarm.changed_at <= started:
                reason = (
                    f"{why}; ignored: the alarm was already in ALARM at {clock.iso(alarm.changed_at)}, before "
                    f"deployment {deployment_id} started at {clock.iso(started)} (it must not block a fix)"
                )
                logger.warning(
                    "pre-existing alarm ignored", target=target.name, alarm=alarm.name, deployment_id=deployment_id
                )
                self._note(deployment_id, reason=reason)
                return Result("ignored", reason, target.name, deployment_id=deployment_id)
            status = deployments.stop_with_rollback(deployment_id, why)
            measure_ms("TimeToRollbackMs", (clock.now() - alarm.changed_at).total_seconds() * 1000)
            count("RollbackTriggered")
            release = self.ledger.release_by_deployment(deployment_id)
            if release is not None:
                self.ledger.update_release(target.name, release.release_id, alarm=alarm.name, reason=why)
                self.ledger.quarantine(target.name, release.digest, reason=why, release_id=release.release_id)
            logger.warning(
                "deployment stopped with rollback",
                target=target.name,
                alarm=alarm.name,
                deployment_id=deployment_id,
                stop_status=status,
            )
            return Result(
                "rollback-started",
                f"stopped {deployment_id} with rollback ({status}): {why}",
                target.name,
                release.release_id if release else None,
                deployment_id,
            )
        self.lifecycle.reconcile(target)  # settle missed events and due promotions before judging the window
        candidate = self.ledger.candidate(target.name)
        if candidate is None:
            reason = f"{why}; no deployment active and no release inside its watch window"
            logger.info("alarm recorded, nothing to roll back", target=target.name, alarm=alarm.name)
            return Result("recorded", reason, target.name)
        bad = self.ledger.get_release(target.name, candidate.release_id)
        if bad is None:
            return Result("recorded", f"{why}; candidate release {candidate.release_id} not found", target.name)
        if bad.started_at and alarm.changed_at < clock.parse(bad.started_at):
            reason = f"{why}; ignored: in ALARM before release {bad.release_id} started"
            return Result("ignored", reason, target.name, bad.release_id)
        if not target.rollback.auto_revert:
            self.ledger.update_release(
                target.name, bad.release_id, alarm=alarm.name, reason=f"{why} (auto_revert is off)"
            )
            return Result("recorded", f"{why}; auto_revert is off for {target.name}", target.name, bad.release_id)
        count("RollbackTriggered")
        return self.lifecycle.revert(target, bad=bad, reason=why, trigger_alarm=alarm.name)

    def _note(self, deployment_id: str, *, reason: str) -> None:
        release = self.ledger.release_by_deployment(deployment_id)
        if release is not None:
            self.ledger.update_release(release.target, release.release_id, reason=reason)
