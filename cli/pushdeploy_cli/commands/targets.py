"""``pushdeploy targets validate|apply|list``: target documents from a YAML/JSON file, and what SSM holds."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pushdeploy.model.deployments import ECS_DEFAULT_CONFIGS
from pushdeploy.model.targets import (
    Target,
    TargetConfigError,
    document_problems,
    parse_targets_document,
    service_key,
    target_entries,
)
from pushdeploy.runtime import Services

from pushdeploy_cli.answers import BAD_INPUT, OK, Answer, CommandError


def _load(path: str) -> Any:
    """A file's document (JSON is YAML too); several YAML documents (``---``) are a list of them."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: cannot be read: {getattr(exc, 'strerror', None) or exc}", BAD_INPUT) from exc
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise CommandError(
            f"{where}: neither JSON nor YAML: {getattr(exc, 'problem', None) or exc}", BAD_INPUT
        ) from exc
    if len(documents) > 1:
        return [entry for document in documents for entry in (_entries(document) or [document])]
    return documents[0] if documents else None


def _entries(document: Any) -> list[Any] | None:
    """A targets file's documents (the model's shapes); None for an empty file or an empty list too."""
    return target_entries(document) or None


def read_targets_file(path: str) -> list[Target | TargetConfigError]:
    """Every target of a file, each valid or its first problem (what ``apply`` writes or refuses)."""
    entries = _entries(_load(path))
    if entries is None:
        raise CommandError(f"{path}: expected a target, a list of targets, 'targets:', or name -> target", BAD_INPUT)
    parsed = parse_targets_document(entries, source=path)
    assert parsed is not None
    return parsed


def validate(paths: list[str], online: Callable[[], Services] | None = None) -> Answer:
    """Offline: every problem of every document of every file, then what cannot coexist across the files (one
    name twice, one deployment group twice) and deployment configs that are neither CodeDeploy's nor declared.
    The cross-document checks read what each document says, valid or not. With ``online`` (the account's
    services), valid files are also checked against the account."""
    rows: list[list[str]] = []
    documents: list[tuple[dict[str, Any], str]] = []
    declared: set[str] = set()
    for path in paths:
        try:
            document = _load(path)
        except CommandError as exc:  # one unreadable file is a problem of that file, not the end of the check
            rows.append([path, "-", "(file)", str(exc).removeprefix(f"{path}: ")])
            continue
        if isinstance(document, dict) and isinstance(document.get("deployment_configs"), list):
            declared |= {str(name) for name in document["deployment_configs"]}
        entries = _entries(document)
        if entries is None:
            what = (
                "empty" if document is None else "expected a target, a list of targets, 'targets:', or name -> target"
            )
            rows.append([path, "-", "(file)", what])
            continue
        for number, entry in enumerate(entries, 1):
            source = f"{path} entry {number}"
            rows += [
                [source, p.target, p.field, p.reason]
                for p in document_problems(entry, default_name=f"#{number}", source=source)
            ]
            if isinstance(entry, dict):
                documents.append(({"name": f"#{number}", **entry}, source))
    rows += _clashes(documents) + _unknown_configs(documents, set(ECS_DEFAULT_CONFIGS) | declared)
    if online is not None and not rows:  # the account: groups, configs, repositories and alarms exist
        services = online()
        for document, source in documents:
            target = Target.model_validate(document)
            rows += [[source, target.name, f, p] for f, p in services.inspection.online_problems(target)]
    names = sorted({str(d["name"]) for d, _ in documents})
    verdict = f"{len(rows)} problem(s) in {', '.join(paths)}" if rows else f"valid: {', '.join(names)}"
    keys = ("where", "target", "field", "problem")
    return Answer(
        verdict,
        list(keys),
        rows,
        {"valid": not rows, "targets": names, "problems": [dict(zip(keys, r, strict=True)) for r in rows]},
        BAD_INPUT if rows else OK,
    )


def _clashes(documents: list[tuple[dict[str, Any], str]]) -> list[list[str]]:
    """Targets that cannot coexist: one name, one deployment group or one ECS service twice (neither deploys)."""
    rows = []
    for field_name, key in (
        ("name", lambda d: str(d["name"])),
        ("deployment_group", _group_of),
        ("service", _service_of),
    ):
        seen: dict[Any, list[tuple[dict[str, Any], str]]] = {}
        for document, source in documents:
            if key(document) is not None:
                seen.setdefault(key(document), []).append((document, source))
        for clash in (c for c in seen.values() if len(c) > 1):
            for index, (document, source) in enumerate(clash):
                others = ", ".join(f"{d['name']!r} ({s})" for i, (d, s) in enumerate(clash) if i != index)
                what = {
                    "name": "declared more than once: also in",
                    "deployment_group": "deployment group shared with",
                    "service": "ECS service shared with",
                }[field_name]
                rows.append([source, str(document["name"]), field_name, f"{what} {others}; neither deploys"])
    return rows


def _group_of(document: dict[str, Any]) -> tuple[str, str] | None:
    application, group = document.get("application"), document.get("deployment_group")
    return (application, group) if isinstance(application, str) and isinstance(group, str) else None


def _service_of(document: dict[str, Any]) -> tuple[str, str] | None:
    cluster, service = document.get("cluster"), document.get("service")
    return service_key(cluster, service) if isinstance(cluster, str) and isinstance(service, str) else None


def _unknown_configs(documents: list[tuple[dict[str, Any], str]], known: set[str]) -> list[list[str]]:
    rows = []
    for document, source in documents:
        rollback = document.get("rollback") if isinstance(document.get("rollback"), dict) else {}
        for field_name, config in (
            ("deployment_config", document.get("deployment_config")),
            ("rollback.revert_deployment_config", (rollback or {}).get("revert_deployment_config")),
        ):
            if isinstance(config, str) and config not in known:
                close = difflib.get_close_matches(config, sorted(known), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                rows.append(
                    [
                        source,
                        str(document["name"]),
                        field_name,
                        f"{config!r} is neither a CodeDeploy default for ECS{hint} nor declared (list custom configs "
                        "under deployment_configs: in the file)",
                    ]
                )
    return rows


def apply(services: Services, path: str, *, dry_run: bool) -> Answer:
    parsed = read_targets_file(path)
    bad = [t for t in parsed if isinstance(t, TargetConfigError)]
    if bad:
        raise CommandError(f"nothing applied: {'; '.join(str(e) for e in bad)}", BAD_INPUT)
    changes = services.target_admin.apply([t for t in parsed if isinstance(t, Target)], dry_run=dry_run)
    rows = [[c.target, c.change, c.parameter] for c in changes]
    return Answer(
        ("would apply" if dry_run else "applied") + f" {len(rows)} target(s)",
        ["target", "change", "parameter"],
        rows,
        [{"target": c.target, "change": c.change, "parameter": c.parameter} for c in changes],
    )


def diff(services: Services, path: str) -> Answer:
    """What ``apply`` would change, field by field, read-only."""
    parsed = read_targets_file(path)
    bad = [t for t in parsed if isinstance(t, TargetConfigError)]
    if bad:
        raise CommandError(f"{path} is not valid (pushdeploy targets validate {path}): {bad[0]}", BAD_INPUT)
    changes = services.target_admin.diff([t for t in parsed if isinstance(t, Target)])
    rows = [
        [
            c.target,
            c.change,
            c.field,
            "" if c.change != "update" else json.dumps(c.stored),
            "" if c.change != "update" else json.dumps(c.wanted),
        ]
        for c in changes
    ]
    pending = sum(c.change in ("create", "update") for c in changes)
    return Answer(
        f"apply would change {len({c.target for c in changes if c.change in ('create', 'update')})} target(s)"
        if pending
        else "apply would change nothing",
        ["target", "change", "field", "in SSM", "in the file"],
        rows,
        [c.__dict__ for c in changes],
    )


def list_targets(services: Services) -> Answer:
    catalog = services.target_admin.catalog()
    rows = [[t.name, t.repository, t.tag_pattern, _deploys_through(t), t.on_busy, "valid"] for t in catalog.targets]
    rows += [[e.target, "", "", "", "", f"invalid: {e.field}: {e.reason}"] for e in catalog.errors]
    columns = ["target", "repository", "tag_pattern", "deploys_through", "on_busy", "config"]
    return Answer(
        f"{len(catalog.targets)} target(s) under {services.settings.targets_path}",
        ["target", "repository", "tag rule", "deploys through", "on_busy", "config"],
        rows,
        [dict(zip(columns, r, strict=True)) for r in rows],
    )


def _deploys_through(target: Target) -> str:
    if target.through_codedeploy:
        return "CodeDeploy " + "/".join(target.group)
    return f"ECS {'/'.join(service_key(target.cluster, target.service))}"
