"""BeforeAllowTraffic: every target registered in the replacement target group is healthy."""

from __future__ import annotations

from datetime import timedelta

from pushdeploy import aws, clock
from pushdeploy.checks import CheckResult, HookContext

POLL_SECONDS = 5.0


def replacement_target_group_arn(ctx: HookContext) -> str | None:
    replacement = ctx.replacement()
    return replacement.target_group_arn if replacement else None


def run(ctx: HookContext) -> list[CheckResult]:
    timeout = ctx.target.checks.before_allow_traffic.timeout_seconds
    started = ctx.since()
    deadline = started + timedelta(seconds=timeout)
    replacement = ctx.replacement()
    if replacement is None:
        return [CheckResult("replacement-healthy", False, f"nothing runs {ctx.task_definition_arn}")]
    tg_arn = replacement.target_group_arn
    if tg_arn is None:
        return [CheckResult("replacement-healthy", False, f"{replacement} has no target group")]
    desired = replacement.desired
    elb = aws.client("elbv2")
    while True:
        descriptions = elb.describe_target_health(TargetGroupArn=tg_arn).get("TargetHealthDescriptions", [])
        # a draining target is leaving (deregistered, connections finishing: ELB's target health states): not the
        # replacement's, whether it is healthy or not
        states = [
            (d["Target"]["Id"], d.get("TargetHealth", {}))
            for d in descriptions
            if d.get("TargetHealth", {}).get("State") != "draining"
        ]
        healthy = [t for t, h in states if h.get("State") == "healthy"]
        unhealthy = [
            f"{t}: {h.get('State')} ({h.get('Reason') or h.get('Description') or 'no reason'})"
            for t, h in states
            if h.get("State") != "healthy"
        ]
        if healthy and not unhealthy and len(healthy) >= desired:
            return [
                CheckResult(
                    "replacement-healthy",
                    True,
                    f"{len(healthy)} of {len(states)} targets healthy in {tg_arn.split(':')[-1]}",
                    value=len(healthy),
                    limit=desired,
                )
            ]
        if clock.now() >= deadline:
            detail = "; ".join(unhealthy) or f"{len(healthy)} healthy, {desired} wanted"
            return [
                CheckResult(
                    "replacement-healthy",
                    False,
                    f"replacement target group not healthy: {detail}",
                    value=len(healthy),
                    limit=desired,
                )
            ]
        elapsed = clock.span((clock.now() - started).total_seconds())
        waited = f"waited {elapsed} of {clock.span(timeout)} for healthy targets"
        if not ctx.pause(POLL_SECONDS, deadline, f"{waited} ({len(healthy)}/{desired} healthy)"):
            return []
