"""Target administration: write validated target documents under the stack's SSM path, and list what is there."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pushdeploy.aws import ssm
from pushdeploy.model.targets import Target, TargetCatalog


@dataclass(frozen=True)
class TargetChange:
    target: str
    change: str  # create | update | unchanged (past tense once applied)
    parameter: str


@dataclass(frozen=True)
class FieldChange:
    target: str
    change: str  # create | update | unchanged | only in SSM
    field: str = ""  # dotted path of the field that differs (update)
    stored: Any = None
    wanted: Any = None


def _flatten(document: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(document, dict) and document:
        flat: dict[str, Any] = {}
        for key, value in document.items():
            flat |= _flatten(value, f"{prefix}{key}.")
        return flat
    return {prefix.rstrip("."): document}


@dataclass
class TargetAdmin:
    targets_path: str
    load_catalog: Callable[[], TargetCatalog]

    def apply(self, targets: list[Target], *, dry_run: bool) -> list[TargetChange]:
        """Create or update one parameter per target; unchanged documents are left alone."""
        changes = []
        for target in targets:
            name = self.targets_path + target.name
            current = ssm.stored_target(name)
            body = target.model_dump_json(exclude_defaults=True)
            if current is None:
                change = "create"
            else:
                change = "unchanged" if json.loads(current) == json.loads(body) else "update"
            if change != "unchanged" and not dry_run:
                ssm.put_target(name, target)
                change += "d"
            changes.append(TargetChange(target.name, change, name))
        return changes

    def diff(self, targets: list[Target]) -> list[FieldChange]:
        """What :meth:`apply` would change, field by field (defaults spelled out on both sides), and the targets SSM
        holds that the file does not name (apply leaves them alone)."""
        changes: list[FieldChange] = []
        for target in targets:
            current = ssm.stored_target(self.targets_path + target.name)
            if current is None:
                changes.append(FieldChange(target.name, "create"))
                continue
            try:
                stored = Target.model_validate({"name": target.name, **json.loads(current)}).model_dump(mode="json")
            except ValueError:
                stored = json.loads(current) if current.strip().startswith("{") else {}
            before, after = _flatten(stored), _flatten(target.model_dump(mode="json"))
            fields = [f for f in sorted(set(before) | set(after)) if before.get(f) != after.get(f)]
            changes += [FieldChange(target.name, "update", f, before.get(f), after.get(f)) for f in fields]
            if not fields:
                changes.append(FieldChange(target.name, "unchanged"))
        named = {t.name for t in targets}
        catalog = self.load_catalog()
        others = sorted({t.name for t in catalog.targets} | {e.target for e in catalog.errors})
        changes += [FieldChange(name, "only in SSM") for name in others if name not in named]
        return changes

    def catalog(self) -> TargetCatalog:
        return self.load_catalog()
