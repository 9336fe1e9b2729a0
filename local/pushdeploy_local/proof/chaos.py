"""make chaos: fuzzing, bursts, injected faults and the template's security checks.

Figures, not assertions: each section prints what it tried and what happened; the last line printed is a
JSON summary. Nothing may be lost: every event is processed, ignored with a reason, or dead-lettered.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

from pushdeploy.model.results import OUTCOMES

from pushdeploy_local.paths import ROOT

SAMPLES = [
    "ecr-image-action-push.json",
    "cloudwatch-alarm-state-change-metric.json",
    "codedeploy-deployment-state-change.json",
    "codedeploy-lifecycle-hook-invocation.json",
]
FUNCTIONS = {
    "pushdeploy-local-deployer": "ecr-image-action-push.json",
    "pushdeploy-local-alarm-rollback": "cloudwatch-alarm-state-change-metric.json",
    "pushdeploy-local-deployment-events": "codedeploy-deployment-state-change.json",
    "CodeDeployHook_pushdeploy-local-BeforeInstall": "codedeploy-lifecycle-hook-invocation.json",
}


def _sample(name: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / "events" / name).read_text()))


# -- fuzz ----------------------------------------------------------------------------------------------------------
def fuzz(world: Any, examples: int) -> dict[str, Any]:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    leaves = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=40)
        | st.just("x" * 300_000)
        | st.text(alphabet="\u202e\u0000\U0001f680é", max_size=20)
    )
    values = st.recursive(
        leaves, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=8
    )
    world.reset()
    world.build_sample()
    others = [_sample(n) for n in SAMPLES]
    report: dict[str, Any] = {}
    for function, own in FUNCTIONS.items():
        base = _sample(own)
        paths = _paths(base)
        stats: Counter[str] = Counter()

        @st.composite
        def mutated(draw: Any, base: dict[str, Any] = base, paths: list[tuple[Any, ...]] = paths) -> Any:
            event = copy.deepcopy(base)
            for _ in range(draw(st.integers(1, 3))):
                path = draw(st.sampled_from(paths))
                action = draw(st.sampled_from(["replace", "delete", "extra"]))
                _apply(event, path, action, draw(values))
            return event

        strategy = st.one_of(
            mutated(), values, st.sampled_from(others), st.builds(_truncated(json.dumps(base)), st.integers(0, 200))
        )

        run = settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )(given(strategy)(_fuzz_one(world, function, stats)))
        run()
        report[function] = {
            "tried": stats["tried"],
            "unhandled_exceptions": stats["unhandled_exceptions"],
            "lost": stats["lost"],
            "dead_lettered": stats["dead_lettered"],
            "raised": {k: v for k, v in stats.items() if k.startswith("raised")},
        }
    return report


def _fuzz_one(world: Any, function: str, stats: Counter[str]) -> Any:
    def one(event: Any) -> None:
        stats["tried"] += 1
        try:
            response = world.router.invoke(function, event)
        except Exception as exc:  # noqa: BLE001 - this is what the figure counts
            stats[f"raised {type(exc).__name__}"] += 1
            stats["unhandled_exceptions"] += 0 if type(exc).__name__ == "PushNotProcessed" else 1
            stats["dead_lettered"] += 1  # async invoke: retried, then the DLQ keeps the whole event
            return
        if not _accounted(response):
            stats["lost"] += 1

    return one


def _truncated(raw: str) -> Any:
    """Truncated JSON text of a real sample (a payload cut off in transit)."""
    return lambda n: raw[:n]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found += _paths(value, (*prefix, i))
    return found


def _apply(event: Any, path: tuple[Any, ...], action: str, value: Any) -> None:
    parent = event
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return
    key = path[-1]
    try:
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = value
        elif isinstance(parent, dict):
            parent[f"extra-{len(parent)}"] = value
    except (KeyError, IndexError, TypeError):
        return


def _accounted(response: Any) -> bool:
    """Processed or ignored with a reason (a hook: a verdict, reported or explained)."""
    if isinstance(response, dict) and isinstance(response.get("results"), list):
        return all(
            r.get("outcome") in OUTCOMES and (r.get("reason") or r["outcome"] == "deployed")
            for r in response["results"]
        )
    return isinstance(response, dict) and "stage" in response and bool(response.get("reason"))


# -- bursts --------------------------------------------------------------------------------------------------------
def burst(world: Any, events: int, targets: int, threads: int) -> dict[str, Any]:
    from pushdeploy_local.proof import fleet

    result = fleet.run_burst(world, events=events, targets=targets, threads=threads, seed=11)
    return result


# -- faults --------------------------------------------------------------------------------------------------------
class FaultInjector:
    """Answers a share of AWS calls with throttling, a 5xx or a read timeout (botocore 'before-send')."""

    def __init__(self, share: float, seed: int) -> None:
        self.share, self.rng, self.lock = share, random.Random(seed), threading.Lock()
        self.injected: Counter[str] = Counter()

    def __call__(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from botocore.exceptions import ReadTimeoutError

        with self.lock:
            roll, kind = self.rng.random(), self.rng.choice(["throttle", "5xx", "timeout"])
        if roll >= self.share:
            return None
        self.injected[kind] += 1
        if kind == "timeout":
            raise ReadTimeoutError(endpoint_url=request.url)

        class Raw:
            def __init__(self, body: bytes) -> None:
                self.body = body

            def stream(self, **_: Any) -> Any:
                yield self.body

        if kind == "throttle":
            body = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
            return AWSResponse(request.url, 400, {"x-amzn-requestid": "fault"}, Raw(body))
        return AWSResponse(request.url, 503, {"x-amzn-requestid": "fault"}, Raw(b'{"message": "Service Unavailable"}'))


def faults(world: Any, events: int, targets: int, share: float) -> dict[str, Any]:
    from pushdeploy import aws
    from pushdeploy.aws import codedeploy

    from pushdeploy_local.proof import fleet

    world.reset()
    names = fleet.build_fleet(world, targets)
    pushes = fleet.plan_burst(world, names, events, 0.3, seed=23)
    for service in ("dynamodb", "ecs", "ssm", "codedeploy"):  # create the clients, then hook into them
        aws.client(service)
    injector = FaultInjector(share, seed=5)
    for client in list(aws._clients.values()):
        client.meta.events.register_first("before-send.*.*", injector)
    outcomes = fleet.deliver_concurrently(world, pushes, 4)
    for client in list(aws._clients.values()):
        client.meta.events.unregister("before-send.*.*", injector)
    dead = list(world.router.dead_letters)
    world.router.dead_letters.clear()
    for letter in dead:  # an operator redrives the dead-letter queue
        world.router.deliver(letter["event"])
    world.drain()
    fleet.settle(world)
    _, duplicates, lost, wrong = fleet.verify(world, pushes)

    # a crash between RegisterTaskDefinition and CreateDeployment, then the event is delivered again
    world.reset()
    world.build_sample()
    digest = world.publish("v3.0.0", "healthy")
    event = world.push_event("v3.0.0", digest)
    original = codedeploy.create_deployment

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise SystemExit("the Lambda sandbox died")  # not an Exception: nothing in the handler cleans up

    codedeploy.create_deployment = crash  # type: ignore[assignment]
    try:
        world.router.invoke("pushdeploy-local-deployer", event)
    except SystemExit:
        pass
    finally:
        codedeploy.create_deployment = original  # type: ignore[assignment]
    world.router.invoke("pushdeploy-local-deployer", event)  # redelivered at once: the claim is still leased
    world.clock.advance(16 * 60)  # the lease runs out; EventBridge retries later
    redelivered = world.router.invoke("pushdeploy-local-deployer", event)
    world.router.invoke("pushdeploy-local-deployer", event)  # and once more
    created = [d for d in world.emulator.deployments.values()]
    crash_ok = len(created) == 1 and redelivered["results"][0]["outcome"] == "deployed"

    # a hook whose check raises, and one that hangs
    from pushdeploy.checks import after_install, target_health

    unreported, hook_runs = 0, 0
    deployment_id = created[0]["deploymentId"] if created else None
    for stage, module, behaviour in (
        ()
        if deployment_id is None
        else (  # no deployment: reported above, not here
            ("AfterInstall", after_install, "raise"),
            ("BeforeAllowTraffic", target_health, "hang"),
        )
    ):
        saved = module.run
        module.run = (
            (lambda ctx: (_ for _ in ()).throw(RuntimeError("check exploded")))
            if behaviour == "raise"
            else (lambda ctx: time.sleep(30))
        )  # type: ignore[assignment]
        function = world.router.functions[f"CodeDeployHook_pushdeploy-local-{stage}"]
        timeout, function.timeout = function.timeout, 7
        try:
            execution = world.emulator.open_hook(deployment_id, stage)
            world.router.invoke(
                function.name, {"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution}
            )
            hook_runs += 1
            unreported += world.emulator.event_status(deployment_id, stage) not in ("Succeeded", "Failed")
        finally:
            module.run, function.timeout = saved, timeout
    return {
        "injected": dict(injector.injected),
        "share": share,
        "events": events,
        "dead_lettered_then_redriven": len(dead),
        "deployments_lost": len(lost),
        "duplicates_started": duplicates,
        "final_digest_not_newest": len(wrong),
        "outcomes": outcomes,
        "crash_between_register_and_create": {"deployments": len(created), "redelivery_deployed": crash_ok},
        "hooks_run": hook_runs,
        "hooks_unreported": unreported,
    }


# -- security ------------------------------------------------------------------------------------------------------
def security() -> dict[str, Any]:
    lint = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "cfn-lint"), "template.yaml", "examples/sample-service/template.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    checkov_bin = ROOT / ".venv-checkov" / "bin" / "checkov"
    result: dict[str, Any] = {"cfn_lint_findings": len([line for line in lint.stdout.splitlines() if line[:1] in "EW"])}
    if checkov_bin.exists():
        out = subprocess.run(
            [
                str(checkov_bin),
                "-f",
                "template.yaml",
                "--framework",
                "cloudformation",
                "--quiet",
                "--compact",
                "--skip-download",
                "-o",
                "json",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        data = json.loads(out.stdout or "{}")
        data = data[0] if isinstance(data, list) else data
        failed = data.get("results", {}).get("failed_checks", [])
        summary = data.get("summary", {})
        result.update(
            checkov_passed=summary.get("passed"),
            checkov_failed=summary.get("failed"),
            checkov_skipped=summary.get("skipped"),
            checkov_failed_checks=sorted({f"{c['check_id']} {c['resource']}" for c in failed}),
            checkov_high_severity_failed=len(
                [c for c in failed if (c.get("severity") or "").upper() in ("HIGH", "CRITICAL")]
            ),
        )
    else:
        result["checkov"] = "not installed (make chaos installs it in .venv-checkov)"
    return result


def seeds(count: int) -> dict[str, Any]:
    """Every built-in scenario under ``count`` different seeds in a row: CodeDeploy's poll timing, ids and
    traffic change with the seed; the expectations must hold for each."""
    from pushdeploy_cli.main import main as cli

    from pushdeploy_local.rehearsal import runner
    from pushdeploy_local.world.world import World

    scenarios = [runner.load(str(p)) for p in runner.built_in()]
    failed: list[str] = []
    for seed in range(1, count + 1):
        world = World(seed=seed).start()
        try:
            for scenario in scenarios:
                result = runner.run(world, scenario, cli)
                if not result.passed:
                    failed.append(f"seed {seed} {scenario.name}: {'; '.join(result.failures)}")
        finally:
            world.stop()
    return {"seeds": count, "scenarios": len(scenarios), "runs": count * len(scenarios), "failed": failed}


def histories(count: int, seed: int = 20261201) -> dict[str, Any]:
    """``count`` generated histories (hypothesis) in the faithful world; violations counted by invariant, with the
    first history that broke each (replay it with ``History.parse``)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed

    from pushdeploy_local.proof.histories import INVARIANTS, Tally, run_history
    from pushdeploy_local.proof.strategies import histories as generated
    from pushdeploy_local.world.world import World

    tally = Tally()
    world = World().start()
    started = time.monotonic()

    @hypothesis_seed(seed)
    @settings(max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(history=generated)
    def run(history: Any) -> None:  # never raises: every history is counted, none shrunk away
        try:
            tally.add(run_history(world, history), world)
        except Exception as exc:  # noqa: BLE001 - the harness itself failed: counted as its own kind
            tally.histories += 1
            tally.violations["harness-error"] += 1
            tally.examples.setdefault("harness-error", f"{type(exc).__name__}: {exc} <- {history.describe()}")

    try:
        run()
    finally:
        world.stop()
    return {
        "histories": tally.histories,
        "pushes": tally.pushes,
        "deployments": tally.deployments,
        "seconds": round(time.monotonic() - started, 1),
        "violations": {name: tally.violations.get(name, 0) for name in (*INVARIANTS, "harness-error")},
        "examples": tally.examples,
    }


def print_histories(result: dict[str, Any]) -> None:
    broken = sum(result["violations"].values())
    print(
        f"histories {result['histories']} generated histories ({result['pushes']} pushes, {result['deployments']} "
        f"deployments) in {result['seconds']} s: {broken} invariant violations"
    )
    for name, found in result["violations"].items():
        print(f"  {name:<40} {found}")
    for name, example in result["examples"].items():
        print(f"  first {name}: {example}")


def main() -> int:
    import logging

    from pushdeploy_local.world.world import World

    logging.disable(logging.CRITICAL)
    quick = "--quick" in sys.argv
    world = World().start()
    try:
        fuzzed = fuzz(world, 150 if quick else 1000)
        bursts = burst(world, 200 if quick else 1000, 20, 8)
        injected = faults(world, 100 if quick else 300, 10, 0.1)
    finally:
        world.stop()
    seeded = seeds(3 if quick else 20)
    generated = histories(40 if quick else 500)
    secure = security()
    print_histories(generated)
    print(
        f"seeds   {seeded['seeds']} seeds x {seeded['scenarios']} built-in scenarios: "
        f"{seeded['runs'] - len(seeded['failed'])}/{seeded['runs']} passed"
    )
    for failure in seeded["failed"]:
        print(f"  {failure}")
    print("fuzz")
    for function, stats in fuzzed.items():
        print(
            f"  {function:<50} tried {stats['tried']:>5}  unhandled {stats['unhandled_exceptions']}  "
            f"lost {stats['lost']}  dead-lettered {stats['dead_lettered']}"
        )
    print(
        f"burst   {bursts['events']} events / {bursts['targets']} targets / {bursts['threads']} threads in "
        f"{bursts['seconds']} s: {bursts['deployments_started']} deployments, {bursts['duplicates_started']} "
        f"duplicates, {bursts['pushes_lost']} lost, {bursts['final_digest_not_newest']} targets not on the newest"
    )
    print(
        f"faults  injected {injected['injected']} ({injected['share']:.0%} of calls): "
        f"{injected['dead_lettered_then_redriven']} dead-lettered and redriven, {injected['deployments_lost']} lost, "
        f"{injected['duplicates_started']} duplicates; crash+redelivery "
        f"{injected['crash_between_register_and_create']}; hooks unreported {injected['hooks_unreported']}"
        f"/{injected['hooks_run']}"
    )
    print(
        f"security cfn-lint findings {secure['cfn_lint_findings']}; checkov failed "
        f"{secure.get('checkov_failed')} (high severity {secure.get('checkov_high_severity_failed')})"
    )
    summary = {
        "fuzz": {
            "events_tried": sum(s["tried"] for s in fuzzed.values()),
            "unhandled_exceptions": sum(s["unhandled_exceptions"] for s in fuzzed.values()),
            "events_lost": sum(s["lost"] for s in fuzzed.values()),
            "per_function": fuzzed,
        },
        "burst": bursts,
        "faults": injected,
        "seeds": seeded,
        "histories": {k: v for k, v in generated.items() if k != "examples"},
        "security": secure,
    }
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    if "--histories" in sys.argv:  # only that section: python -m pushdeploy_local.proof.chaos --histories N
        import logging

        logging.disable(logging.CRITICAL)
        print_histories(histories(int(sys.argv[sys.argv.index("--histories") + 1])))
        sys.exit(0)
    sys.exit(main())
