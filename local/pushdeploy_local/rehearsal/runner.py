"""Rehearsal scenarios: YAML steps run against the local world, with expectations and a report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pushdeploy import aws, runtime

from pushdeploy_local.world.apps import BEHAVIOURS
from pushdeploy_local.world.world import World

BUILT_IN = Path(__file__).resolve().parent / "scenarios"
HOOK_NAMES = ("BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic")


class ScenarioError(ValueError):
    """A scenario file that cannot be run, with the step and the reason."""


@dataclass
class Scenario:
    name: str
    steps: list[dict[str, Any]]
    expect: dict[str, Any]
    base: Path
    description: str = ""


def built_in() -> list[Path]:
    return sorted(BUILT_IN.glob("*.yaml"))


def load(name_or_path: str) -> Scenario:
    path = Path(name_or_path)
    if not path.exists():
        matches = [p for p in built_in() if p.stem.split("-", 1)[-1] == name_or_path or p.stem == name_or_path]
        if not matches:
            names = ", ".join(p.stem.split("-", 1)[-1] for p in built_in())
            raise ScenarioError(f"no scenario file or built-in scenario named {name_or_path!r} (built-in: {names})")
        path = matches[0]
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("steps"), list):
        raise ScenarioError(f"{path}: a scenario needs 'name' and a list of 'steps'")
    for number, step in enumerate(document["steps"], 1):
        if not isinstance(step, dict) or len(step) != 1:
            raise ScenarioError(f"{path}: step {number} must have exactly one of push/event/alarm/advance/until/target")
        kind = next(iter(step))
        if kind not in ("push", "event", "alarm", "advance", "until", "target"):
            raise ScenarioError(f"{path}: step {number}: unknown step {kind!r}")
        if kind == "push" and step[kind].get("app", "healthy") not in BEHAVIOURS:
            raise ScenarioError(f"{path}: step {number}: app must be one of {', '.join(BEHAVIOURS)}")
    return Scenario(
        str(document.get("name") or path.stem),
        document["steps"],
        dict(document.get("expect") or {}),
        path.parent,
        str(document.get("description", "")),
    )


@dataclass
class ScenarioResult:
    scenario: Scenario
    passed: bool
    report: dict[str, Any]
    failures: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)


def run(world: World, scenario: Scenario) -> ScenarioResult:
    world.reset()
    world.build_sample()
    digests: dict[str, str] = {}
    for step in scenario.steps:
        kind, args = next(iter(step.items()))
        if kind == "push":
            _push(world, args, digests)
        elif kind == "event":
            event = json.loads((scenario.base / str(args)).read_text())
            world.note("step", f"event {args}")
            world.emit(event)
            world.drain()
        elif kind == "alarm":
            world.note("step", f"alarm {args['name']} -> {args['state']}")
            world.set_alarm(
                args["name"],
                args["state"],
                args.get("reason", "set by the scenario"),
                forced=True,
                delivery_delay=float(args.get("delivery_delay", 0)),  # EventBridge late: CodeDeploy may act first
            )
            world.drain()
        elif kind == "advance":
            world.note("step", f"advance {args} min")
            world.run_for(float(args) * 60)
        elif kind == "until":
            world.note("step", f"until {args}")
            if not world.run_until_idle():
                world.note("step", "gave up waiting: still busy after 4 virtual hours")
        elif kind == "target":
            world.update_target(dict(args))
            world.note("step", f"target {args}")
    report = _report(world, scenario, digests)
    failures = _check(scenario.expect, report, world, digests)
    report["passed"] = not failures
    report["failures"] = failures
    start = world.timeline[0].at if world.timeline else world.clock.now()
    timeline = [f"+{_mmss((e.at - start).total_seconds())} {e.kind:<9} {e.text}" for e in world.timeline]
    return ScenarioResult(scenario, not failures, report, failures, timeline)


def _mmss(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def _push(world: World, args: dict[str, Any], digests: dict[str, str]) -> None:
    tag = args.get("tag")
    if args.get("same_as"):
        digest = digests[str(args["same_as"])]
        if tag:
            aws.client("ecr").put_image(
                repositoryName=args.get("repository", world.spec.repository),
                imageManifest=_manifest_of(world, digest),
                imageTag=tag,
                imageManifestMediaType="application/vnd.oci.image.index.v1+json",
            )
    else:
        digest = world.publish(tag or "untagged", args.get("app", "healthy"), args.get("repository"))
    if tag:
        digests[tag] = digest
    world.note("step", f"push {tag} ({args.get('app', 'same image')}) {digest[:19]}")
    for copy in range(int(args.get("deliveries", 1))):
        world.emit(
            world.push_event(
                tag, digest, args.get("repository"), event_id=f"push-{tag}-{digest[-6:]}-{copy}" if copy else None
            )
        )
        world.drain()


def _manifest_of(world: World, digest: str) -> str:
    images = aws.client("ecr").batch_get_image(
        repositoryName=world.spec.repository, imageIds=[{"imageDigest": digest}]
    )["images"]
    return str(images[0]["imageManifest"])


def _report(world: World, scenario: Scenario, digests: dict[str, str]) -> dict[str, Any]:
    ledger = runtime.services().ledger
    tag_of = {d: t for t, d in digests.items()} | world.tags
    deployments = []
    for deployment in sorted(world.emulator.deployments.values(), key=lambda d: d["sequence"]):
        release = ledger.release_by_deployment(deployment["deploymentId"])
        hooks = {}
        for event in deployment["lifecycleEvents"]:
            if event["lifecycleEventName"] in HOOK_NAMES:
                status = event["status"]
                hooks[event["lifecycleEventName"]] = status if status in ("Succeeded", "Failed") else "Skipped"
        error = deployment.get("errorInformation") or {}
        deployments.append(
            {
                "id": deployment["deploymentId"],
                "target": world.spec.target,
                "tag": (release.tag if release else None) or tag_of.get(release.digest if release else "", ""),
                "image": release.image_uri if release else "",
                "creator": deployment["creator"],
                "trigger": release.trigger if release else "unknown",
                "status": deployment["status"],
                "hooks": hooks,
                "error": error.get("message", ""),
            }
        )
    production = world.production()
    return {
        "scenario": scenario.name,
        "events": [
            {"detail_type": d.detail_type, "function": d.function, "outcome": d.outcome, "reason": d.reason}
            for d in world.deliveries
        ],
        "deployments": deployments,
        "production": {"tag": production["tag"], "image": production["image"]},
        "quarantined": sorted(tag_of.get(q.digest, q.digest) for q in ledger.quarantined(world.spec.target)),
        "releases": [
            {"tag": r.tag, "status": r.status, "trigger": r.trigger, "reason": r.reason}
            for r in reversed(ledger.releases(world.spec.target, limit=50))
        ],
        "notifications": [
            {k: n.get(k) for k in ("state", "tag", "trigger", "reason", "commit_revision", "text")}
            for n in world.notifications
        ],
    }


def _outcomes(report: dict[str, Any]) -> list[str]:
    return [o for e in report["events"] for o in e["outcome"].split(",") if o]


def _check(expect: dict[str, Any], report: dict[str, Any], world: World, digests: dict[str, str]) -> list[str]:
    failures = []
    statuses = [d["status"] for d in report["deployments"]]
    outcomes = _outcomes(report)

    def want(ok: bool, message: str) -> None:
        if not ok:
            failures.append(message)

    if "production_tag" in expect:
        want(
            report["production"]["tag"] == expect["production_tag"],
            f"production serves {report['production']['tag']!r}, expected {expect['production_tag']!r}",
        )
    if "statuses" in expect:
        want(statuses == expect["statuses"], f"deployment statuses {statuses}, expected {expect['statuses']}")
    if "statuses_end_with" in expect:
        tail = expect["statuses_end_with"]
        want(statuses[-len(tail) :] == tail, f"deployment statuses {statuses} do not end with {tail}")
    if "first_status_in" in expect:
        want(
            bool(statuses) and statuses[0] in expect["first_status_in"],
            f"first deployment ended {statuses[:1]}, expected one of {expect['first_status_in']}",
        )
    if "triggers" in expect:
        triggers = [d["trigger"] for d in report["deployments"]]
        want(triggers == expect["triggers"], f"triggers {triggers}, expected {expect['triggers']}")
    for outcome in expect.get("outcomes_include", []):
        want(outcome in outcomes, f"no event had outcome {outcome!r} (outcomes: {sorted(set(outcomes))})")
    for outcome, number in (expect.get("outcome_counts") or {}).items():
        want(outcomes.count(outcome) == number, f"{outcomes.count(outcome)} {outcome!r} outcomes, expected {number}")
    if "quarantined" in expect:
        want(
            report["quarantined"] == sorted(expect["quarantined"]),
            f"quarantined {report['quarantined']}, expected {expect['quarantined']}",
        )
    if "failed_hook" in expect:
        failed = [h for d in report["deployments"] for h, s in d["hooks"].items() if s == "Failed"]
        want(failed == [expect["failed_hook"]], f"failed hooks {failed}, expected [{expect['failed_hook']}]")
    for tag, status in (expect.get("release_statuses") or {}).items():
        found = [r["status"] for r in report["releases"] if r["tag"] == tag]
        want(status in found, f"release {tag} is {found}, expected {status}")
    notified = [str(n.get("state")) for n in report["notifications"]]
    for state in expect.get("notified", []):
        want(state in notified, f"no {state} notification (notified: {notified})")
    for tag, text in (expect.get("release_reason_contains") or {}).items():
        reasons = [r["reason"] or "" for r in report["releases"] if r["tag"] == tag]
        want(any(text in reason for reason in reasons), f"release {tag}'s reason {reasons} does not say {text!r}")
    return failures
