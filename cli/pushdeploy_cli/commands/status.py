"""``pushdeploy status [TARGET]``: what serves production, what is deploying, what waits, what is quarantined."""

from __future__ import annotations

from typing import Any

from pushdeploy.runtime import Services
from pushdeploy.services.inspection import TargetStatus

from pushdeploy_cli.answers import Answer
from pushdeploy_cli.connect import target_named


def _entry(status: TargetStatus) -> dict[str, Any]:
    live, active = status.live, status.active
    return {
        "target": status.target.name,
        "production": {
            "task_definition": live.task_definition_arn,
            "digest": live.digest,
            "image": live.image,
            "tag": live.tag,
            "release_id": live.release.release_id if live.release else None,
        },
        "active": None
        if active is None
        else {
            "deployment_id": active.deployment.deployment_id,
            "status": active.deployment.status,
            "creator": active.deployment.creator,
            "tag": active.release.tag if active.release else None,
            "hooks": active.hooks,
            "traffic": active.traffic,
        },
        "pending": status.pending.__dict__ if status.pending else None,
        "known_good": status.known_good.__dict__ if status.known_good else None,
        "quarantined": [q.digest for q in status.quarantined],
    }


def _row(status: TargetStatus) -> list[str]:
    live, active, pending, known_good = status.live, status.active, status.pending, status.known_good
    active_text = "-"
    if active is not None:
        hooks = ", ".join(f"{k}={v}" for k, v in active.hooks.items()) or "none yet"
        tag = active.release.tag if active.release else None
        active_text = (
            f"{active.deployment.deployment_id} {active.deployment.status} {tag or ''} "
            f"hooks: {hooks}; traffic {active.traffic}"
        )
    return [
        status.target.name,
        f"{live.tag or '?'} {(live.digest or '')[:19]}",
        live.task_definition_arn.rsplit("/", 1)[-1],
        active_text,
        f"{pending.tag} {pending.digest[:19]}" if pending else "-",
        (known_good.tag or known_good.digest[:19]) if known_good else "-",
        ", ".join(q.digest[:19] for q in status.quarantined) or "-",
    ]


def status(services: Services, name: str | None) -> Answer:
    targets = [target_named(services, name)] if name else list(services.catalog().targets)
    statuses = [services.inspection.status(target) for target in targets]
    return Answer(
        "status",
        ["target", "production", "task definition", "active deployment", "pending", "known good", "quarantined"],
        [_row(s) for s in statuses],
        [_entry(s) for s in statuses],
    )
