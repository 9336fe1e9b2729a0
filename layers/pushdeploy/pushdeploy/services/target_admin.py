"""Target administration: write validated target documents under the stack's SSM path, and list what is there."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from pushdeploy.aws import ssm
from pushdeploy.model.targets import Target, TargetCatalog


@dataclass(frozen=True)
class TargetChange:
    target: str
    change: str  # create | update | unchanged (past tense once applied)
    parameter: str


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

    def catalog(self) -> TargetCatalog:
        return self.load_catalog()
