"""Operator commands on the same domain code the functions use: targets, status, history, deploy, rollback.

Each command returns a :class:`Answer` (rows for a table, a JSON-able payload, an exit code); the CLI only
renders it. Exit codes: 0 done, 1 the operation failed (a deployment failed or was rolled back), 2 bad input,
3 not found (unknown target, no known-good release, unknown image), 4 timed out waiting.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pushdeploy import aws, clock, deployments, runtime, taskdefs
from pushdeploy.images import DIGEST_RE, ImagePush, ImageRef, parse_image_uri
from pushdeploy.ledger import KnownGood, Release
from pushdeploy.releases import Result
from pushdeploy.settings import settings
from pushdeploy.targets import Target, TargetConfigError, parse_target

OK, FAILED, BAD_INPUT, NOT_FOUND, TIMED_OUT = 0, 1, 2, 3, 4


@dataclass
class Answer:
    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    payload: Any = None
    code: int = OK
    message: str = ""


class OperatorError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def configure_from_stack(stack: str) -> None:
    """Point the domain at a deployed stack: its outputs name the table, the targets path and the hooks."""
    if os.environ.get("PUSHDEPLOY_TABLE"):
        return  # already configured (local environment, tests)
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    }
    os.environ.update(
        {
            "PUSHDEPLOY_TABLE": outputs["LedgerTableName"],
            "PUSHDEPLOY_TARGETS_PATH": outputs["TargetsPath"],
            "PUSHDEPLOY_HOOK_PREFIX": outputs["HookFunctionPrefix"],
            "PUSHDEPLOY_TOPIC_ARN": outputs.get("NotificationTopicArn", ""),
        }
    )
    runtime.reset()


def _target(name: str) -> Target:
    catalog = runtime.catalog()
    target = catalog.by_name(name)
    if target is None:
        broken = catalog.error_for(name)
        if broken:
            raise OperatorError(f"target {name!r} is invalid: {broken}", BAD_INPUT)
        known = ", ".join(t.name for t in catalog.targets) or "none"
        raise OperatorError(f"unknown target {name!r} (targets: {known})", NOT_FOUND)
    return target


# -- targets ------------------------------------------------------------------------------------------------------
def read_targets_file(path: str) -> list[Target | TargetConfigError]:
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise OperatorError(f"{path}: {exc}", BAD_INPUT) from exc
    if isinstance(document, dict) and "targets" in document:
        document = document["targets"]
    if isinstance(document, dict):
        document = [{"name": k, **v} if isinstance(v, dict) else v for k, v in document.items()]
    if not isinstance(document, list):
        raise OperatorError(f"{path}: expected a list of targets (or 'targets:')", BAD_INPUT)
    return [parse_target(item, default_name=f"#{i + 1}", source=path) for i, item in enumerate(document)]


def targets_validate(path: str) -> Answer:
    parsed = read_targets_file(path)
    rows = [
        [t.name, "valid", ""] if isinstance(t, Target) else [t.target, "invalid", f"{t.field}: {t.reason}"]
        for t in parsed
    ]
    bad = [r for r in rows if r[1] == "invalid"]
    return Answer(
        f"{len(parsed)} target(s) in {path}",
        ["target", "verdict", "problem"],
        rows,
        [{"target": r[0], "valid": r[1] == "valid", "problem": r[2] or None} for r in rows],
        BAD_INPUT if bad else OK,
    )


def targets_apply(path: str, *, dry_run: bool) -> Answer:
    parsed = read_targets_file(path)
    bad = [t for t in parsed if isinstance(t, TargetConfigError)]
    if bad:
        problems = "; ".join(str(e) for e in bad)
        raise OperatorError(f"nothing applied: {problems}", BAD_INPUT)
    ssm, prefix = aws.client("ssm"), settings().targets_path
    rows = []
    for target in parsed:
        assert isinstance(target, Target)
        name = prefix + target.name
        body = target.model_dump_json(exclude_defaults=True)
        try:
            current = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except Exception as exc:
            if aws.error_code(exc) != "ParameterNotFound":
                raise
            current = None
        change = "create" if current is None else "unchanged" if json.loads(current) == json.loads(body) else "update"
        if change != "unchanged" and not dry_run:
            ssm.put_parameter(Name=name, Value=body, Type="String", Overwrite=True)
        rows.append([target.name, change if dry_run or change == "unchanged" else f"{change}d", name])
    return Answer(
        ("would apply" if dry_run else "applied") + f" {len(rows)} target(s)",
        ["target", "change", "parameter"],
        rows,
        [{"target": r[0], "change": r[1], "parameter": r[2]} for r in rows],
    )


def targets_list() -> Answer:
    catalog = runtime.catalog()
    rows = [
        [t.name, t.repository, t.tag_pattern, f"{t.application}/{t.deployment_group}", t.on_busy, "valid"]
        for t in catalog.targets
    ]
    rows += [[e.target, "", "", "", "", f"invalid: {e.field}: {e.reason}"] for e in catalog.errors]
    return Answer(
        f"{len(catalog.targets)} target(s) under {settings().targets_path}",
        ["target", "repository", "tag rule", "deployment group", "on_busy", "config"],
        rows,
        [
            dict(zip(["target", "repository", "tag_pattern", "deployment_group", "on_busy", "config"], r, strict=True))
            for r in rows
        ],
    )


# -- status and history -----------------------------------------------------------------------------------------
def _live(target: Target) -> dict[str, Any]:
    group = deployments.describe_group(target.application, target.deployment_group)
    service = taskdefs.describe_service(group.cluster, group.service)
    described = aws.client("ecs").describe_task_definition(taskDefinition=service.task_definition_arn)
    container = next(
        (c for c in described["taskDefinition"]["containerDefinitions"] if c["name"] == target.container_name), {}
    )
    image = parse_image_uri(container.get("image", ""))
    release = next(
        (
            r
            for r in runtime.ledger().releases(target.name, limit=50)
            if r.task_definition_arn == service.task_definition_arn and r.status == "SUCCEEDED"
        ),
        None,
    )
    return {
        "task_definition": service.task_definition_arn,
        "digest": image.digest if image else None,
        "image": container.get("image"),
        "tag": release.tag if release else None,
        "release_id": release.release_id if release else None,
        "group": group,
    }


def _weights(listener_arn: str) -> str:
    action = aws.client("elbv2").describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]["DefaultActions"][0]
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or [
        {"TargetGroupArn": action.get("TargetGroupArn", ""), "Weight": 1}
    ]
    total = sum(g.get("Weight", 1) for g in groups) or 1
    return " / ".join(f"{g['TargetGroupArn'].split('/')[-2]} {100 * g.get('Weight', 1) / total:.0f}%" for g in groups)


def status(name: str | None) -> Answer:
    ledger = runtime.ledger()
    targets = [_target(name)] if name else list(runtime.catalog().targets)
    payload, rows = [], []
    for target in targets:
        live = _live(target)
        active = deployments.active_deployment_ids(target.application, target.deployment_group)
        active_info = None
        if active:
            info = deployments.get_deployment(active[0])
            release = ledger.release_by_deployment(active[0])
            hooks = {stage: v.get("status") for stage, v in (release.hooks if release else {}).items()}
            group = live["group"]
            active_info = {
                "deployment_id": active[0],
                "status": info.get("status"),
                "creator": info.get("creator"),
                "tag": release.tag if release else None,
                "hooks": hooks,
                "traffic": _weights(group.prod_listener_arns[0]) if group.prod_listener_arns else None,
            }
        pending = ledger.get_pending(target.name)
        known_good = ledger.known_good(target.name)
        quarantined = [q["digest"] for q in ledger.quarantined(target.name)]
        entry = {
            "target": target.name,
            "production": {k: v for k, v in live.items() if k != "group"},
            "active": active_info,
            "pending": pending.__dict__ if pending else None,
            "known_good": known_good.__dict__ if known_good else None,
            "quarantined": quarantined,
        }
        payload.append(entry)
        active_text = (
            "-"
            if not active_info
            else (
                f"{active_info['deployment_id']} {active_info['status']} {active_info['tag'] or ''} "
                f"hooks: {', '.join(f'{k}={v}' for k, v in active_info['hooks'].items()) or 'none yet'}; "
                f"traffic {active_info['traffic']}"
            )
        )
        rows.append(
            [
                target.name,
                f"{live['tag'] or '?'} {(live['digest'] or '')[:19]}",
                live["task_definition"].rsplit("/", 1)[-1],
                active_text,
                f"{pending.tag} {pending.digest[:19]}" if pending else "-",
                known_good.tag or known_good.digest[:19] if known_good else "-",
                ", ".join(d[:19] for d in quarantined) or "-",
            ]
        )
    return Answer(
        "status",
        ["target", "production", "task definition", "active deployment", "pending", "known good", "quarantined"],
        rows,
        payload,
    )


def _duration(release: Release) -> str:
    if not release.started_at or not release.finished_at:
        return ""
    seconds = int((clock.parse(release.finished_at) - clock.parse(release.started_at)).total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s"


def history(name: str, limit: int) -> Answer:
    target = _target(name)
    releases = runtime.ledger().releases(target.name, limit=limit)
    rows = [
        [
            r.created_at,
            r.tag or "",
            r.digest[:19],
            r.trigger,
            r.status,
            _duration(r),
            (r.commit or {}).get("revision", "")[:12],
            (r.reason or "")[:100],
        ]
        for r in releases
    ]
    payload = [
        {
            "release_id": r.release_id,
            "created_at": r.created_at,
            "tag": r.tag,
            "digest": r.digest,
            "trigger": r.trigger,
            "status": r.status,
            "duration": _duration(r),
            "commit": r.commit,
            "reason": r.reason,
            "deployment_id": r.deployment_id,
        }
        for r in releases
    ]
    return Answer(
        f"{target.name}: {len(rows)} release(s), newest first",
        ["created", "tag", "digest", "trigger", "result", "duration", "commit", "reason"],
        rows,
        payload,
    )


# -- deploy, rollback, release ---------------------------------------------------------------------------------
def _resolve_image(target: Target, tag: str | None, digest: str | None) -> tuple[str, str | None]:
    if digest:
        if not DIGEST_RE.match(digest):
            raise OperatorError(f"{digest!r} is not a digest (sha256:<hex>)", BAD_INPUT)
        return digest, tag
    try:
        details = aws.client("ecr").describe_images(
            repositoryName=target.repository, imageIds=[{"imageTag": str(tag)}]
        )["imageDetails"]
    except Exception as exc:
        if aws.error_code(exc) in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise OperatorError(f"no image tagged {tag!r} in {target.repository}", NOT_FOUND) from exc
        raise
    return str(details[0]["imageDigest"]), tag


def deploy(name: str, *, tag: str | None, digest: str | None, config: str | None, force: bool) -> Answer:
    target = _target(name)
    if config:
        target = target.model_copy(update={"deployment_config": config})
    digest, tag = _resolve_image(target, tag, digest)
    account = aws.client("sts").get_caller_identity()["Account"]
    region = aws.client("ecr").meta.region_name
    push = ImagePush(
        event_id=f"manual-{uuid.uuid4()}",
        pushed_at=clock.iso(),
        image=ImageRef(account, region, target.repository, digest),
        tag=tag,
    )
    ledger = runtime.ledger()
    if force:
        now = clock.iso()
        from pushdeploy.ledger import new_release_id

        release = Release(
            target=target.name,
            release_id=new_release_id(digest),
            digest=digest,
            image_uri=push.image.uri,
            trigger="manual",
            status="RECEIVED",
            created_at=now,
            updated_at=now,
            tag=tag,
            tags=[tag] if tag else [],
            repository=target.repository,
            event_id=push.event_id,
            pushed_at=push.pushed_at,
            reason="manual deploy (--force)",
        )
        ledger.put_release(release)
        result = runtime.starter().start(target, release, order_key=push.order_key)
    else:
        result = runtime.deployer().deploy(target, push)
    code = OK if result.outcome in ("deployed", "queued", "superseded") else FAILED
    return _result_answer(f"deploy {target.name} {tag or digest}", result, code)


def _result_answer(title: str, result: Result, code: int) -> Answer:
    """A domain Result (outcome, deployment, reason) as a one-row answer."""
    return Answer(
        title,
        ["outcome", "deployment", "reason"],
        [[result.outcome, result.deployment_id or "-", result.reason]],
        result.as_dict(),
        code,
    )


def _find_release(target: Target, ref: str) -> Release:
    for release in runtime.ledger().releases(target.name, limit=200):
        if release.task_definition_arn and release.status == "SUCCEEDED" and ref in (release.digest, release.tag):
            return release
    raise OperatorError(f"no succeeded release of {target.name} matches {ref!r}", NOT_FOUND)


def rollback(name: str, *, to: str | None) -> Answer:
    target = _target(name)
    ledger = runtime.ledger()
    active = deployments.active_deployment_ids(target.application, target.deployment_group)
    if active:
        status = deployments.stop_with_rollback(active[0], "rollback requested by an operator")
        release = ledger.release_by_deployment(active[0])
        if release is not None:
            ledger.update_release(target.name, release.release_id, reason="stopped by an operator (rollback)")
            ledger.quarantine(
                target.name, release.digest, reason="rolled back by an operator", release_id=release.release_id
            )
        return Answer(
            f"rollback {target.name}",
            ["outcome", "deployment", "reason"],
            [["rollback-started", active[0], f"stopped with rollback ({status})"]],
            {"outcome": "rollback-started", "deployment_id": active[0], "stop_status": status},
        )
    live = _live(target)
    destination: KnownGood | None = None
    if to:
        chosen = _find_release(target, to)
        destination = KnownGood(
            chosen.release_id,
            chosen.digest,
            chosen.image_uri,
            str(chosen.task_definition_arn),
            chosen.tag,
            chosen.finished_at or chosen.created_at,
        )
    else:
        destination = ledger.known_good(target.name)
        if destination is None:
            raise OperatorError(f"{target.name} has no known-good release to roll back to (use --to)", NOT_FOUND)
    if live["task_definition"] == destination.task_definition_arn or live["digest"] == destination.digest:
        raise OperatorError(
            f"{target.name} already serves {destination.tag or destination.digest}: nothing to roll back", BAD_INPUT
        )
    bad = ledger.get_release(target.name, live["release_id"]) if live["release_id"] else None
    if bad is None:
        now = clock.iso()
        bad = Release(
            target=target.name,
            release_id=f"live-{now}",
            digest=live["digest"] or "unknown",
            image_uri=live["image"] or "",
            trigger="manual",
            status="SUCCEEDED",
            created_at=now,
            updated_at=now,
            task_definition_arn=live["task_definition"],
        )
    result = runtime.lifecycle().revert(
        target, bad=bad, reason="rollback requested by an operator", to=destination, trigger="manual"
    )
    return _result_answer(f"rollback {target.name}", result, OK if result.outcome == "revert-started" else FAILED)


def release(name: str, digest: str) -> Answer:
    target = _target(name)
    lifted = runtime.ledger().lift_quarantine(target.name, digest)
    if not lifted:
        raise OperatorError(f"{digest} is not quarantined for {target.name}", NOT_FOUND)
    return Answer(
        f"released {digest[:19]} for {target.name}",
        ["target", "digest", "quarantined"],
        [[target.name, digest, "no"]],
        {"target": target.name, "digest": digest, "released": True},
    )


def wait(
    deployment_id: str,
    *,
    timeout: float,
    progress: Callable[[dict[str, Any]], None] | None = None,
    poll_seconds: float = 5.0,
) -> Answer:
    """Wait for a deployment's true final status. A stop or a rollback is a failure, never a success."""
    deadline = time.monotonic() + timeout
    while True:
        info = deployments.get_deployment(deployment_id)
        if progress:
            progress(info)
        status = info.get("status")
        if status in deployments.TERMINAL_STATUSES:
            rolled_back = (info.get("rollbackInfo") or {}).get("rollbackDeploymentId")
            error = (info.get("errorInformation") or {}).get("message", "")
            ok = status == "Succeeded"
            detail = error + (f" (rolled back by {rolled_back})" if rolled_back else "")
            return Answer(
                f"deployment {deployment_id}: {status}",
                ["deployment", "status", "detail"],
                [[deployment_id, status, detail]],
                {
                    "deployment_id": deployment_id,
                    "status": status,
                    "error": error or None,
                    "rollback_deployment_id": rolled_back,
                },
                OK if ok else FAILED,
            )
        if time.monotonic() >= deadline:
            return Answer(
                f"deployment {deployment_id}: still {status} after {timeout:.0f} s",
                ["deployment", "status"],
                [[deployment_id, status]],
                {"deployment_id": deployment_id, "status": status, "timed_out": True},
                TIMED_OUT,
            )
        time.sleep(poll_seconds)
