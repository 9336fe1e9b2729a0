"""The local world: moto server + CodeDeploy emulator + event bus + apps + a virtual clock, on one machine.

The handlers run unchanged: boto3 reaches moto and the emulator through the standard endpoint variables
(``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_CODEDEPLOY``). The world plays the AWS parts that neither moto
nor the emulator's API can: ECS's scheduler (task-set counts, crashing tasks), the load balancer (weighted
routing to the local apps), CloudWatch's alarm evaluation and EventBridge's delivery.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import logging
import os
import random
import socket
import statistics
import threading
import urllib.request
import uuid
import warnings
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pushdeploy import aws, clock, runtime
from pushdeploy.aws.ecs import register_pinned_revision
from pushdeploy.aws.elbv2 import listener_weights
from pushdeploy.model.releases import Release

from pushdeploy_local.emulator.codedeploy.backend import CodeDeployEmulator
from pushdeploy_local.emulator.codedeploy.server import CodeDeployServer
from pushdeploy_local.emulator.ecr import BlobServer, publish_image, registry_as_ecr, serve_layer_downloads
from pushdeploy_local.emulator.ecs_native.backend import NativeEcs
from pushdeploy_local.emulator.ecs_native.server import EcsFront
from pushdeploy_local.paths import EVENTS
from pushdeploy_local.world import iam
from pushdeploy_local.world.apps import Behaviour, LocalApp, smoke_answers
from pushdeploy_local.world.bus import Delivery, EventRouter, Schedule
from pushdeploy_local.world.clock import VirtualClock
from pushdeploy_local.world.engine import LifecycleEngine
from pushdeploy_local.world.environment import Environment, EnvironmentSpec, WorldSetup, build, create_native_service
from pushdeploy_local.world.native_engine import NativeEngine
from pushdeploy_local.world.native_hooks import HookInvoker, StandIn
from pushdeploy_local.world.scheduler import SchedulerPlayer
from pushdeploy_local.world.traffic import LoadBalancerDns, LocalListener, rule_weights

STACK = "pushdeploy-local"
ACCOUNT = "123456789012"
REQUESTS_PER_MINUTE = 20
DUPLICATE_EVENT_SHARE = 0.25  # of CodeDeploy state-change events, delivered a second time (seeded)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


GSI_LAG = timedelta(seconds=2)  # how long a write takes to show in a global secondary index (seconds in AWS)


def _gsi_lags_behind(now: Any) -> None:  # now=None: indexes answer at once again
    """ "All reads from GSIs ... are eventually consistent" (DynamoDB guide): an item written less than GSI_LAG ago
    (virtual time) is not yet in an index query's answer. Base-table reads see it at once."""
    from moto.dynamodb.models import DynamoDBBackend

    written: dict[tuple[str, str, str], datetime] = {}
    _gsi_state["now"], _gsi_state["written"] = now, written
    if getattr(DynamoDBBackend, "_pushdeploy_gsi_lag", False):
        return

    def key_of(attributes: dict[str, Any]) -> tuple[str, str]:
        return str((attributes.get("pk") or {}).get("S")), str((attributes.get("sk") or {}).get("S"))

    def remember(table: str, attributes: dict[str, Any]) -> None:
        if _gsi_state.get("now") is not None:
            _gsi_state["written"][(table, *key_of(attributes))] = _gsi_state["now"]()

    original_put, original_update = DynamoDBBackend.put_item, DynamoDBBackend.update_item
    original_transact, original_query = DynamoDBBackend.transact_write_items, DynamoDBBackend.query

    def put_item(self: Any, table_name: str, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        answer = original_put(self, table_name, item_attrs, *args, **kwargs)
        remember(table_name, item_attrs)
        return answer

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        answer = original_update(self, table_name, key, *args, **kwargs)
        remember(table_name, key)
        return answer

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        answer = original_transact(self, transact_items, *args, **kwargs)
        for entry in transact_items:
            for kind in ("Put", "Update", "Delete"):
                if kind in entry:
                    body = entry[kind]
                    remember(body["TableName"], body.get("Item") or body.get("Key") or {})
        return answer

    def query(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        results, scanned, last = original_query(self, table_name, *args, **kwargs)
        index = kwargs.get("index_name") or (args[7] if len(args) > 7 else None)
        if not index or _gsi_state.get("now") is None:
            return results, scanned, last
        now_, seen = _gsi_state["now"](), _gsi_state["written"]

        def visible(item: Any) -> bool:
            pk, sk = item.attrs.get("pk"), item.attrs.get("sk")
            at = seen.get((table_name, str(pk.value if pk else None), str(sk.value if sk else None)))
            return at is None or now_ - at >= GSI_LAG

        return [i for i in results if visible(i)], scanned, last

    DynamoDBBackend.put_item = put_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    DynamoDBBackend.query = query  # type: ignore[method-assign]
    DynamoDBBackend._pushdeploy_gsi_lag = True  # type: ignore[attr-defined]


_gsi_state: dict[str, Any] = {}


def _atomic_dynamodb_writes() -> None:
    """DynamoDB applies each write (and each transaction) atomically; moto's server threads do not.

    Serialise moto's write paths so that concurrent deliveries see DynamoDB's semantics, not moto's races.
    """
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_pushdeploy_atomic", False):
        return
    lock = threading.RLock()
    for name in ("transact_write_items", "put_item", "update_item", "delete_item", "get_item", "query"):
        original = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, atomic)
    DynamoDBBackend._pushdeploy_atomic = True  # type: ignore[attr-defined]


@dataclass
class TimelineEntry:
    at: datetime
    kind: str
    text: str


def _statistic(name: str, values: list[float]) -> float:
    """A period's datapoint from its per-minute values, as the alarm's statistic computes it."""
    if name == "Average":
        return statistics.fmean(values)
    if name == "Maximum":
        return max(values)
    if name == "Minimum":
        return min(values)
    return float(sum(values))  # Sum (and SampleCount, for a count of errors)


def _what(event: dict[str, Any], detail_type: str) -> str:
    """An event as a timeline names it: what was pushed, which alarm changed, which deployment."""
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    assert isinstance(detail, dict)
    if detail_type == "ECR Image Action" and detail.get("action-type") == "PUSH":
        return f"ECR push {detail.get('repository-name')}:{detail.get('image-tag') or '(untagged)'}"
    if detail_type == "CloudWatch Alarm State Change":
        state = detail.get("state") if isinstance(detail.get("state"), dict) else {}
        return f"alarm {detail.get('alarmName')} {state.get('value') if state else '?'}"
    if detail_type == "CodeDeploy Deployment State-change Notification":
        return f"CodeDeploy {detail.get('deploymentId')} {detail.get('state')}"
    return detail_type


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` merged into ``base``: mappings merge key by key, anything else replaces, ``None`` removes."""
    merged = dict(base)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def evaluate(alarm: dict[str, Any], window: list[float]) -> tuple[str, str]:
    """A metric alarm's state for its evaluation window (one datapoint per period, oldest first) and CloudWatch's
    reason text: ALARM when at least DatapointsToAlarm of the window breach, OK when fewer do (missing data counts
    as not breaching)."""
    periods = int(alarm.get("EvaluationPeriods", 1))
    needed = int(alarm.get("DatapointsToAlarm") or periods)
    threshold = float(alarm.get("Threshold", 0))
    operator = str(alarm.get("ComparisonOperator", "GreaterThanThreshold"))

    def breaches(value: float) -> bool:
        if operator.startswith("GreaterThanOrEqual"):
            return value >= threshold
        if operator.startswith("GreaterThan"):
            return value > threshold
        if operator.startswith("LessThanOrEqual"):
            return value <= threshold
        return value < threshold

    breaching = sum(1 for value in window if breaches(value))
    state = "ALARM" if breaching >= needed else "OK"
    points = ", ".join(f"{value:.1f}" for value in reversed(window))
    verb = "were" if state == "ALARM" else "were not"
    comparison = "greater than" if operator.startswith("Greater") else "less than"
    return state, (
        f"Threshold Crossed: {breaching} out of the last {len(window)} datapoints [{points}] {verb} {comparison} "
        f"the threshold ({threshold:.1f}) (minimum {needed} datapoint(s) for OK -> ALARM transition)."
    )


@dataclass
class World:
    spec: EnvironmentSpec = field(default_factory=lambda: EnvironmentSpec(stage="local"))
    clock: VirtualClock = field(default_factory=VirtualClock)
    timeline: list[TimelineEntry] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    seed: int = 42  # every choice the world makes (CodeDeploy's ids and polls, traffic) follows from it
    setup: WorldSetup | None = None  # the user's targets; None: the sample

    def __post_init__(self) -> None:
        # separate streams: how many requests a smoke test makes (real-time latency may add a retry) never
        # shifts what EventBridge does with CodeDeploy's events
        self.rng = random.Random(self.seed)
        self.traffic_rng = random.Random(self.seed + 1)
        self.events: deque[dict[str, Any]] = deque()
        self.scheduled: deque[Schedule] = deque()
        self.delayed: list[tuple[datetime, dict[str, Any]]] = []
        self.environments: dict[str, Environment] = {}  # target -> its environment
        self.target_documents: dict[str, dict[str, Any]] = {}  # target -> its document as in SSM
        self.answers: dict[str, dict[str, tuple[int, str]]] = {}  # target -> its smoke paths' expected answers
        self.alarm_environment: dict[str, str] = {}  # alarm -> the target whose load balancer it watches
        self.labels: dict[str, str] = {}  # deployment id -> "<target> <tag> (<trigger>)"
        self.delivered_ids: set[Any] = set()  # EventBridge event ids delivered (at least once: some twice)
        self.dns = LoadBalancerDns()
        self.minutes: dict[str, list[float]] = {}  # target -> its load balancer's 5xx count, one per virtual minute
        self.errors_this_minute: dict[str, int] = {}
        self.notifications: list[dict[str, Any]] = []  # what the release topic delivered
        self.request_credit: dict[str, float] = {}  # target group -> requests owed (fractions of a request)
        self.apps: dict[str, LocalApp] = {}  # target group arn -> the app behind it
        self.listeners: dict[str, LocalListener] = {}  # listener arn -> the local listener playing it
        self.listener_rules: dict[str, str] = {}  # listener arn -> the rule ECS moves weights on (native services)
        self.lambda_stand_ins: dict[str, StandIn] = {}  # function name -> a function the world plays itself
        self.behaviours: dict[str, Behaviour] = {}  # digest -> behaviour
        self.tags: dict[str, str] = {}  # digest -> tag
        self.forced_alarms: set[str] = set()
        self.alarm_states: dict[str, str] = {}
        self.pushes = 0

    # -- start and stop ----------------------------------------------------------------------------------------
    def start(self) -> World:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        logging.getLogger("samtranslator").setLevel(logging.ERROR)  # rendering the roles: not the user's business
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self.blobs = BlobServer()
        serve_layer_downloads(self.blobs)
        registry_as_ecr(now=self.clock.now)  # imagePushedAt on the clock the push events are stamped with
        _gsi_lags_behind(self.clock.now)
        _atomic_dynamodb_writes()
        port = _free_port()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.moto.start()
        self.moto_url = f"http://127.0.0.1:{port}"
        self.emulator = CodeDeployEmulator(
            region=self.spec.region, now=self.clock.now, seed=self.seed, stops_pending=True
        )
        self.codedeploy = CodeDeployServer(self.emulator)
        self.native_backend = NativeEcs(region=self.spec.region, account=ACCOUNT, now=self.clock.now, seed=self.seed)
        self.ecs_front = EcsFront(self.native_backend, self.moto_url)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.moto_url,
                "AWS_ENDPOINT_URL_CODEDEPLOY": self.codedeploy.url,
                "AWS_ENDPOINT_URL_ECS": self.ecs_front.url,
                "AWS_DEFAULT_REGION": self.spec.region,
                "AWS_REGION": self.spec.region,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "PUSHDEPLOY_TABLE": self.spec.table,
                "PUSHDEPLOY_TARGETS_PATH": self.spec.targets_path,
                "PUSHDEPLOY_HOOK_PREFIX": f"CodeDeployHook_{STACK}",
                "PUSHDEPLOY_TOPIC_ARN": self._topic_arn(),
                "PUSHDEPLOY_TARGETS_CACHE_SECONDS": "0",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_NAMESPACE": "pushdeploy",
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "ERROR"),
                "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        runtime.reset()
        clock.use(self.clock.now)
        clock.use_sleep(self.clock.advance)
        self.clock.on_advance.append(self._background)
        self.emulator.listeners.append(self._on_codedeploy)
        self.enforcer = iam.Enforcer(self._principals(), ACCOUNT, self._deployment_group_of)
        iam.install(self.enforcer)
        self.router = EventRouter(
            STACK,
            region=self.spec.region,
            account=ACCOUNT,
            on_dead_letter=self._dead_letter,
            acting_as=self.enforcer.acting_as,
        )
        self._resolve_function_environments()
        self.service_roles = iam.render_service_roles(self._stack_names())
        self.scheduler = SchedulerPlayer(
            ACCOUNT, self.spec.region, self.seed, lambda: self.service_roles, lambda: self.router, self.note
        )
        self.engine = LifecycleEngine(self, seed=self.seed)
        hooks = HookInvoker(ACCOUNT, lambda: self.service_roles, self, self.lambda_stand_ins, self.clock.now)
        self.native = NativeEngine(self, self.native_backend, hooks, seed=self.seed, account=ACCOUNT)
        return self

    def reset(self, spec: EnvironmentSpec | None = None) -> None:
        """A clean slate for the next scenario (same servers)."""
        urllib.request.urlopen(urllib.request.Request(self.moto_url + "/moto-api/reset", method="POST"))  # noqa: S310
        self._close_apps_and_listeners()
        for forgotten in ("environment", "inbox"):  # moto forgot them: no traffic, no inbox until built again
            self.__dict__.pop(forgotten, None)
        self.behaviours.clear()
        self.tags.clear()
        self.events.clear()
        self.scheduled.clear()
        self.delayed.clear()
        self.minutes.clear()
        self.errors_this_minute.clear()
        self.environments.clear()
        self.target_documents.clear()
        self.answers.clear()
        self.alarm_environment.clear()
        self.labels.clear()
        self.delivered_ids.clear()
        self.dns.names.clear()
        self.notifications.clear()
        self.request_credit.clear()
        self.forced_alarms.clear()
        self.alarm_states.clear()
        self.listener_rules.clear()
        self.lambda_stand_ins.clear()
        self.timeline, self.deliveries = [], []
        if spec is not None and spec != self.spec:
            self.spec = spec
            self.enforcer.principals = self._principals()
            self.service_roles = iam.render_service_roles(self._stack_names())
            self.router.region = self.scheduler.region = self.spec.region
            self._resolve_function_environments()
        self.scheduler = dataclasses.replace(self.scheduler, _offsets={}, _ran=set())
        self.clock.current = datetime.now(UTC).replace(microsecond=0)
        registry_as_ecr(now=self.clock.now)  # the registry's clock starts again with the world's
        self.emulator.__init__(  # type: ignore[misc]
            region=self.spec.region, now=self.clock.now, seed=self.seed, stops_pending=True
        )
        # separate streams: how many requests a smoke test makes (real-time latency may add a retry) never
        # shifts what EventBridge does with CodeDeploy's events
        self.rng = random.Random(self.seed)
        self.traffic_rng = random.Random(self.seed + 1)
        self.emulator.listeners.append(self._on_codedeploy)
        runtime.reset()
        self.engine.reset()
        self.native_backend.reset(region=self.spec.region)
        self.native.reset()

    def _close_apps_and_listeners(self) -> None:
        for app in self.apps.values():
            app.close()
        for listener in self.listeners.values():
            listener.close()
        self.apps.clear()
        self.listeners.clear()

    def _stack_names(self) -> iam.StackNames:
        table_arn = f"arn:aws:dynamodb:{self.spec.region}:{ACCOUNT}:table/{self.spec.table}"
        return iam.StackNames(
            stack=STACK,
            account=ACCOUNT,
            region=self.spec.region,
            parameters={"Stage": self.spec.stage},
            physical={
                "LedgerTable": {"Ref": self.spec.table, "Arn": table_arn},
                "NotificationTopic": {"Ref": self._topic_arn()},
            },
        )

    def _principals(self) -> dict[str, iam.Principal]:
        """The functions' roles as template.yaml renders for this world's stack, stage and names."""
        return iam.render_principals(self._stack_names())

    def _resolve_function_environments(self) -> None:
        """A function's own variables that the template gives as !Ref/!GetAtt (the continuation schedule group and
        role), resolved with this world's names as CloudFormation would."""
        for function in self.router.functions.values():
            principal = self.enforcer.principals.get(function.name)
            resolved = dict(principal.environment) if principal else {}
            for variable in function.own_variables:
                if variable in resolved:
                    function.environment[variable] = resolved[variable]

    def _deployment_group_of(self, deployment_id: str) -> tuple[str, str] | None:
        found = self.emulator.deployments.get(deployment_id)
        return (found["applicationName"], found["deploymentGroupName"]) if found else None

    def stop(self) -> None:
        registry_as_ecr(now=None)
        self.dns.uninstall()
        iam.uninstall(self.enforcer)
        _gsi_lags_behind(None)
        self._close_apps_and_listeners()
        self.codedeploy.close()
        self.ecs_front.close()
        self.blobs.close()
        self.moto.stop()
        clock.reset()
        clock.reset_sleep()
        for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CODEDEPLOY", "AWS_ENDPOINT_URL_ECS"):
            os.environ.pop(key, None)
        runtime.reset()

    # -- the sample environment ----------------------------------------------------------------------------------
    def _topic_arn(self) -> str:
        return f"arn:aws:sns:{self.spec.region}:{ACCOUNT}:{STACK}-releases"

    def _listen_to_notifications(self) -> None:
        """The stack's release topic, and a queue subscribed to it: what a team would receive shows in the timeline."""
        sns, sqs = aws.client("sns"), aws.client("sqs")
        topic = sns.create_topic(Name=f"{STACK}-releases")["TopicArn"]
        self.inbox = sqs.create_queue(QueueName=f"{STACK}-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        # the stack's schedule group for checks that carry on in a new invocation (ContinuationScheduleGroup)
        aws.client("scheduler").create_schedule_group(Name=f"{STACK}-continuations")

    def _read_notifications(self) -> None:
        if not getattr(self, "inbox", None):
            return
        with iam.as_the_world():
            messages = (
                aws.client("sqs").receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", [])
            )
            for message in messages:
                body = json.loads(message["Body"])
                self.notifications.append(body)
                self.note("notify", str(body.get("text", "")).splitlines()[0])
                aws.client("sqs").delete_message(QueueUrl=self.inbox, ReceiptHandle=message["ReceiptHandle"])

    def build_sample(self, initial_tag: str = "v1.0.0", service: dict[str, Any] | None = None) -> Environment:
        """The world's environments: the documented sample (sample-app behind an ALB, ``initial_tag`` live and
        KNOWN_GOOD; ``service``: its controller and ECS's settings when ECS deploys it) or, after :meth:`use`, one
        environment per target of the user's own targets."""
        setup = self.setup or WorldSetup([dataclasses.replace(self.spec, initial_tag=initial_tag, **(service or {}))])
        for name, routing in setup.deployment_configs.items():
            aws.client("codedeploy").create_deployment_config(
                deploymentConfigName=name, trafficRoutingConfig=routing, computePlatform="ECS"
            )
        self._listen_to_notifications()
        self.dns.install()
        live: dict[tuple[str, str], str] = {}  # (repository, tag) -> digest: targets sharing a repository share it
        for index, spec in enumerate(setup.specs):
            self._build_environment(spec, first=index == 0, live=live)
        self.environment = self.environments[setup.specs[0].target]
        return self.environment

    def use(self, setup: WorldSetup | None) -> None:
        """Build the user's targets (``None``: the sample) from the next reset on."""
        self.setup = setup
        self.reset(setup.specs[0] if setup else EnvironmentSpec(stage="local"))

    def _build_environment(self, spec: EnvironmentSpec, *, first: bool, live: dict[tuple[str, str], str]) -> None:
        env = build(spec, codedeploy=aws.client("codedeploy"), first=first, with_service=False)
        self.environments[spec.target] = env
        for arn, port, rule in (
            (env.prod_listener_arn, 80, env.prod_rule_arn),
            (env.test_listener_arn, 8080, env.test_rule_arn),
        ):
            if arn:
                self.listeners[arn] = LocalListener(self, arn).start()
                self.dns.add(env.load_balancer_dns, port, self.listeners[arn].url)
                if rule:
                    self.listener_rules[arn] = rule
        for alarm in spec.watched_alarms:
            self.alarm_environment[alarm] = spec.target
        document = env.target_document()
        if spec.document is None:  # the sample's checks: its own smoke paths and a one-minute bake
            checks = document.setdefault("checks", {})
            if env.test_listener_arn:
                checks.setdefault(
                    "after_allow_test_traffic",
                    {
                        "attempts": 2,
                        "backoff_seconds": 1,
                        "timeout_seconds": 2,
                        "requests": [
                            {"path": "/health", "expect_status": [200], "max_latency_ms": 500},
                            {"path": "/admin", "expect_status": [301]},
                        ],
                    },
                )
            checks.setdefault(
                "after_allow_traffic",
                {"bake_seconds": 60, "max_5xx_rate": 0.05, "latency_statistic": "Maximum", "max_latency_ms": 1000},
            )
        self._put_target(spec.target, document)
        tag = spec.initial_tag
        image = live.get((spec.repository, tag)) or self.publish(tag, "healthy", spec.repository)
        live[(spec.repository, tag)] = image
        uri = f"{ACCOUNT}.dkr.ecr.{spec.region}.amazonaws.com/{spec.repository}@{image}"
        task_definition = register_pinned_revision(env.task_definition_arn, spec.container_name, uri)
        if spec.native:  # ECS's first deployment of the service: its tasks serve at once
            create_native_service(env, task_definition)
            for _ in range(10):  # no waits in a first deployment: a few steps settle it
                if not self.native.active():
                    break
                self.native.step()
        else:
            blue = env.target_group_arns[f"{spec.service}-blue"]
            task_set = self.engine.create_task_set(
                task_definition, blue, "healthy", environment=env, version=tag, digest=image
            )
            aws.client("ecs").update_service_primary_task_set(
                cluster=spec.cluster, service=spec.service, primaryTaskSet=task_set["taskSetArn"]
            )
        now = clock.iso()
        release = Release.new(
            target=spec.target,
            digest=image,
            image_uri=uri,
            trigger="manual",
            status="SUCCEEDED",
            started_at=now,
            finished_at=now,
            tag=tag,
            repository=spec.repository,
            task_definition_arn=task_definition,
            reason="initial release of the environment",
        )
        ledger = runtime.services().ledger
        ledger.put_release(release)
        ledger.set_known_good(release)
        ledger.set_live(release)
        self.note("setup", f"{spec.target}: {tag} serves production and is KNOWN_GOOD")

    def _put_target(self, target: str, document: dict[str, Any]) -> None:
        self.target_documents[target] = document
        answers = self.answers.setdefault(target, {})  # the apps hold this mapping: they follow it
        answers.clear()
        answers.update(smoke_answers(document))
        self.environments[target].put_target(document)

    @property
    def target_document(self) -> dict[str, Any]:
        """The first (the sample's) target document."""
        return self.target_documents[self.spec.target]

    def native_environment(self, cluster: str, service: str) -> Environment:
        """The environment of a service ECS deploys itself."""
        for env in self.environments.values():
            if (env.spec.cluster, env.spec.service) == (cluster, service):
                return env
        raise KeyError(f"no environment runs {cluster}/{service}")

    def function_timeout(self, name: str) -> int | None:
        """A function of the template: its timeout in seconds (None: no such function)."""
        function = self.router.functions.get(name)
        return function.timeout if function else None

    def invoke_function(self, name: str, payload: dict[str, Any]) -> Any:
        """Lambda's synchronous invocation of a function of the template (as its own role)."""
        return self.router.invoke(name, payload)

    def environment_of(self, application: str, deployment_group: str) -> Environment:
        """The environment of a CodeDeploy deployment group."""
        for env in self.environments.values():
            if (env.spec.application, env.spec.deployment_group) == (application, deployment_group):
                return env
        raise KeyError(f"no environment deploys {application}/{deployment_group}")

    def update_target(self, changes: dict[str, Any]) -> None:
        """Deep-merge ``changes`` into a target's document (``name`` says which, default the first; ``null``
        removes a key)."""
        name = str(changes.get("name") or self.spec.target)
        merged = deep_merge(self.target_documents[name], {k: v for k, v in changes.items() if k != "name"})
        self._put_target(name, merged)

    def tick_reconcile(self) -> None:
        """Run the reconcile schedule now, as if its rate had come round."""
        self.scheduled.extend(s for s in self.router.schedules if s.function.logical_id == "DeploymentEventsFunction")
        self.drain()

    def publish(self, tag: str, behaviour: Behaviour, repository: str | None = None) -> str:
        """Push an image to (moto) ECR: a multi-arch index carrying the OCI revision annotations."""
        image = publish_image(
            aws.client("ecr"),
            repository or self.spec.repository,
            tag,
            architectures=("arm64", "amd64"),
            as_index=True,
            seed=f"{tag}-{behaviour}-{len(self.behaviours)}",
            blobs=self.blobs,
            annotations={
                "org.opencontainers.image.revision": hashlib.sha256(tag.encode()).hexdigest()[:12],
                "org.opencontainers.image.source": "https://example.com/acme/sample-app",
                "org.opencontainers.image.version": tag.lstrip("v"),
            },
        )
        self.behaviours[image.digest] = behaviour
        self.tags[image.digest] = tag
        return image.digest

    def now(self) -> datetime:
        return self.clock.now()

    # -- events -------------------------------------------------------------------------------------------------
    def note(self, kind: str, text: str, deployment: str | None = None) -> None:
        """A timeline line; about a deployment, it starts with what is deployed where ("shop-prod v2.4.1")."""
        if deployment:
            text = f"{self._label(deployment)}: {text}"
        self.timeline.append(TimelineEntry(self.clock.now(), kind, text))

    def _label(self, deployment_id: str) -> str:
        """ "<target> <tag> (<trigger>)" of a deployment, from its group and pushdeploy's release (once recorded)."""
        if deployment_id in self.labels:
            return self.labels[deployment_id]
        found = self.emulator.deployments.get(deployment_id) or {}
        target, tag, trigger = str(found.get("deploymentGroupName", "")), "", ""
        with contextlib.suppress(KeyError):
            target = self.environment_of(found.get("applicationName", ""), target).spec.target
        if found.get("creator") == "codeDeployRollback":
            trigger = "rollback"
        with iam.as_the_world():
            release = runtime.services().ledger.release_by_deployment(deployment_id)
        if release is not None:
            tag = release.tag or self.tags.get(release.digest, release.digest[:19])
            trigger = "" if release.trigger == "push" else release.trigger
        label = " ".join(part for part in (target, tag) if part) + (f" ({trigger})" if trigger else "")
        if release is not None:
            self.labels[deployment_id] = label
        return label or deployment_id

    def emit(self, event: dict[str, Any], *, delay_seconds: float = 0) -> None:
        """Queue an event for EventBridge to deliver, now or after ``delay_seconds`` of virtual time."""
        if delay_seconds > 0:
            self.delayed.append((self.clock.now() + timedelta(seconds=delay_seconds), event))
            return
        self.events.append(event)

    def _due(self) -> datetime | None:
        """Move delayed events that are due into the queue; the next one's (or a schedule's) time."""
        now = self.clock.now()
        for due, event in sorted(self.delayed, key=lambda d: d[0]):
            if due <= now:
                self.delayed.remove((due, event))
                self.events.append(event)
        return self._earliest(min((due for due, _ in self.delayed), default=None), self.scheduler.next_due())

    def _event_time(self) -> str:
        """An EventBridge envelope's ``time``: whole seconds (two events in one second cannot be ordered by it)."""
        return self.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def push_event(
        self, tag: str | None, digest: str, repository: str | None = None, event_id: str | None = None
    ) -> dict[str, Any]:
        event = json.loads((EVENTS / "ecr-image-action-push.json").read_text())
        event.update(
            # EventBridge's event ids are random UUIDs: they say nothing about order (seeded here)
            id=event_id or str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            account=ACCOUNT,
            region=self.spec.region,
            time=self._event_time(),
        )
        event["detail"].update(
            {
                "repository-name": repository or self.spec.repository,
                "image-digest": digest,
                "manifest-media-type": "application/vnd.oci.image.index.v1+json",
            }
        )
        if tag is None:
            event["detail"].pop("image-tag")
        else:
            event["detail"]["image-tag"] = tag
        return dict(event)

    def drain(self) -> None:
        """Deliver every queued event (deliveries may queue more) and run the schedules that are due."""
        self._due()
        ran = self.scheduler.run_due(self.clock.now())
        self.deliveries.extend(ran)
        for delivery in ran:
            self.engine.heard(delivery.response)
        delivered = bool(self.events or self.scheduled or ran)
        while self.events or self.scheduled:
            if self.scheduled:
                schedule = self.scheduled.popleft()
                delivery = self.router.invoke_async(schedule.function.name, schedule.payload, "Scheduled Event")
                self.deliveries.append(delivery)
                self.note("event", f"schedule {schedule.name} -> {delivery.function}: {delivery.outcome}")
                continue
            event = self.events.popleft()
            again = " (delivered again)" if event.get("id") in self.delivered_ids else ""
            self.delivered_ids.add(event.get("id"))
            for delivery in self.router.deliver(event):
                self.deliveries.append(delivery)
                self.note(
                    "event",
                    f"{_what(event, delivery.detail_type)}{again} -> {delivery.function}: {delivery.outcome}"
                    + (f" ({delivery.reason})" if delivery.reason else ""),
                )
        if delivered:  # notifications are sent only by the functions the deliveries ran
            self._read_notifications()

    def _dead_letter(self, event: dict[str, Any], error: str) -> None:
        self.note("dlq", f"dead-lettered: {error}")

    def _on_codedeploy(self, kind: str, deployment: dict[str, Any]) -> None:
        if kind == "hook-reported":  # CodeDeploy moves on as soon as a hook reports (a continuation reports late)
            self.engine.wake(deployment["deploymentId"])
            return
        state = {"started": "START", "ready": "READY"}.get(kind)
        if kind == "finished":
            state = {"Succeeded": "SUCCESS", "Failed": "FAILURE", "Stopped": "STOP"}[deployment["status"]]
        if state is None:
            return
        app, group = deployment["applicationName"], deployment["deploymentGroupName"]
        event = json.loads((EVENTS / "codedeploy-deployment-state-change.json").read_text())
        event.update(
            id=f"cd-{deployment['deploymentId']}-{state}",
            account=ACCOUNT,
            region=self.spec.region,
            time=self._event_time(),
            resources=[
                f"arn:aws:codedeploy:{self.spec.region}:{ACCOUNT}:application:{app}",
                f"arn:aws:codedeploy:{self.spec.region}:{ACCOUNT}:deploymentgroup:{app}/{group}",
            ],
        )
        event["detail"].update(
            deploymentId=deployment["deploymentId"],
            state=state,
            application=app,
            deploymentGroup=group,
            region=self.spec.region,
        )
        # EventBridge delivers at least once and in no particular order: a little late, sometimes twice
        self.emit(event, delay_seconds=self.rng.uniform(0, 3))
        if self.rng.random() < DUPLICATE_EVENT_SHARE:
            self.emit(dict(event), delay_seconds=self.rng.uniform(0, 30))

    # -- alarms (the world evaluates them: moto never does) ---------------------------------------------------------
    def set_alarm(
        self,
        name: str,
        state: str,
        reason: str,
        *,
        forced: bool = False,
        delivery_delay: float = 0,
        deliveries: int = 1,
    ) -> None:
        if forced:
            (self.forced_alarms.add if state == "ALARM" else self.forced_alarms.discard)(name)
        previous = self.alarm_states.get(name, "OK")
        cloudwatch = aws.client("cloudwatch")
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)
        from moto.cloudwatch.models import cloudwatch_backends

        alarm = cloudwatch_backends[ACCOUNT][self.spec.region].alarms[name]
        alarm.state_updated_timestamp = self.clock.now()  # CloudWatch's clock is the virtual one
        self.alarm_states[name] = state
        if previous == state:
            return
        self.note("alarm", f"{name}: {previous} -> {state} ({reason})")
        event = json.loads((EVENTS / "cloudwatch-alarm-state-change-metric.json").read_text())
        stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        event.update(
            id=f"alarm-{name}-{stamp}",
            account=ACCOUNT,
            region=self.spec.region,
            time=self._event_time(),
            resources=[f"arn:aws:cloudwatch:{self.spec.region}:{ACCOUNT}:alarm:{name}"],
        )
        detail = event["detail"]
        detail["alarmName"] = name
        detail["previousState"] = {**detail["state"], "value": previous, "timestamp": stamp}
        detail["state"] = {
            "value": state,
            "reason": reason,
            "timestamp": stamp,
            "reasonData": json.dumps({"version": "1.0", "queryDate": stamp}),
        }
        detail["configuration"] = {
            "description": f"5xx responses of {self.alarm_environment.get(name, self.spec.target)}",
            "metrics": [
                {
                    "id": "m1",
                    "returnData": True,
                    "metricStat": {
                        "period": 60,
                        "stat": "Sum",
                        "metric": {
                            "namespace": "AWS/ApplicationELB",
                            "name": "HTTPCode_Target_5XX_Count",
                            "dimensions": {"LoadBalancer": self._load_balancer_of(name)},
                        },
                    },
                }
            ],
        }
        for _ in range(deliveries):  # at least once: the same event (same id) may arrive more than once
            self.emit(copy.deepcopy(event), delay_seconds=delivery_delay)

    # -- traffic ------------------------------------------------------------------------------------------------------
    def route(self, listener_arn: str) -> list[tuple[str, float]]:
        """(target group arn, weight) of the listener's default action, as moto stores it; for a native service,
        of the listener rule ECS moves weights on."""
        rule = self.listener_rules.get(listener_arn)
        return rule_weights(rule) if rule else listener_weights(listener_arn)

    def pick_app(self, listener_arn: str) -> LocalApp | None:
        routes = [(tg, w) for tg, w in self.route(listener_arn) if w > 0 and tg in self.apps]
        if not routes:
            return None
        chosen = self.traffic_rng.choices([tg for tg, _ in routes], weights=[w for _, w in routes])[0]
        return self.apps[chosen]

    def _background(self, before: datetime, after: datetime) -> None:
        """Each virtual minute: production traffic, its metrics, and the 5xx alarm's evaluation (AWS's doing)."""
        with iam.as_the_world():
            self._minute(before, after)

    def _minute(self, before: datetime, after: datetime) -> None:
        minute = int(after.timestamp() // 60)
        for schedule in self.router.schedules:  # EventBridge Scheduler, on the virtual clock
            if minute % schedule.every_minutes == 0 and int(before.timestamp() // 60) != minute:
                self.scheduled.append(schedule)
        period_ended = int(before.timestamp() // 60) != minute
        for target, env in self.environments.items():
            self._traffic(target, env, before, after)
            if period_ended:  # a period ended: CloudWatch evaluates the environment's alarms now
                self.minutes.setdefault(target, []).append(self.errors_this_minute.pop(target, 0))
                for alarm in env.spec.watched_alarms:
                    self._evaluate_alarm(alarm, minute)

    def _traffic(self, target: str, env: Environment, before: datetime, after: datetime) -> None:
        routes = [(tg, w) for tg, w in self.route(env.prod_listener_arn) if w > 0 and tg in self.apps]
        total = sum(w for _, w in routes) or 1
        lb = env.load_balancer_arn.split(":loadbalancer/")[-1]
        data, errors_total = [], 0
        elapsed = (after - before).total_seconds()
        for tg, weight in routes:
            app = self.apps[tg]
            # requests arrive at REQUESTS_PER_MINUTE, split by weight, for the time that passed (fractions carry over)
            self.request_credit[tg] = (
                self.request_credit.get(tg, 0.0) + REQUESTS_PER_MINUTE * weight / total * elapsed / 60
            )
            count = int(self.request_credit[tg])
            self.request_credit[tg] -= count
            if count == 0:
                continue
            errors, slowest = 0, 0.0
            for _ in range(count):
                reply = app.production_reply()
                errors += reply.status >= 500
                slowest = max(slowest, reply.delay + 0.005)
            errors_total += errors
            dims = [{"Name": "TargetGroup", "Value": tg.split(":")[-1]}, {"Name": "LoadBalancer", "Value": lb}]
            data += [
                {"MetricName": "RequestCount", "Dimensions": dims, "Value": count, "Timestamp": after},
                {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims, "Value": errors, "Timestamp": after},
                {"MetricName": "TargetResponseTime", "Dimensions": dims, "Value": slowest, "Timestamp": after},
            ]
        if data:
            aws.client("cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)
        self.errors_this_minute[target] = self.errors_this_minute.get(target, 0) + errors_total

    def _load_balancer_of(self, alarm: str) -> str:
        env = self.environments.get(self.alarm_environment.get(alarm, self.spec.target))
        return env.load_balancer_arn.split(":loadbalancer/")[-1] if env else ""

    def _evaluate_alarm(self, name: str, minute: int) -> None:
        """CloudWatch's evaluation of a metric alarm, every minute, over a sliding window (the default evaluation
        window: "the window advances each time the alarm is evaluated"): one datapoint per ``Period`` (a multiple
        of 60 s) ending now, the alarm's statistic over the minutes in it; ALARM when at least DatapointsToAlarm of
        the last EvaluationPeriods datapoints breach, OK when fewer do (missing data counts as not breaching); it
        changes state only on a transition, so it can stay in ALARM after errors stop, and flap. A 5-minute alarm
        sums five minutes of errors and stays in ALARM for minutes after they stop."""
        if name in self.forced_alarms:
            return
        alarm = self._alarm_definition(name)
        if alarm is None:
            return
        period_minutes = max(1, int(alarm.get("Period") or 60) // 60)
        history = self.minutes.get(self.alarm_environment.get(name, self.spec.target), [])
        minutes = history[-int(alarm.get("EvaluationPeriods", 1)) * period_minutes :]
        ends = range(len(minutes), 0, -period_minutes)  # periods ending now, one period back, ...
        window = [
            _statistic(str(alarm.get("Statistic", "Sum")), minutes[max(0, end - period_minutes) : end])
            for end in reversed(list(ends))
        ]
        state, reason = evaluate(alarm, window)
        if state != self.alarm_states.get(name, "OK"):
            self.set_alarm(name, state, reason)

    def _alarm_definition(self, name: str) -> dict[str, Any] | None:
        with iam.as_the_world():
            found = aws.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return dict(found[0]) if found else None

    def evaluate_datapoints(self, name: str, datapoints: list[float]) -> tuple[str, str]:
        """The state (and CloudWatch's reason) an alarm reaches when these are its latest datapoints (oldest first),
        by its own rule: threshold, comparison, EvaluationPeriods and DatapointsToAlarm."""
        alarm = self._alarm_definition(name)
        if alarm is None:
            raise KeyError(f"no alarm {name!r} in this world")
        return evaluate(alarm, datapoints[-int(alarm.get("EvaluationPeriods", 1)) :])

    # -- driving time ---------------------------------------------------------------------------------------------
    @staticmethod
    def _earliest(*moments: datetime | None) -> datetime | None:
        return min((m for m in moments if m is not None), default=None)

    def run_for(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass, with everything that happens in them."""
        deadline = self.clock.now() + timedelta(seconds=seconds)
        while True:
            self.drain()
            wake = self._earliest(self.engine.step(), self.native.step(), self._due())
            self.drain()
            now = self.clock.now()
            if now >= deadline:
                break
            if wake is not None and wake <= now:
                continue  # more to do at this moment
            self.clock.advance((self._next_stop(now, wake, deadline) - now).total_seconds())
        self.drain()

    def run_until_idle(self, limit_minutes: float = 240) -> bool:
        """Run until no deployment is active and nothing is queued; False if the limit was reached."""
        limit = self.clock.now() + timedelta(minutes=limit_minutes)
        while self.clock.now() < limit:
            self.drain()
            wake = self._earliest(self.engine.step(), self.native.step(), self._due())
            self.drain()
            if wake is None:
                if (
                    not (self.engine.active() or self.native.active())
                    and not self.events
                    and not self.delayed
                    and not self.scheduler.pending()
                ):
                    return True
                continue
            now = self.clock.now()
            if wake > now:
                self.clock.advance((self._next_stop(now, wake, limit) - now).total_seconds())
        return False

    @staticmethod
    def _next_stop(now: datetime, wake: datetime | None, deadline: datetime) -> datetime:
        """How far the clock may move before the world delivers what happened: to ``wake`` or ``deadline``, never
        past the next minute. Each minute raises events of its own (alarm evaluations, the rate schedules), and
        EventBridge delivers them as they happen, not when a long wait ends."""
        minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        return min(m for m in (wake, deadline, minute) if m is not None)

    def production(self, target: str | None = None) -> dict[str, str]:
        """What serves a target's production (default the first): the app behind its production listener's
        heaviest target group."""
        routes = self.route(self.environments[target or self.spec.target].prod_listener_arn)
        tg = max(routes, key=lambda r: r[1])[0]
        app = self.apps.get(tg)
        digest = getattr(app, "digest", "")
        return {"tag": self.tags.get(digest, ""), "image": digest, "target_group": tg.split("/")[-2]}
