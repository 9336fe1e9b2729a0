"""``pushdeploy targets validate|apply|list``: target documents from a YAML/JSON file, and what SSM holds."""

from __future__ import annotations

from pathlib import Path

import yaml
from pushdeploy.model.targets import Target, TargetConfigError, parse_targets_document
from pushdeploy.runtime import Services

from pushdeploy_cli.answers import BAD_INPUT, OK, Answer, CommandError


def read_targets_file(path: str) -> list[Target | TargetConfigError]:
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CommandError(f"{path}: {exc}", BAD_INPUT) from exc
    parsed = parse_targets_document(document, source=path)
    if parsed is None:
        raise CommandError(f"{path}: expected a list of targets (or 'targets:')", BAD_INPUT)
    return parsed


def validate(path: str) -> Answer:
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


def list_targets(services: Services) -> Answer:
    catalog = services.target_admin.catalog()
    rows = [
        [t.name, t.repository, t.tag_pattern, f"{t.application}/{t.deployment_group}", t.on_busy, "valid"]
        for t in catalog.targets
    ]
    rows += [[e.target, "", "", "", "", f"invalid: {e.field}: {e.reason}"] for e in catalog.errors]
    columns = ["target", "repository", "tag_pattern", "deployment_group", "on_busy", "config"]
    return Answer(
        f"{len(catalog.targets)} target(s) under {services.settings.targets_path}",
        ["target", "repository", "tag rule", "deployment group", "on_busy", "config"],
        rows,
        [dict(zip(columns, r, strict=True)) for r in rows],
    )
