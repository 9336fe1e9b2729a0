"""Elastic Load Balancing: how a listener splits traffic between its target groups."""

from __future__ import annotations

from pushdeploy import aws


def listener_weights(listener_arn: str) -> list[tuple[str, float]]:
    """(target group arn, weight) of the listener's default forward action."""
    listener = aws.elbv2_client().describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]
    action = listener["DefaultActions"][0]
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
    if groups:
        return [(str(g["TargetGroupArn"]), float(g.get("Weight", 1))) for g in groups]
    return [(str(action.get("TargetGroupArn", "")), 1.0)]


def describe_weights(listener_arn: str) -> str:
    """``blue 90% / green 10%``: the listener's split, by target-group name."""
    weights = listener_weights(listener_arn)
    total = sum(w for _, w in weights) or 1
    return " / ".join(f"{arn.split('/')[-2] if '/' in arn else arn} {100 * w / total:.0f}%" for arn, w in weights)
