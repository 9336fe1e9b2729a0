"""make bench: API calls on the hot paths, handler overhead, cold imports, rehearsal time, burst throughput.

Every ratio is against a baseline measured in the same run on the same machine. The last line printed is a
JSON summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pushdeploy_local.paths import ROOT

CONTROL = {"ecr", "ecs", "codedeploy"}
BOOKKEEPING = {"dynamodb", "ssm"}


@contextmanager
def counting() -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """Record every AWS API call (service, operation, parameters) made through botocore."""
    from botocore.client import BaseClient

    calls: list[tuple[str, str, dict[str, Any]]] = []
    original = BaseClient._make_api_call

    def record(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.append((self.meta.service_model.service_name, operation, params))
        return original(self, operation, params)

    BaseClient._make_api_call = record  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


@contextmanager
def moto_time() -> Iterator[list[float]]:
    """Seconds moto spends serving requests (its WSGI app, on the server's threads): moto's cost, to be set apart
    from pushdeploy's own in every timing. The single value is summed over requests while the block runs."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    spent = [0.0]
    lock = threading.Lock()
    original = DomainDispatcherApplication.__call__

    def timed(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, environ, start_response)
        finally:
            with lock:
                spent[0] += time.perf_counter() - started

    DomainDispatcherApplication.__call__ = timed  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        DomainDispatcherApplication.__call__ = original  # type: ignore[method-assign]


def split(calls: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    services = Counter(s for s, _, _ in calls)
    return {
        "control_plane": sum(n for s, n in services.items() if s in CONTROL),
        "bookkeeping": sum(n for s, n in services.items() if s in BOOKKEEPING),
        "calls": [f"{s}:{op}" for s, op, _ in calls],
    }


def hot_paths(world: Any) -> dict[str, Any]:
    """Calls from push event to CreateDeployment, and from alarm event to StopDeployment, on a warm container."""
    os.environ["PUSHDEPLOY_TARGETS_CACHE_SECONDS"] = "300"  # as deployed: targets cached between invocations
    from pushdeploy import runtime

    runtime.reset()
    world.build_sample()
    deliver = world.router.deliver
    warm = world.publish("v1.0.1", "healthy")
    deliver(world.push_event("v1.0.1", warm))  # warms clients, the target cache, the deployment group cache
    world.emulator.finish(next(iter(world.emulator.deployments)), "Succeeded")
    world.clock.advance(60)
    digest = world.publish("v1.1.0", "healthy")
    with counting() as calls:
        deliver(world.push_event("v1.1.0", digest))
    push = split(calls)
    alarm_event = _alarm_event(world)
    with counting() as calls:
        answer = world.router.invoke("pushdeploy-local-alarm-rollback", alarm_event)
    if not any(op == "StopDeployment" for _, op, _ in calls):
        raise RuntimeError(f"the alarm did not stop the deployment: {answer} {[op for _, op, _ in calls]}")
    stop_at = next(i for i, (_, op, _) in enumerate(calls) if op == "StopDeployment")
    alarm = {"to_stop": stop_at + 1, "calls": [f"{s}:{op}" for s, op, _ in calls[: stop_at + 1]]}
    os.environ["PUSHDEPLOY_TARGETS_CACHE_SECONDS"] = "0"
    return {"push": push, "alarm": alarm}


def _alarm_event(world: Any) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "cloudwatch-alarm-state-change-metric.json").read_text())
    event["detail"]["alarmName"] = world.spec.alarm
    world.clock.advance(1)  # the alarm fires after the deployment started
    event["detail"]["state"]["timestamp"] = world.clock.now().strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return dict(event)


def handler_overhead(world: Any, rounds: int) -> dict[str, Any]:
    """Median wall time of a push through the deployer / the same AWS calls issued directly with boto3.

    The world's IAM enforcement is off while this is measured: authorizing calls is the world's cost, not
    pushdeploy's (on AWS it happens in the service).
    """
    import boto3
    from botocore.config import Config

    from pushdeploy_local.world import iam

    iam.uninstall(world.enforcer)
    try:
        return _handler_overhead(world, rounds, boto3, Config)
    finally:
        iam.install(world.enforcer)


def _handler_overhead(world: Any, rounds: int, boto3: Any, Config: Any) -> dict[str, Any]:

    os.environ["PUSHDEPLOY_TARGETS_CACHE_SECONDS"] = "300"
    handler_times, direct_times, handler_moto, direct_moto = [], [], [], []
    clients: dict[str, Any] = {}
    for n in range(rounds):
        world.clock.advance(60)
        digest = world.publish(f"v2.{n}.0", "healthy")
        event = world.push_event(f"v2.{n}.0", digest)
        with counting() as calls, moto_time() as in_moto:
            started = time.perf_counter()
            world.router.invoke("pushdeploy-local-deployer", event)
            handler_times.append(time.perf_counter() - started)
        handler_moto.append(in_moto[0])
        for deployment in list(world.emulator.deployments.values()):
            if deployment["status"] == "Created":
                world.emulator.finish(deployment["deploymentId"], "Succeeded")
        with moto_time() as in_moto:
            started = time.perf_counter()
            for service, operation, params in calls:  # the same requests, straight to the same endpoints
                client = clients.get(service) or clients.setdefault(
                    service, boto3.client(service, config=Config(retries={"mode": "adaptive", "max_attempts": 5}))
                )
                with contextlib.suppress(Exception):  # replayed conditional writes may fail; the round-trip counts
                    getattr(client, _snake(operation))(**params)
            direct_times.append(time.perf_counter() - started)
        direct_moto.append(in_moto[0])
        for deployment in list(world.emulator.deployments.values()):
            if deployment["status"] == "Created":
                world.emulator.finish(deployment["deploymentId"], "Succeeded")
    os.environ["PUSHDEPLOY_TARGETS_CACHE_SECONDS"] = "0"
    handler, direct = statistics.median(handler_times), statistics.median(direct_times)
    # each side without the time moto spent serving it: what pushdeploy (or bare boto3) itself costs
    own = statistics.median(t - m for t, m in zip(handler_times, handler_moto, strict=True))
    bare = statistics.median(t - m for t, m in zip(direct_times, direct_moto, strict=True))
    return {
        "handler_ms": round(handler * 1000, 1),
        "direct_boto3_ms": round(direct * 1000, 1),
        "ratio": round(handler / direct, 2),
        "moto_ms_in_handler": round(statistics.median(handler_moto) * 1000, 1),
        "moto_ms_in_direct": round(statistics.median(direct_moto) * 1000, 1),
        "handler_without_moto_ms": round(own * 1000, 1),
        "direct_without_moto_ms": round(bare * 1000, 1),
        "ratio_without_moto": round(own / bare, 2) if bare > 0 else None,
        "rounds": rounds,
    }


def _snake(operation: str) -> str:
    from botocore import xform_name

    return str(xform_name(operation))


def cold_imports(runs: int) -> dict[str, Any]:
    """Median import time of each handler module in a fresh interpreter / `import boto3` + one client."""
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(ROOT / "layers" / "pushdeploy")}
    env.pop("POWERTOOLS_TRACE_DISABLED", None)

    def measure(code: str) -> float:
        times = []
        for _ in range(runs):
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
            times.append(float(out.stdout.strip().splitlines()[-1]))
        return statistics.median(times)

    baseline = measure(
        "import time; t=time.perf_counter(); import boto3; boto3.client('s3'); print(time.perf_counter()-t)"
    )
    result: dict[str, Any] = {"baseline_boto3_client_ms": round(baseline * 1000, 1), "functions": {}}
    for function in sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").exists()):
        seconds = measure(
            "import time, importlib.util; t=time.perf_counter(); "
            f"s=importlib.util.spec_from_file_location('app', {str(ROOT / 'functions' / function / 'app.py')!r}); "
            "m=importlib.util.module_from_spec(s); s.loader.exec_module(m); print(time.perf_counter()-t)"
        )
        result["functions"][function] = {"ms": round(seconds * 1000, 1), "ratio": round(seconds / baseline, 2)}
    result["worst_ratio"] = max(f["ratio"] for f in result["functions"].values())
    # What a cold start pays before its first AWS call, import included: the tracer (X-Ray SDK), the settings
    # (pydantic) and the deployer's modules. Informative: the work moved off the import path is counted here.
    env.update(
        {"PUSHDEPLOY_TABLE": "t", "PUSHDEPLOY_TARGETS_PATH": "/p/", "PUSHDEPLOY_HOOK_PREFIX": "CodeDeployHook_x"}
    )
    set_up = measure(
        "import time, importlib.util; t=time.perf_counter(); "
        f"s=importlib.util.spec_from_file_location('app', {str(ROOT / 'functions' / 'deployer' / 'app.py')!r}); "
        "m=importlib.util.module_from_spec(s); s.loader.exec_module(m); "
        "from pushdeploy import observability, runtime; observability.tracer(); runtime.services().deployer; "
        "print(time.perf_counter()-t)"
    )
    result["deployer_set_up"] = {"ms": round(set_up * 1000, 1), "ratio": round(set_up / baseline, 2)}
    return result


def rehearsal(world: Any) -> dict[str, Any]:
    from pushdeploy_local.rehearsal import runner as scenarios

    scenario = scenarios.load("happy-canary")
    started = time.perf_counter()
    result = scenarios.run(world, scenario)
    seconds = time.perf_counter() - started
    return {"happy_canary_seconds": round(seconds, 2), "passed": result.passed, "virtual_minutes": 12}


def burst(world: Any, events: int, targets: int, threads: int) -> dict[str, Any]:
    from pushdeploy_local.proof import fleet

    result = fleet.run_burst(world, events=events, targets=targets, threads=threads, seed=7)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def table(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def main() -> int:
    import logging

    from pushdeploy_local.world.world import World

    logging.disable(logging.WARNING)
    quick = "--quick" in sys.argv
    world = World().start()
    try:
        paths = hot_paths(world)
        overhead = handler_overhead(world, 5 if quick else 15)
        rehearse = rehearsal(world)
        scale = burst(world, 200 if quick else 1000, 20, 8)
    finally:
        world.stop()
    imports = cold_imports(3 if quick else 7)
    push, alarm = paths["push"], paths["alarm"]
    checks: list[tuple[str, Callable[[], bool]]] = [
        ("push control-plane calls <= 4", lambda: push["control_plane"] <= 4),
        ("push bookkeeping calls <= 3", lambda: push["bookkeeping"] <= 3),
        ("alarm -> StopDeployment calls <= 3", lambda: alarm["to_stop"] <= 3),
        ("handler overhead ratio <= 1.1", lambda: overhead["ratio"] <= 1.1),
        ("cold import ratio <= 1.2 (every function)", lambda: imports["worst_ratio"] <= 1.2),
        ("happy canary rehearsal <= 10 s", lambda: rehearse["happy_canary_seconds"] <= 10),
    ]
    rows = [
        ("measure", "value", "target", "met"),
        ("push -> CreateDeployment: control plane", str(push["control_plane"]), "<= 4", ""),
        ("push -> CreateDeployment: bookkeeping", str(push["bookkeeping"]), "<= 3", ""),
        ("alarm -> StopDeployment: calls", str(alarm["to_stop"]), "<= 3", ""),
        (
            "handler overhead (median, ratio to direct boto3)",
            f"{overhead['ratio']} ({overhead['handler_ms']} / {overhead['direct_boto3_ms']} ms)",
            "<= 1.1",
            "",
        ),
        (
            "  moto's share (ms serving the handler / the direct calls)",
            f"{overhead['moto_ms_in_handler']} / {overhead['moto_ms_in_direct']} ms",
            "",
            "",
        ),
        (
            "  without moto: pushdeploy's own / bare boto3's own (ratio)",
            f"{overhead['ratio_without_moto']} ({overhead['handler_without_moto_ms']} / "
            f"{overhead['direct_without_moto_ms']} ms)",
            "",
            "",
        ),
        *[
            (f"cold import {name} (ratio to boto3+client)", f"{v['ratio']} ({v['ms']} ms)", "<= 1.2", "")
            for name, v in imports["functions"].items()
        ],
        (
            "deployer import + tracer, settings, domain (ratio)",
            f"{imports['deployer_set_up']['ratio']} ({imports['deployer_set_up']['ms']} ms)",
            "",
            "",
        ),
        ("happy canary rehearsal (12 virtual minutes)", f"{rehearse['happy_canary_seconds']} s", "<= 10 s", ""),
        (
            "burst throughput",
            f"{scale['events_per_second']} events/s ({scale['events']} events, "
            f"{scale['targets']} targets, {scale['threads']} threads)",
            "",
            "",
        ),
        (
            "burst duplicates / lost / wrong final",
            f"{scale['duplicates_started']} / {scale['pushes_lost']} / {scale['final_digest_not_newest']}",
            "0 / 0 / 0",
            "",
        ),
        ("peak RSS", f"{scale['peak_rss_mb']} MB", "", ""),
    ]
    table(rows)
    verdicts = {name: check() for name, check in checks}
    print("\n" + "\n".join(f"{'PASS' if ok else 'MISS'} {name}" for name, ok in verdicts.items()))
    summary = {
        "push_calls": {k: push[k] for k in ("control_plane", "bookkeeping")},
        "push_call_list": push["calls"],
        "alarm_calls_to_stop": alarm["to_stop"],
        "alarm_call_list": alarm["calls"],
        "handler_overhead": overhead,
        "cold_import": imports,
        "rehearsal": rehearse,
        "burst": scale,
        "targets_met": verdicts,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
