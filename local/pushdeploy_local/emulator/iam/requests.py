"""From an API call to what IAM authorizes: the action(s), each against a resource ARN, with condition keys.

Each modelled operation says which request parameters name the resource; the ARN format, the action name and
whether the action is resource-scoped at all come from the Service Authorization Reference (:mod:`.reference`).
Dependent permissions AWS documents for an operation are added (for example ``iam:PassRole`` for the roles a
task definition names, ``codedeploy:UpdateDeploymentGroup`` for CreateDeployment with an alarm override).
An operation that is not modelled is an error, never an implicit allow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pushdeploy_local.emulator.iam import reference

# botocore service name -> IAM service prefix (where they differ)
PREFIX = {"elbv2": "elasticloadbalancing"}
# Operations no permission governs (STS documents GetCallerIdentity as needing none).
UNAUTHORIZED_OPERATIONS = {("sts", "GetCallerIdentity")}


@dataclass(frozen=True)
class Authorization:
    """One thing IAM checks: ``action`` on ``resource`` with these condition keys."""

    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)
    # When denied, AWS does not refuse the call but leaves something out of the answer (e.g. composite alarms).
    on_deny: str | None = None


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: dict[str, Any]
    account: str
    region: str
    deployment_group_of: Callable[[str], tuple[str, str] | None] = lambda _id: None
    secret_key_of: Callable[[str], str | None] = lambda _id: None  # a secret's customer-managed KMS key, if any


class UnmodelledCall(LookupError):
    pass


def _name(value: str, kind: str) -> str:
    """The last path element of an ARN (``cluster/name`` -> ``name``), or the name itself."""
    return value.rsplit(f"{kind}/", 1)[-1] if value.startswith("arn:") else value


def _check(prefix: str, action: str, resource_type: str | None) -> None:
    """The binding agrees with the reference: the action exists and is authorized against that resource type."""
    types = reference.resource_types(prefix, action)
    if resource_type is not None and resource_type not in types:
        raise UnmodelledCall(f"{prefix}:{action} is not authorized against {resource_type} (reference: {types})")


def _on(call: Call, prefix: str, action: str, resource_type: str | None, **values: str) -> str:
    """The ARN ``action`` is checked against: ``*`` when the reference lists no resource type for it."""
    _check(prefix, action, resource_type)
    if resource_type is None or not reference.resource_types(prefix, action):
        return "*"
    return reference.arn(prefix, resource_type, account=call.account, region=call.region, **values)


# -- per service -----------------------------------------------------------------------------------------------------
def _ecs(call: Call) -> list[Authorization]:
    p, op = call.params, call.operation
    cluster = _name(str(p.get("cluster", "default")), "cluster")
    cluster_arn = reference.arn("ecs", "cluster", account=call.account, region=call.region, ClusterName=cluster)
    on_cluster = {"ecs:cluster": cluster_arn}
    if op == "DescribeServices":
        return [
            Authorization(
                "ecs:DescribeServices",
                _on(call, "ecs", op, "service", ClusterName=cluster, ServiceName=_name(s, f"service/{cluster}")),
                on_cluster,
            )
            for s in p.get("services", [])
        ]
    if op == "DescribeTasks":
        return [
            Authorization(
                "ecs:DescribeTasks",
                _on(call, "ecs", op, "task", ClusterName=cluster, TaskId=_name(t, f"task/{cluster}")),
                on_cluster,
            )
            for t in p.get("tasks", [])
        ]
    if op == "ListTasks":
        instance = p.get("containerInstance")
        resource = (
            _on(
                call, "ecs", op, "container-instance", ClusterName=cluster, ContainerInstanceId=_name(instance, cluster)
            )
            if instance
            else "*"  # cluster-wide: authorized against * (the reference's container-instance does not apply)
        )
        return [Authorization("ecs:ListTasks", resource, on_cluster)]
    if op in ("CreateService", "UpdateService", "ListServiceDeployments"):
        service = _name(str(p.get("serviceName") or p.get("service")), f"service/{cluster}")
        context: dict[str, Any] = dict(on_cluster)
        if p.get("taskDefinition") and op != "ListServiceDeployments":
            context["ecs:task-definition"] = str(p["taskDefinition"])
        found = [
            Authorization(
                f"ecs:{op}", _on(call, "ecs", op, "service", ClusterName=cluster, ServiceName=service), context
            )
        ]
        return found + _passed_service_roles(p)
    if op in ("DescribeServiceDeployments", "DescribeServiceRevisions", "StopServiceDeployment"):
        kind = "service-revision" if op == "DescribeServiceRevisions" else "service-deployment"
        arns = p.get("serviceRevisionArns") or p.get("serviceDeploymentArns") or [p.get("serviceDeploymentArn")]
        return [_on_deployment_or_revision(call, op, kind, str(arn)) for arn in arns]
    if op in ("DescribeTaskDefinition", "DeregisterTaskDefinition", "ListTaskDefinitions"):
        return [Authorization(f"ecs:{op}", _on(call, "ecs", op, None))]
    if op == "RegisterTaskDefinition":
        family = str(p["family"])
        found = [
            Authorization(
                "ecs:RegisterTaskDefinition",
                _on(
                    call,
                    "ecs",
                    op,
                    "task-definition",
                    TaskDefinitionFamilyName=family,
                    TaskDefinitionRevisionNumber="*",
                ),
            )
        ]
        for key in ("taskRoleArn", "executionRoleArn"):  # passing a role to ECS: iam:PassRole (ECS developer guide)
            if p.get(key):
                found.append(
                    Authorization("iam:PassRole", str(p[key]), {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
                )
        if p.get("tags"):  # tag on create: ecs:TagResource with ecs:CreateAction (ECS developer guide)
            found.append(
                Authorization(
                    "ecs:TagResource",
                    reference.arn(
                        "ecs",
                        "task-definition",
                        account=call.account,
                        region=call.region,
                        TaskDefinitionFamilyName=family,
                        TaskDefinitionRevisionNumber="*",
                    ),
                    {"ecs:CreateAction": "RegisterTaskDefinition"},
                )
            )
        return found
    raise UnmodelledCall(f"ecs:{op}")


def _on_deployment_or_revision(call: Call, op: str, kind: str, arn: str) -> Authorization:
    """A service deployment or revision ARN (``.../<cluster>/<service>/<id>``) with the condition keys the reference
    lists for it: ``ecs:cluster`` and ``ecs:service``."""
    cluster, service, identifier = ([*arn.split(":", 5)[-1].split("/", 1)[-1].split("/"), "", "", ""])[:3]
    values = {"ClusterName": cluster, "ServiceName": service}
    values["ServiceRevisionId" if kind == "service-revision" else "ServiceDeploymentId"] = identifier
    cluster_arn = reference.arn("ecs", "cluster", account=call.account, region=call.region, ClusterName=cluster)
    service_arn = reference.arn(
        "ecs", "service", account=call.account, region=call.region, ClusterName=cluster, ServiceName=service
    )
    return Authorization(
        f"ecs:{op}", _on(call, "ecs", op, kind, **values), {"ecs:cluster": cluster_arn, "ecs:service": service_arn}
    )


def _passed_service_roles(p: dict[str, Any]) -> list[Authorization]:
    """Roles a service hands to ECS: the load balancer role of ``advancedConfiguration`` and each lifecycle hook's
    role need ``iam:PassRole`` (ECS Developer Guide, blue/green permissions)."""
    roles = [
        str(balancer["advancedConfiguration"]["roleArn"])
        for balancer in p.get("loadBalancers") or []
        if (balancer.get("advancedConfiguration") or {}).get("roleArn")
    ]
    roles += [
        str(hook["roleArn"])
        for hook in (p.get("deploymentConfiguration") or {}).get("lifecycleHooks") or []
        if hook.get("roleArn")
    ]
    return [Authorization("iam:PassRole", role, {"iam:PassedToService": "ecs.amazonaws.com"}) for role in roles]


def _ecr(call: Call) -> list[Authorization]:
    op = call.operation
    if op in ("BatchGetImage", "GetDownloadUrlForLayer", "DescribeImages", "DescribeImageScanFindings"):
        account = str(call.params.get("registryId") or call.account)  # another account's registry: its ARN
        repository = str(call.params["repositoryName"])
        arn = reference.arn("ecr", "repository", account=account, region=call.region, RepositoryName=repository)
        _check("ecr", op, "repository")
        return [Authorization(f"ecr:{op}", arn)]
    raise UnmodelledCall(f"ecr:{op}")


def _group_arn(call: Call, application: str, group: str) -> str:
    return reference.arn(
        "codedeploy",
        "deploymentgroup",
        account=call.account,
        region=call.region,
        ApplicationName=application,
        DeploymentGroupName=group,
    )


def _codedeploy(call: Call) -> list[Authorization]:
    p, op = call.params, call.operation
    if op in ("GetDeploymentGroup", "ListDeployments", "CreateDeployment"):
        application, group = str(p.get("applicationName")), str(p.get("deploymentGroupName"))
        _check("codedeploy", op, "deploymentgroup")
        found = [Authorization(f"codedeploy:{op}", _group_arn(call, application, group))]
        if op == "CreateDeployment":
            found += _create_deployment_dependencies(call, application, group)
        return found
    if op == "GetDeployment":
        owner = call.deployment_group_of(str(p.get("deploymentId")))
        _check("codedeploy", op, "deploymentgroup")
        if owner is None:  # no such deployment: nothing to authorize against; the service says it does not exist
            return []
        return [Authorization("codedeploy:GetDeployment", _group_arn(call, *owner))]
    if op in ("StopDeployment", "PutLifecycleEventHookExecutionStatus", "ContinueDeployment"):
        return [Authorization(f"codedeploy:{op}", _on(call, "codedeploy", op, None))]
    if op == "GetDeploymentConfig":
        name = str(p["deploymentConfigName"])
        return [
            Authorization(
                "codedeploy:GetDeploymentConfig",
                _on(call, "codedeploy", op, "deploymentconfig", DeploymentConfigurationName=name),
            )
        ]
    raise UnmodelledCall(f"codedeploy:{op}")


def _create_deployment_dependencies(call: Call, application: str, group: str) -> list[Authorization]:
    """What CreateDeployment needs beyond itself (CodeDeploy permissions reference, BOTO CreateDeploymentInput)."""
    p = call.params
    found = []
    if p.get("overrideAlarmConfiguration") is not None:  # "you need the UpdateDeploymentGroup IAM permission"
        found.append(Authorization("codedeploy:UpdateDeploymentGroup", _group_arn(call, application, group)))
    config = p.get("deploymentConfigName")
    if config:
        found.append(
            Authorization(
                "codedeploy:GetDeploymentConfig",
                reference.arn(
                    "codedeploy",
                    "deploymentconfig",
                    account=call.account,
                    region=call.region,
                    DeploymentConfigurationName=str(config),
                ),
            )
        )
    application_arn = reference.arn(
        "codedeploy", "application", account=call.account, region=call.region, ApplicationName=application
    )
    found += [
        Authorization("codedeploy:RegisterApplicationRevision", application_arn),
        Authorization("codedeploy:GetApplicationRevision", application_arn),
    ]
    return found


def _dynamodb(call: Call) -> list[Authorization]:
    p, op = call.params, call.operation

    def table(name: str) -> str:
        return reference.arn("dynamodb", "table", account=call.account, region=call.region, TableName=name)

    if op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        _check("dynamodb", op, "table")
        return [Authorization(f"dynamodb:{op}", table(str(p["TableName"])))]
    if op == "Query":
        if p.get("IndexName"):
            _check("dynamodb", op, "index")
            arn = reference.arn(
                "dynamodb",
                "index",
                account=call.account,
                region=call.region,
                TableName=str(p["TableName"]),
                IndexName=str(p["IndexName"]),
            )
            return [Authorization("dynamodb:Query", arn)]
        return [Authorization("dynamodb:Query", table(str(p["TableName"])))]
    if op == "TransactWriteItems":  # authorized item by item (DynamoDB developer guide, transactions and IAM)
        kinds = {
            "ConditionCheck": "ConditionCheckItem",
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
        }
        found = []
        for item in p.get("TransactItems", []):
            for kind, body in item.items():
                _check("dynamodb", kinds[kind], "table")
                found.append(Authorization(f"dynamodb:{kinds[kind]}", table(str(body["TableName"]))))
        return found
    raise UnmodelledCall(f"dynamodb:{op}")


def _ssm(call: Call) -> list[Authorization]:
    p, op = call.params, call.operation
    if op in ("GetParametersByPath", "GetParameter", "PutParameter"):
        name = str(p.get("Path") or p.get("Name"))
        arn = _on(call, "ssm", op, "parameter", ParameterNameWithoutLeadingSlash=name.lstrip("/"))
        return [Authorization(f"ssm:{op}", arn, {"ssm:Recursive": str(p.get("Recursive", False)).lower()})]
    raise UnmodelledCall(f"ssm:{op}")


def _cloudwatch(call: Call) -> list[Authorization]:
    p, op = call.params, call.operation
    if op == "DescribeAlarms":
        names = p.get("AlarmNames") or []
        _check("cloudwatch", op, "alarm")
        found = [
            Authorization(
                "cloudwatch:DescribeAlarms",
                reference.arn("cloudwatch", "alarm", account=call.account, region=call.region, AlarmName=str(n)),
            )
            for n in names
        ] or [Authorization("cloudwatch:DescribeAlarms", "*")]
        if "CompositeAlarm" in (p.get("AlarmTypes") or []):
            # "return information about composite alarms ... permission that is scoped to *": narrower scope
            # answers without them (BOTO cloudwatch DescribeAlarms).
            found.append(Authorization("cloudwatch:DescribeAlarms", "*", on_deny="drop-composite-alarms"))
        return found
    if op in ("GetMetricData", "GetMetricStatistics", "PutMetricData"):
        return [Authorization(f"cloudwatch:{op}", "*")]
    raise UnmodelledCall(f"cloudwatch:{op}")


def _elbv2(call: Call) -> list[Authorization]:
    op = call.operation
    if op.startswith("Describe"):
        return [Authorization(f"elasticloadbalancing:{op}", _on(call, "elasticloadbalancing", op, None))]
    raise UnmodelledCall(f"elasticloadbalancing:{op}")


def _sns(call: Call) -> list[Authorization]:
    if call.operation == "Publish":
        _check("sns", "Publish", "topic")
        return [Authorization("sns:Publish", str(call.params.get("TopicArn")))]
    raise UnmodelledCall(f"sns:{call.operation}")


def _secretsmanager(call: Call) -> list[Authorization]:
    if call.operation == "GetSecretValue":
        _check("secretsmanager", "GetSecretValue", "Secret")
        secret = str(call.params.get("SecretId"))
        needed = [Authorization("secretsmanager:GetSecretValue", secret)]
        key = call.secret_key_of(secret)
        if key:  # a customer-managed key: Secrets Manager decrypts with the caller's own kms:Decrypt
            if not key.startswith("arn:"):
                key = f"arn:aws:kms:{call.region}:{call.account}:key/{key}"
            _check("kms", "Decrypt", "key")
            via = f"secretsmanager.{call.region}.amazonaws.com"
            needed.append(Authorization("kms:Decrypt", key, {"kms:ViaService": via}))
        return needed
    raise UnmodelledCall(f"secretsmanager:{call.operation}")


def _scheduler(call: Call) -> list[Authorization]:
    if call.operation == "CreateSchedule":
        p = call.params
        group, name = str(p.get("GroupName") or "default"), str(p["Name"])
        needed = [
            Authorization(
                "scheduler:CreateSchedule",
                _on(call, "scheduler", "CreateSchedule", "schedule", GroupName=group, ScheduleName=name),
            )
        ]
        role = (p.get("Target") or {}).get("RoleArn")
        if role:  # the schedule's execution role is passed to Scheduler (Scheduler User Guide, setting up)
            _check("iam", "PassRole", "role")
            needed.append(Authorization("iam:PassRole", str(role), {"iam:PassedToService": "scheduler.amazonaws.com"}))
        return needed
    raise UnmodelledCall(f"scheduler:{call.operation}")


def _lambda(call: Call) -> list[Authorization]:
    if call.operation == "Invoke":  # the IAM action is lambda:InvokeFunction
        name = str(call.params["FunctionName"])
        function = name.split(":function:", 1)[-1].split(":", 1)[0] if name.startswith("arn:") else name
        return [
            Authorization(
                "lambda:InvokeFunction", _on(call, "lambda", "InvokeFunction", "function", FunctionName=function)
            )
        ]
    raise UnmodelledCall(f"lambda:{call.operation}")


SERVICES: dict[str, Callable[[Call], list[Authorization]]] = {
    "ecs": _ecs,
    "ecr": _ecr,
    "codedeploy": _codedeploy,
    "dynamodb": _dynamodb,
    "ssm": _ssm,
    "cloudwatch": _cloudwatch,
    "elbv2": _elbv2,
    "sns": _sns,
    "secretsmanager": _secretsmanager,
    "scheduler": _scheduler,
    "lambda": _lambda,
}


def authorizations(call: Call) -> list[Authorization]:
    """Everything IAM checks for ``call``; :class:`UnmodelledCall` when this world does not know the operation."""
    if (call.service, call.operation) in UNAUTHORIZED_OPERATIONS:
        return []
    handler = SERVICES.get(call.service)
    if handler is None:
        raise UnmodelledCall(f"{PREFIX.get(call.service, call.service)}:{call.operation}")
    return handler(call)
