"""IAM policy evaluation for one principal's identity-based policies: an explicit Deny wins, then an Allow is
needed; actions match case-insensitively with wildcards, resources case-sensitively; conditions with the
operators IAM documents (the ``...IfExists`` suffix and the ``ForAnyValue:``/``ForAllValues:`` set prefixes
included). A key absent from the request makes a condition false, except for ``IfExists`` and the negated
operators (IAM policy evaluation logic, "condition keys that are not present")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Decision = Literal["allowed", "explicit-deny", "implicit-deny"]


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    statement: str | None = None  # the Sid (or index) that decided

    @property
    def allowed(self) -> bool:
        return self.decision == "allowed"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _wildcard(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.fullmatch(regex, value, flags | re.DOTALL) is not None


def _action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(_wildcard(p, action, case_sensitive=False) for p in patterns)


def _resource_matches(patterns: Iterable[str], resource: str) -> bool:
    return any(p == "*" or _wildcard(p, resource, case_sensitive=True) for p in patterns)


def _string_op(operator: str, policy_value: str, value: str) -> bool:
    if operator in ("StringEquals", "StringNotEquals"):
        return value == policy_value
    if operator in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return value.lower() == policy_value.lower()
    if operator in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        return _wildcard(policy_value, value, case_sensitive=True)
    if operator in ("ArnEquals", "ArnNotEquals"):
        return value == policy_value
    if operator == "Bool":
        return value.lower() == policy_value.lower()
    raise ValueError(f"condition operator {operator} is not modelled")


def _condition_holds(raw_operator: str, key: str, policy_values: list[Any], context: Mapping[str, Any]) -> bool:
    operator, set_prefix = raw_operator, None
    if ":" in operator:
        set_prefix, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    negated = "Not" in operator
    present = {k.lower(): v for k, v in context.items()}
    if key.lower() not in present:
        return if_exists or negated
    values = [str(v) for v in _as_list(present[key.lower()])]
    expected = [str(v) for v in policy_values]
    if operator == "Null":
        return expected[0].lower() == "false"

    def positive(value: str) -> bool:
        return any(_string_op(operator, e, value) for e in expected)

    # single-valued keys and ForAnyValue: any value matches; ForAllValues: every value matches
    matches = all(positive(v) for v in values) if set_prefix == "ForAllValues" else any(positive(v) for v in values)
    return not matches if negated else matches


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, Any]) -> bool:
    for operator, keys in (conditions or {}).items():
        for key, values in keys.items():
            if not _condition_holds(operator, key, _as_list(values), context):
                return False
    return True


def _applies(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    if "Action" in statement and not _action_matches(_as_list(statement["Action"]), action):
        return False
    if "NotAction" in statement and _action_matches(_as_list(statement["NotAction"]), action):
        return False
    if "Resource" in statement and not _resource_matches(_as_list(statement["Resource"]), resource):
        return False
    if "NotResource" in statement and _resource_matches(_as_list(statement["NotResource"]), resource):
        return False
    return _conditions_hold(statement.get("Condition"), context)


def statements(documents: Iterable[Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any]]]:
    found = []
    for d, document in enumerate(documents):
        for s, statement in enumerate(_as_list(document.get("Statement"))):
            found.append((str(statement.get("Sid") or f"policy{d}.statement{s}"), statement))
    return found


def evaluate(
    documents: Iterable[Mapping[str, Any]], action: str, resource: str, context: Mapping[str, Any] | None = None
) -> Verdict:
    context = context or {}
    allowed_by: str | None = None
    for sid, statement in statements(documents):
        if not _applies(statement, action, resource, context):
            continue
        if statement.get("Effect") == "Deny":
            return Verdict("explicit-deny", sid)
        if statement.get("Effect") == "Allow" and allowed_by is None:
            allowed_by = sid
    return Verdict("allowed", allowed_by) if allowed_by else Verdict("implicit-deny")


__all__ = ["Verdict", "evaluate", "statements"]
