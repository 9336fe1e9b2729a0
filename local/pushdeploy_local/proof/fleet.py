"""A fleet for load and fault runs: N targets (repository, service, deployment group each) in one world,
and a burst of pushes over them, delivered concurrently through the template's rules."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pushdeploy import aws, clock

from pushdeploy_local.world.world import ACCOUNT, World


@dataclass
class Push:
    target: str
    repository: str
    tag: str
    digest: str
    order: int  # push time order: higher is newer
    event: dict[str, Any]


def build_fleet(world: World, targets: int) -> list[str]:
    """``targets`` services svc-NN, each with its repository, task definition, service and deployment group."""
    spec = world.spec
    ecs, ecr = aws.client("ecs"), aws.client("ecr")
    from pushdeploy_local.world.environment import create_ledger_table

    create_ledger_table(spec.table)
    ecs.create_cluster(clusterName="fleet")
    world.emulator.create_application(applicationName="fleet", computePlatform="ECS")
    names = []
    for n in range(targets):
        name = f"svc-{n:02d}"
        ecr.create_repository(repositoryName=name)
        arn = ecs.register_task_definition(
            family=name,
            containerDefinitions=[
                {
                    "name": "web",
                    "image": f"{ACCOUNT}.dkr.ecr.{spec.region}.amazonaws.com/{name}:bootstrap",
                    "memory": 256,
                    "portMappings": [{"containerPort": 8080}],
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(
            cluster="fleet",
            serviceName=name,
            taskDefinition=arn,
            desiredCount=2,
            deploymentController={"type": "CODE_DEPLOY"},
        )
        world.emulator.create_deployment_group(
            applicationName="fleet",
            deploymentGroupName=name,
            deploymentConfigName="CodeDeployDefault.ECSAllAtOnce",
            ecsServices=[{"serviceName": name, "clusterName": "fleet"}],
            loadBalancerInfo={
                "targetGroupPairInfoList": [
                    {
                        "targetGroups": [{"name": f"{name}-a"}, {"name": f"{name}-b"}],
                        "prodTrafficRoute": {"listenerArns": ["arn:listener"]},
                    }
                ]
            },
            autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"]},
        )
        aws.client("ssm").put_parameter(
            Name=f"{spec.targets_path}{name}",
            Type="String",
            Overwrite=True,
            Value=json.dumps(
                {
                    "name": name,
                    "repository": name,
                    "tag_pattern": r"^v\d+\.\d+\.\d+$",
                    "application": "fleet",
                    "deployment_group": name,
                    "container_name": "web",
                    "container_port": 8080,
                    "on_busy": "queue-latest",
                }
            ),
        )
        names.append(name)
    return names


def plan_burst(world: World, targets: list[str], events: int, duplicate_share: float, seed: int) -> list[Push]:
    """``events`` push events over ``targets`` in random order; a share of them are redeliveries."""
    rng = random.Random(seed)
    unique = int(events * (1 - duplicate_share))
    start = clock.now()
    pushes: list[Push] = []
    for i in range(unique):
        target = targets[i % len(targets)]
        digest = "sha256:" + hashlib.sha256(f"{seed}-{i}".encode()).hexdigest()
        tag = f"v1.{i // len(targets)}.0"
        event = world.push_event(tag, digest, repository=target, event_id=f"burst-{seed}-{i}")
        event["time"] = clock.iso(start + timedelta(seconds=i)).replace(".000Z", "Z")
        pushes.append(Push(target, target, tag, digest, i, event))
    duplicates = [rng.choice(pushes) for _ in range(events - unique)]
    ordered = pushes + duplicates
    rng.shuffle(ordered)
    return ordered


def deliver_concurrently(world: World, pushes: list[Push], threads: int) -> dict[str, int]:
    outcomes: dict[str, int] = defaultdict(int)
    lock = threading.Lock()

    def deliver(push: Push) -> None:
        for delivery in world.router.deliver(push.event):
            with lock:
                for outcome in delivery.outcome.split(","):
                    outcomes[outcome] += 1

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(deliver, pushes))
    return dict(outcomes)


def settle(world: World, rounds: int = 200) -> None:
    """Let CodeDeploy finish every active deployment (success) and deliver its events, until all is quiet."""
    for _ in range(rounds):
        active = [d for d in world.emulator.deployments.values() if d["status"] in ("Created", "InProgress")]
        if not active and not world.events and not world.delayed:
            return
        for deployment in active:
            world.emulator.set_status(deployment["deploymentId"], "InProgress")
            world.emulator.finish(deployment["deploymentId"], "Succeeded")
        world.clock.advance(10)  # EventBridge delivers a little late (and sometimes twice): let that time pass
        world.drain()


def verify(world: World, pushes: list[Push]) -> tuple[int, int, list[str], list[str]]:
    """(deployments started, duplicates started, pushes lost, targets whose final digest is not the newest)."""
    from pushdeploy import runtime

    ledger = runtime.services().ledger
    started: dict[tuple[str, str], int] = defaultdict(int)
    for deployment in world.emulator.deployments.values():
        release = ledger.release_by_deployment(deployment["deploymentId"])
        if release is not None:
            started[(release.target, release.digest)] += 1
    unique = {(p.target, p.digest): p for p in pushes}
    lost, wrong = [], []
    by_target: dict[str, list[Push]] = defaultdict(list)
    for push in unique.values():
        by_target[push.target].append(push)
    for target, target_pushes in by_target.items():
        releases = {r.digest: r for r in ledger.releases(target, limit=1000)}
        for push in target_pushes:
            release = releases.get(push.digest)
            if release is None or release.status not in ("SUCCEEDED", "SUPERSEDED"):
                lost.append(f"{target} {push.tag} {release.status if release else 'no release'}")
        newest = max(target_pushes, key=lambda p: p.order)
        succeeded = [
            d
            for d in sorted(world.emulator.deployments.values(), key=lambda d: d["sequence"])
            if d["deploymentGroupName"] == target and d["status"] == "Succeeded"
        ]
        last = ledger.release_by_deployment(succeeded[-1]["deploymentId"]) if succeeded else None
        if last is None or last.digest != newest.digest:
            wrong.append(f"{target}: live {last.tag if last else None}, newest pushed {newest.tag}")
    return sum(started.values()), sum(n - 1 for n in started.values() if n > 1), lost, wrong


def run_burst(world: World, *, events: int, targets: int, threads: int, seed: int) -> dict[str, Any]:
    """A fresh fleet, a burst delivered concurrently, CodeDeploy settling it, and what became of every push."""
    import time

    world.reset()
    names = build_fleet(world, targets)
    pushes = plan_burst(world, names, events, 0.3, seed=seed)
    started = time.perf_counter()
    outcomes = deliver_concurrently(world, pushes, threads)
    seconds = time.perf_counter() - started
    world.drain()
    settle(world)
    deployments, duplicates, lost, wrong = verify(world, pushes)
    return {
        "events": events,
        "targets": targets,
        "threads": threads,
        "seconds": round(seconds, 2),
        "events_per_second": round(events / seconds, 1),
        "deployments_started": deployments,
        "duplicates_started": duplicates,
        "pushes_lost": len(lost),
        "final_digest_not_newest": len(wrong),
        "outcomes": outcomes,
        "examples": (lost + wrong)[:5],
    }
