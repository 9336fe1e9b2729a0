"""``pushdeploy status [TARGET]``: what serves production, what is deploying, what waits, what is quarantined."""

from __future__ import annotations

from typing import Any

from pushdeploy.errors import PushdeployError
from pushdeploy.runtime import Services
from pushdeploy.services.inspection import TargetStatus

from pushdeploy_cli.answers import FAILED, OK, Answer
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
            "step": active.step,
            "hooks": active.hooks,
            "traffic": active.traffic,
        },
        "pending": status.pending.__dict__ if status.pending else None,
        "known_good": status.known_good.__dict__ if status.known_good else None,
        "candidate": status.candidate.__dict__ if status.candidate else None,
        "quarantined": [q.digest for q in status.quarantined],
        "quarantined_tags": status.quarantined_tags,
    }


def _row(status: TargetStatus) -> list[str]:
    live, active, pending, known_good = status.live, status.active, status.pending, status.known_good
    active_text = "-"
    if active is not None:
        hooks = ", ".join(f"{k}={v}" for k, v in active.hooks.items()) or "none yet"
        tag = active.release.tag if active.release else None
        step = f" at {active.step}" if active.step else ""
        active_text = (
            f"{active.deployment.deployment_id} {active.deployment.status}{step} {tag or ''} "
            f"hooks: {hooks}; traffic {active.traffic}"
        )
    candidate = status.candidate
    watched = "-"
    if candidate is not None:
        named = live.tag if candidate.digest == live.digest and live.tag else (candidate.digest or "")[:19]
        watched = f"{named} until {candidate.watch_until}"
    return [
        status.target.name,
        f"{live.tag or '?'} {(live.digest or '')[:19]}",
        live.task_definition_arn.rsplit("/", 1)[-1],
        active_text,
        f"{pending.tag} {pending.digest[:19]}" if pending else "-",
        watched,
        (known_good.tag or known_good.digest[:19]) if known_good else "-",
        ", ".join(f"{status.quarantined_tags.get(q.digest, '?')} {q.digest[:19]}" for q in status.quarantined) or "-",
    ]


COLUMNS = [
    "target",
    "production",
    "task definition",
    "active deployment",
    "pending",
    "watch window",
    "known good",
    "quarantined",
]


def status(services: Services, name: str | None) -> Answer:
    """Every target (or one): a target that cannot be described shows as broken, and never hides the others."""
    from pushdeploy.services.connection import explain_failure

    catalog = services.catalog()
    targets = [target_named(services, name)] if name else list(catalog.targets)
    rows, entries = [], []
    for target in targets:
        try:
            described = services.inspection.status(target)
        except Exception as exc:
            if name:
                raise
            problem = (
                str(exc) if isinstance(exc, PushdeployError) else explain_failure(exc, profile=None, region=None)[0]
            )
            rows.append([target.name, f"broken: {problem}", *["-"] * (len(COLUMNS) - 2)])
            entries.append({"target": target.name, "broken": problem})
            continue
        rows.append(_row(described))
        entries.append(_entry(described))
    if not name:
        for error in catalog.errors:
            rows.append([error.target, f"invalid target: {error.field}: {error.reason}", *["-"] * (len(COLUMNS) - 2)])
            entries.append({"target": error.target, "broken": f"invalid target: {error.field}: {error.reason}"})
    failed = any("broken" in e for e in entries)
    return Answer("status", COLUMNS, rows, entries, FAILED if failed else OK)
