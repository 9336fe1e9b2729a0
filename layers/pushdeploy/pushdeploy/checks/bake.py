"""AfterAllowTraffic: bake under production traffic; watched alarms quiet, 5xx rate and p99 latency in limits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pushdeploy import aws, clock
from pushdeploy.checks import CheckResult, HookContext
from pushdeploy.checks.target_health import replacement_target_group_arn

MAX_POLL_SECONDS = 15.0
CONCLUDE_SECONDS = 20.0  # kept back from an invocation's budget to read the production metrics at the end


def alarms_in_alarm(names: list[str], since: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(alarms that went to ALARM after ``since``, alarms already in ALARM before it) among ``names``."""
    if not names:
        return [], []
    response = aws.client("cloudwatch").describe_alarms(
        AlarmNames=names[:100], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    alarms = response.get("MetricAlarms", []) + response.get("CompositeAlarms", [])
    firing = [a for a in alarms if a.get("StateValue") == "ALARM"]
    fresh: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    for alarm in firing:
        changed = alarm.get("StateUpdatedTimestamp")
        (stale if isinstance(changed, datetime) and changed <= since else fresh).append(alarm)
    return fresh, stale


def load_balancer_of(tg_arn: str, listener_arns: tuple[str, ...]) -> str | None:
    """The target group's load balancer (or, before it is attached, the production listener's)."""
    elb = aws.client("elbv2")
    described = elb.describe_target_groups(TargetGroupArns=[tg_arn])["TargetGroups"][0]
    if described.get("LoadBalancerArns"):
        return str(described["LoadBalancerArns"][0])
    if listener_arns:
        return str(elb.describe_listeners(ListenerArns=[listener_arns[0]])["Listeners"][0]["LoadBalancerArn"])
    return None


def target_group_metrics(
    tg_arn: str, lb_arn: str | None, start: datetime, end: datetime, latency_statistic: str
) -> dict[str, float | None]:
    """Requests, 5xx count and latency (seconds, at ``latency_statistic``) of a target group over [start, end]."""
    lb_dimension = lb_arn.split(":loadbalancer/", 1)[-1] if lb_arn else None  # app/<name>/<id>
    dimensions = [{"Name": "TargetGroup", "Value": tg_arn.split(":")[-1]}]  # targetgroup/<name>/<id>
    if lb_dimension:
        dimensions.append({"Name": "LoadBalancer", "Value": lb_dimension})
    period = max(60, int((end - start).total_seconds()) // 60 * 60 or 60)

    def query(qid: str, metric: str, stat: str) -> dict[str, Any]:
        return {
            "Id": qid,
            "ReturnData": True,
            "MetricStat": {
                "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": metric, "Dimensions": dimensions},
                "Period": period,
                "Stat": stat,
            },
        }

    response = aws.client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            query("requests", "RequestCount", "Sum"),
            query("errors", "HTTPCode_Target_5XX_Count", "Sum"),
            query("latency", "TargetResponseTime", latency_statistic),
        ],
        StartTime=start - timedelta(seconds=60),
        EndTime=end + timedelta(seconds=60),
    )
    values: dict[str, float | None] = {"requests": None, "errors": None, "latency": None}
    for result in response.get("MetricDataResults", []):
        points = result.get("Values") or []
        if not points:
            continue
        values[result["Id"]] = max(points) if result["Id"] == "latency" else float(sum(points))
    return values


def run(ctx: HookContext) -> list[CheckResult]:
    settings = ctx.target.checks.after_allow_traffic
    bake_seconds = float(settings.bake_seconds)
    started = ctx.since()  # a bake that outlasts one invocation carries on in the next, from where it stood
    bake_until = started + timedelta(seconds=bake_seconds)
    watched = ctx.watched_alarms
    results: list[CheckResult] = []
    during_remedy: set[str] = {str(a) for a in ctx.resumed.get("alarms_during_remedy") or []}
    while True:
        fresh, stale = alarms_in_alarm(watched, ctx.started_at)
        if fresh and ctx.remedy:
            # the release being removed stays in the alarm's window for minutes: told, never blocking the way back
            during_remedy.update(str(a["AlarmName"]) for a in fresh)
        elif fresh:
            alarm = fresh[0]
            return [
                CheckResult(
                    "alarms-quiet",
                    False,
                    f"alarm {alarm['AlarmName']} is in ALARM: {alarm.get('StateReason', '')}",
                    value=[a["AlarmName"] for a in fresh],
                    limit="OK",
                )
            ]
        if clock.now() >= bake_until:
            break
        poll = max(1.0, min(MAX_POLL_SECONDS, bake_seconds / 10))
        baked = f"baked {clock.span((clock.now() - started).total_seconds())} of {clock.span(bake_seconds)}"
        if not ctx.pause(
            poll, bake_until, baked, keep=CONCLUDE_SECONDS, alarms_during_remedy=sorted(during_remedy) or None
        ):
            return []
    note = f"; ignored (already in ALARM before the deployment): {[a['AlarmName'] for a in stale]}" if stale else ""
    if during_remedy:
        results.append(
            CheckResult(
                "alarms-quiet",
                False,
                f"alarm(s) {sorted(during_remedy)} in ALARM during this remedy: recorded, not blocking it",
                value=sorted(during_remedy),
                limit="OK",
                severity="warning",
            )
        )
    else:
        results.append(
            CheckResult(
                "alarms-quiet",
                True,
                f"{len(watched)} watched alarm(s) quiet for {clock.span(bake_seconds)}{note}",
                value=watched,
                limit="OK",
            )
        )
    tg_arn = replacement_target_group_arn(ctx)
    if tg_arn is None:
        results.append(
            CheckResult("production-metrics", True, "no replacement target group to measure", severity="warning")
        )
        return results
    statistic = settings.latency_statistic
    lb_arn = load_balancer_of(tg_arn, ctx.rollout.prod_listener_arns())
    metrics = target_group_metrics(tg_arn, lb_arn, started, clock.now(), statistic)
    requests, errors, latency = metrics["requests"], metrics["errors"], metrics["latency"]
    if not requests:
        results.append(
            CheckResult(
                "5xx-rate",
                True,
                "no production requests reached the replacement during the bake",
                value=0,
                limit=settings.max_5xx_rate,
                severity="warning",
            )
        )
    else:
        rate = (errors or 0.0) / requests
        results.append(
            CheckResult(
                "5xx-rate",
                rate <= settings.max_5xx_rate,
                f"{errors or 0:.0f} 5xx of {requests:.0f} requests ({rate:.2%}), limit {settings.max_5xx_rate:.2%}",
                value=round(rate, 4),
                limit=settings.max_5xx_rate,
            )
        )
    if latency is not None:
        latency_ms = latency * 1000.0
        results.append(
            CheckResult(
                f"{statistic}-latency",
                latency_ms <= settings.max_latency_ms,
                f"{statistic} target response time {latency_ms:.0f} ms, limit {settings.max_latency_ms} ms",
                value=round(latency_ms, 1),
                limit=settings.max_latency_ms,
            )
        )
    return results
