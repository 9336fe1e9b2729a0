"""Every handler runs under its own role, as template.yaml renders it: the SAM transform (the same library
`sam` uses), parameters, conditions and intrinsic functions resolved for this world's names; every AWS call a
handler makes is then authorized the way IAM would (:mod:`pushdeploy_local.emulator.iam`), and a denied call
raises AccessDenied as AWS answers it.

The world's own calls (building the environment, the test's arrangements, the operator CLI) run as an
administrator: no principal is set for them.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from pushdeploy_local.emulator.iam import policy
from pushdeploy_local.emulator.iam.requests import Authorization, Call, UnmodelledCall, authorizations
from pushdeploy_local.world.bus import load_template

# AWS-managed policies SAM attaches (their published documents; none of it is an API the handlers call).
AWS_MANAGED: dict[str, list[dict[str, Any]]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole": [
        {
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            "Resource": "*",
        }
    ],
}
ERROR_CODES = {"sns": "AuthorizationError", "elbv2": "AccessDenied", "cloudwatch": "AccessDenied"}


@dataclass(frozen=True)
class Principal:
    """A function and the role it runs as: the policy documents attached to that role."""

    function: str
    role: str
    documents: tuple[dict[str, Any], ...]
    policy_names: tuple[str, ...] = ()
    code_uri: str = ""  # functions/<name>/
    environment: tuple[tuple[str, str], ...] = ()  # resolved environment variables

    def arn(self, account: str) -> str:
        return f"arn:aws:sts::{account}:assumed-role/{self.role}/{self.function}"


# -- rendering the template ------------------------------------------------------------------------------------------
@dataclass
class StackNames:
    """The physical names this world gives the stack's resources and the values of its parameters."""

    stack: str
    account: str
    region: str
    parameters: dict[str, Any] = field(default_factory=dict)
    physical: dict[str, dict[str, str]] = field(default_factory=dict)  # logical id -> {"Ref": .., "Arn": ..}


def _transformed(names: StackNames) -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(load_template())
    for resource in template["Resources"].values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):  # as `sam validate` does: the code's location does not matter here
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://local-artifacts/{properties[key]}"

    class NoManagedPolicyNames:
        def load(self) -> dict[str, str]:
            return {}

    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = names.region  # the transform reads the region from boto3's environment
    try:
        return dict(transform(template, dict(names.parameters), NoManagedPolicyNames()))
    finally:
        if previous is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


# The property that names a resource, for the kinds whose Ref (or ARN) is built from the name the template gives.
NAME_PROPERTY = {"AWS::Scheduler::ScheduleGroup": "Name", "AWS::Lambda::Function": "FunctionName"}


class Resolver:
    """CloudFormation's intrinsic functions over the transformed template, with this world's names."""

    def __init__(self, template: dict[str, Any], names: StackNames) -> None:
        self.template, self.names = template, names
        declared = template.get("Parameters") or {}
        self.parameters = {}
        for key, spec in declared.items():
            value = names.parameters.get(key, spec.get("Default"))
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",")
            self.parameters[key] = value
        self.pseudo = {
            "AWS::StackName": names.stack,
            "AWS::Region": names.region,
            "AWS::AccountId": names.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.attribute(name, "Ref")

    def attribute(self, logical_id: str, attribute: str) -> str:
        known = self.names.physical.get(logical_id, {})
        if attribute in known:
            return known[attribute]
        resource = self.template["Resources"].get(logical_id, {})
        kind, physical = resource.get("Type", ""), f"{self.names.stack}-{logical_id}"
        named = (resource.get("Properties") or {}).get(NAME_PROPERTY.get(kind, ""))
        if named is not None:  # a resource the template names itself is called that
            physical = str(self.resolve(named))
        region, account = self.names.region, self.names.account
        arns = {
            "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{physical}",
            "AWS::IAM::ManagedPolicy": f"arn:aws:iam::{account}:policy/{physical}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account}:{physical}",
            "AWS::SNS::Topic": f"arn:aws:sns:{region}:{account}:{physical}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{account}:table/{physical}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{physical}",
            "AWS::Scheduler::ScheduleGroup": f"arn:aws:scheduler:{region}:{account}:schedule-group/{physical}",
        }
        if attribute == "Arn":
            return arns.get(kind, f"arn:aws:local:{region}:{account}:{physical}")
        if attribute == "Ref" and kind in ("AWS::IAM::ManagedPolicy", "AWS::SNS::Topic"):
            return arns[kind]
        return physical

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not _NO_VALUE}
        ((key, argument),) = value.items()
        if key == "Ref":
            return _NO_VALUE if argument == "AWS::NoValue" else self.ref(argument)
        if key == "Fn::GetAtt":
            logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
            return self.attribute(logical_id, attribute)
        if key == "Fn::Sub":
            return self._sub(argument)
        if key == "Fn::If":
            name, yes, no = argument
            return self.resolve(yes if self.condition(name) else no)
        if key == "Fn::Equals":
            left, right = (self.resolve(a) for a in argument)
            return left == right
        if key == "Fn::Not":
            return not self.resolve(argument[0])
        if key == "Fn::And":
            return all(self.resolve(a) for a in argument)
        if key == "Fn::Or":
            return any(self.resolve(a) for a in argument)
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::Join":
            separator, parts = argument
            resolved = self.resolve(parts)
            return separator.join(str(p) for p in (resolved if isinstance(resolved, list) else [resolved]))
        if key == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text)).split(separator)
        return {key: self.resolve(argument)}

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and name not in self.pseudo:
                logical_id, attribute = name.split(".", 1)
                return self.attribute(logical_id, attribute)
            value = self.ref(name)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^!][^}]*)\}", one, text)


_NO_VALUE = object()


def _role_documents(resolver: Resolver, resources: dict[str, Any], role_id: str) -> tuple[list[Any], list[str]]:
    """The policy documents attached to a role (managed, AWS-managed, inline) and their names."""
    role = resources[role_id]["Properties"]
    documents: list[dict[str, Any]] = []
    names_: list[str] = []
    for attached in resolver.resolve(role.get("ManagedPolicyArns") or []):
        managed = next(
            (
                rid
                for rid, r in resources.items()
                if r["Type"] == "AWS::IAM::ManagedPolicy" and resolver.attribute(rid, "Ref") == attached
            ),
            None,
        )
        if managed is not None:
            if "Condition" in resources[managed] and not resolver.condition(resources[managed]["Condition"]):
                continue
            documents.append(resolver.resolve(resources[managed]["Properties"]["PolicyDocument"]))
            names_.append(managed)
        elif attached in AWS_MANAGED:
            documents.append({"Version": "2012-10-17", "Statement": AWS_MANAGED[attached]})
            names_.append(attached.rsplit("/", 1)[-1])
    for inline in role.get("Policies") or []:
        documents.append(resolver.resolve(inline["PolicyDocument"]))
        names_.append(str(inline.get("PolicyName")))
    return documents, names_


@dataclass(frozen=True)
class ServiceRole:
    """A role of the stack that an AWS service assumes (EventBridge Scheduler's execution role): who may assume it
    (its trust policy, conditions included) and what it may do."""

    arn: str
    trust: dict[str, Any]
    documents: tuple[dict[str, Any], ...]

    def assumable_by(self, service: str, context: Mapping[str, Any]) -> bool:
        for statement in self.trust.get("Statement") or []:
            services = (statement.get("Principal") or {}).get("Service") or []
            services = [services] if isinstance(services, str) else services
            if service not in services:
                continue
            plain = {k: v for k, v in statement.items() if k != "Principal"}
            trust = {"Version": "2012-10-17", "Statement": [{**plain, "Resource": "*"}]}
            if policy.evaluate([trust], "sts:AssumeRole", self.arn, context).allowed:
                return True
        return False

    def allows(self, action: str, resource: str, context: Mapping[str, Any] | None = None) -> bool:
        return policy.evaluate(self.documents, action, resource, context or {}).allowed


def render_service_roles(names: StackNames) -> dict[str, ServiceRole]:
    """Every role of the stack that a service (not a function of the stack) assumes, by ARN."""
    template = _transformed(names)
    resolver = Resolver(template, names)
    resources = template["Resources"]
    roles: dict[str, ServiceRole] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        trust = resolver.resolve(resource["Properties"].get("AssumeRolePolicyDocument") or {})
        services: list[str] = []
        for statement in trust.get("Statement") or []:
            named = (statement.get("Principal") or {}).get("Service") or []
            services.extend([named] if isinstance(named, str) else named)
        if not services or "lambda.amazonaws.com" in services:
            continue
        arn = resolver.attribute(logical_id, "Arn")
        roles[arn] = ServiceRole(arn, trust, tuple(_role_documents(resolver, resources, logical_id)[0]))
    return roles


def render_principals(names: StackNames) -> dict[str, Principal]:
    """Each function of the stack (by its resolved FunctionName) and the policies of the role it runs as."""
    template = _transformed(names)
    resolver = Resolver(template, names)
    resources = template["Resources"]
    principals: dict[str, Principal] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        properties = resource["Properties"]
        function = str(resolver.resolve(properties.get("FunctionName", logical_id)))
        role_ref = properties["Role"]["Fn::GetAtt"]  # ["X", "Arn"] from SAM, "X.Arn" as written in the template
        role_id = role_ref.split(".", 1)[0] if isinstance(role_ref, str) else role_ref[0]
        documents, names_ = _role_documents(resolver, resources, role_id)
        variables = resolver.resolve((properties.get("Environment") or {}).get("Variables") or {})
        code = properties.get("Code") or {}
        code_uri = str(code.get("S3Key", "")) if isinstance(code, dict) else ""
        principals[function] = Principal(
            function,
            f"{names.stack}-{role_id}",
            tuple(documents),
            tuple(names_),
            code_uri,
            tuple(sorted((k, str(v)) for k, v in variables.items())),
        )
    return principals


# -- enforcing ---------------------------------------------------------------------------------------------------------
_acting: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("pushdeploy_principal", default=None)


@contextlib.contextmanager
def as_the_world() -> Iterator[None]:
    """AWS's own doings (traffic, metrics, alarm evaluation) happen under no function's role, even when virtual
    time advances inside a handler's sleep."""
    token = _acting.set(None)
    try:
        yield
    finally:
        _acting.reset(token)


@dataclass(frozen=True)
class Denial:
    function: str
    action: str
    resource: str
    decision: str


@dataclass(frozen=True)
class Grant:
    function: str
    authorization: Authorization
    statement: str  # the Sid that allowed it


class AccessDenied(ClientError):
    pass


def _secret_key_in_secrets_manager(secret_id: str) -> str | None:
    """The customer-managed KMS key a secret is encrypted with (None for the AWS managed aws/secretsmanager key),
    as Secrets Manager knows it: read as the world, not as the acting function."""
    from pushdeploy import aws

    with as_the_world():
        try:
            key = aws.client("secretsmanager").describe_secret(SecretId=secret_id).get("KmsKeyId")
        except Exception:  # noqa: BLE001 - an unknown secret: GetSecretValue itself answers that
            return None
    if not key or str(key).startswith("alias/aws/"):
        return None
    return str(key)


@dataclass
class Enforcer:
    """Authorizes every call made while a principal is acting; records what it denied."""

    principals: dict[str, Principal]
    account: str
    deployment_group_of: Callable[[str], tuple[str, str] | None] = lambda _id: None
    secret_key_of: Callable[[str], str | None] = field(default_factory=lambda: _secret_key_in_secrets_manager)
    denials: list[Denial] = field(default_factory=list)
    granted: list[Grant] = field(default_factory=list)  # every authorization that passed, and the statement

    def function_for(self, code_uri: str, environ: Mapping[str, str]) -> str:
        """The function whose code is ``code_uri`` (``functions/hooks/``); several share it: the one whose own
        variables (the hook's stage) ``environ`` holds."""
        candidates = [p for p in self.principals.values() if p.code_uri.strip("/") == code_uri.strip("/")]
        stage = "PUSHDEPLOY_HOOK_STAGE"
        chosen = (
            candidates
            if len(candidates) == 1
            else [p for p in candidates if (stage, environ.get(stage)) in p.environment]
        )
        if len(chosen) != 1:
            raise LookupError(f"cannot tell which function runs {code_uri}: {[p.function for p in chosen]}")
        return chosen[0].function

    @contextlib.contextmanager
    def acting_as(self, function: str) -> Iterator[Principal]:
        principal = self.principals.get(function)
        if principal is None:
            raise KeyError(f"no function named {function} in the rendered template")
        token = _acting.set(principal)
        try:
            yield principal
        finally:
            _acting.reset(token)

    def check(self, service: str, operation: str, params: Mapping[str, Any], region: str) -> list[Authorization]:
        """Raise AccessDenied as AWS would; return the authorizations whose denial only trims the answer."""
        principal = _acting.get()
        if principal is None:
            return []
        call = Call(
            service, operation, dict(params), self.account, region, self.deployment_group_of, self.secret_key_of
        )
        try:
            needed = authorizations(call)
        except (UnmodelledCall, KeyError) as exc:
            self.denials.append(Denial(principal.function, f"{service}:{operation}", "?", "unmodelled"))
            raise self._denied(service, operation, principal, f"{service}:{operation}", "?", str(exc)) from exc
        trimmed = []
        for authorization in needed:
            verdict = policy.evaluate(
                principal.documents, authorization.action, authorization.resource, authorization.context
            )
            if verdict.allowed:
                self.granted.append(Grant(principal.function, authorization, str(verdict.statement)))
                continue
            if authorization.on_deny:
                trimmed.append(authorization)
                continue
            self.denials.append(
                Denial(principal.function, authorization.action, authorization.resource, verdict.decision)
            )
            reason = (
                "with an explicit deny in an identity-based policy"
                if verdict.decision == "explicit-deny"
                else f"because no identity-based policy allows the {authorization.action} action"
            )
            raise self._denied(service, operation, principal, authorization.action, authorization.resource, reason)
        return trimmed

    def _denied(
        self, service: str, operation: str, principal: Principal, action: str, resource: str, reason: str
    ) -> AccessDenied:
        message = (
            f"User: {principal.arn(self.account)} is not authorized to perform: {action} on resource: {resource} "
            f"{reason}"
        )
        code = ERROR_CODES.get(service, "AccessDeniedException")
        response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 403}}
        return AccessDenied(response, operation)

    # -- where calls are made ------------------------------------------------------------------------------------------
    def guard(self, service: str, client: Any, region: str) -> Any:
        """An in-process stand-in client (the CodeDeploy emulator in tests) authorized like a botocore client."""
        return _Guarded(self, service, client, region)


def trim(answer: dict[str, Any], trimmed: list[Authorization]) -> dict[str, Any]:
    if any(a.on_deny == "drop-composite-alarms" for a in trimmed):
        answer = {**answer, "CompositeAlarms": []}
    return answer


class _Guarded:
    def __init__(self, enforcer: Enforcer, service: str, client: Any, region: str) -> None:
        self._enforcer, self._service, self._client, self._region = enforcer, service, client, region

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        operation = _OPERATIONS.get(name)
        if operation is None or not callable(target):
            return target

        def call(**params: Any) -> Any:
            trimmed = self._enforcer.check(self._service, operation, params, self._region)
            return trim(target(**params), trimmed)

        return call


# snake_case method -> API operation, for stand-in clients
_OPERATIONS = {
    re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower(): op
    for op in (
        "CreateDeployment",
        "GetDeployment",
        "GetDeploymentGroup",
        "GetDeploymentConfig",
        "ListDeployments",
        "StopDeployment",
        "ContinueDeployment",
        "PutLifecycleEventHookExecutionStatus",
    )
}

_installed: list[Enforcer] = []
_install_lock = threading.Lock()


def install(enforcer: Enforcer) -> None:
    """Authorize every botocore call made while a principal is acting (one enforcer at a time)."""
    from botocore.client import BaseClient

    with _install_lock:
        if not getattr(BaseClient, "_pushdeploy_iam", False):
            original = BaseClient._make_api_call  # type: ignore[attr-defined]

            def authorized(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
                current = _installed[-1] if _installed else None
                if current is None or _acting.get() is None:
                    return original(self, operation, params)
                service = self.meta.service_model.service_name
                trimmed = current.check(service, operation, params, self.meta.region_name)
                return trim(original(self, operation, params), trimmed)

            BaseClient._make_api_call = authorized  # type: ignore[attr-defined]
            BaseClient._pushdeploy_iam = True  # type: ignore[attr-defined]
        _installed.append(enforcer)


def current() -> Enforcer | None:
    """The enforcer in force (tests' helpers use it to invoke handlers as their functions)."""
    return _installed[-1] if _installed else None


def uninstall(enforcer: Enforcer) -> None:
    with _install_lock:
        if enforcer in _installed:
            _installed.remove(enforcer)
