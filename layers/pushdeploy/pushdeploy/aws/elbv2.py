"""Elastic Load Balancing: how a listener (or listener rule) splits traffic between its target groups."""

from __future__ import annotations

from typing import Any

from pushdeploy import aws


def listener_weights(listener_arn: str) -> list[tuple[str, float]]:
    """(target group arn, weight) of the listener's default forward action."""
    listener = aws.elbv2_client().describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]
    return _weights([dict(a) for a in listener["DefaultActions"][:1]])


def forward_weights(arn: str) -> list[tuple[str, float]]:
    """(target group arn, weight) a listener rule forwards to (ECS blue/green moves the weights on its rules), or a
    listener's default action (an NLB's "rule" is its listener: contracts 8.1)."""
    if ":listener-rule/" not in arn:
        return listener_weights(arn)
    rules = aws.elbv2_client().describe_rules(RuleArns=[arn]).get("Rules") or []
    actions = [dict(a) for rule in rules for a in rule.get("Actions") or []]
    return _weights([a for a in actions if a.get("Type", "forward") == "forward"])


def _weights(actions: list[dict[str, Any]]) -> list[tuple[str, float]]:
    weighted = [
        (str(group["TargetGroupArn"]), float(group.get("Weight", 1)))
        for action in actions
        for group in ((action.get("ForwardConfig") or {}).get("TargetGroups") or [])
    ]
    return weighted or [(str(a.get("TargetGroupArn", "")), 1.0) for a in actions if a.get("TargetGroupArn")]


def describe_weights(arn: str) -> str:
    """``blue 90% / green 10%``: a listener's (or listener rule's) split, by target-group name."""
    weights = forward_weights(arn)
    total = sum(w for _, w in weights) or 1
    return " / ".join(f"{arn.split('/')[-2] if '/' in arn else arn} {100 * w / total:.0f}%" for arn, w in weights)
