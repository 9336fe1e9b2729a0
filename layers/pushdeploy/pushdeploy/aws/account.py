"""The account the CLI acts on: who we are, and what the deployed pushdeploy stack says about itself."""

from __future__ import annotations

from pushdeploy import aws
from pushdeploy.errors import StackNotFound


def stack_outputs(stack: str) -> dict[str, str]:
    """The outputs of a CloudFormation stack; :class:`StackNotFound` when it does not exist."""
    try:
        stacks = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except Exception as exc:
        if aws.error_code(exc) == "ValidationError":
            raise StackNotFound(f"stack {stack} not found: {aws.error_message(exc)}") from exc
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def account_id() -> str:
    return str(aws.client("sts").get_caller_identity()["Account"])
