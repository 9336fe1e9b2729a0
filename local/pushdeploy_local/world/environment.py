"""The sample environment: what a real account would have before pushdeploy's first push.

Creates, through whatever AWS endpoint boto3 is pointed at (moto in-process for tests, moto server for
the rehearsal), an ECR repository, an ECS service with the CODE_DEPLOY controller behind an ALB with a
production and a test listener and two target groups, a CloudWatch alarm, a CodeDeploy application and
deployment group, the ledger table and the target document in SSM.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pushdeploy import aws

from pushdeploy_local.world.bus import load_template

Controller = Literal["CODE_DEPLOY", "BLUE_GREEN", "LINEAR", "CANARY", "ROLLING"]
CONTROLLERS: tuple[Controller, ...] = ("CODE_DEPLOY", "BLUE_GREEN", "LINEAR", "CANARY", "ROLLING")
# the hook stages a native environment's one lifecycle hook runs at
HOOK_STAGES = (
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
)


@dataclass
class EnvironmentSpec:
    region: str = "us-east-1"
    stage: str = "local"
    repository: str = "sample-app"
    target: str = "sample-app-prod"
    tag_pattern: str = r"^(main|v\d+\.\d+\.\d+)$"
    cluster: str = "sample-cluster"
    service: str = "sample-app"
    container_name: str = "web"
    container_port: int = 8080
    application: str = "sample-app"
    deployment_group: str = "sample-app-prod"
    deployment_config: str = "CodeDeployDefault.ECSCanary10Percent5Minutes"
    alarm: str = "sample-app-5xx"
    table: str = "pushdeploy-ledger"
    on_busy: str = "queue-latest"
    watch_minutes: int = 30
    termination_wait_minutes: int = 5
    desired_count: int = 2
    with_test_listener: bool = True
    target_overrides: dict[str, Any] = field(default_factory=dict)
    # a world built from the user's targets: the target's own document, its group's alarms (with their rules),
    # the group's default deployment config, and the tag of the release live at the start
    document: dict[str, Any] | None = None
    alarms: tuple[str, ...] = ()
    alarm_rules: dict[str, dict[str, Any]] = field(default_factory=dict)  # alarm -> put_metric_alarm settings
    initial_tag: str = "v1.0.0"
    network: int = 20  # the second octet of this environment's VPC (10.<network>.0.0/16)
    # who deploys the service: CodeDeploy (CODE_DEPLOY), or ECS itself with one of its strategies
    controller: Controller = "CODE_DEPLOY"
    bake_minutes: int = 2  # bakeTimeInMinutes (required for BLUE_GREEN)
    linear_step_percent: float = 25.0
    linear_step_bake_minutes: int = 1
    canary_percent: float = 10.0
    canary_bake_minutes: int = 2
    hook_timeout_minutes: int | None = None  # None: ECS's default (1440)
    stack: str = "pushdeploy-local"  # the stack whose hook function and invoke role the native service names

    @property
    def native(self) -> bool:
        """ECS deploys the service itself (deploymentController ECS)."""
        return self.controller != "CODE_DEPLOY"

    @property
    def targets_path(self) -> str:
        return f"/pushdeploy/{self.stage}/targets/"

    @property
    def watched_alarms(self) -> tuple[str, ...]:
        """The deployment group's alarms."""
        return self.alarms or (self.alarm,)


@dataclass
class WorldSetup:
    """What the world builds: one environment per target, and the custom deployment configs they use."""

    specs: list[EnvironmentSpec]
    deployment_configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> trafficRoutingConfig


@dataclass
class Environment:
    spec: EnvironmentSpec
    account: str
    vpc_id: str
    subnets: list[str]
    security_group: str
    load_balancer_arn: str
    load_balancer_dns: str
    target_group_arns: dict[str, str]  # name -> arn
    prod_listener_arn: str
    test_listener_arn: str | None
    task_definition_arn: str
    execution_role_arn: str
    prod_rule_arn: str | None = None  # a native environment's listener rules (ECS moves their weights)
    test_rule_arn: str | None = None
    elb_role_arn: str | None = None  # advancedConfiguration.roleArn: lets ECS change the rules

    def target_document(self) -> dict[str, Any]:
        spec = self.spec
        if spec.document is not None:
            return dict(spec.document)
        document: dict[str, Any] = {
            "name": spec.target,
            "repository": spec.repository,
            "tag_pattern": spec.tag_pattern,
            "container_name": spec.container_name,
            "container_port": spec.container_port,
            "on_busy": spec.on_busy,
            "rollback": {"watch_minutes_after_success": spec.watch_minutes, "auto_revert": True},
        }
        if spec.native:  # ECS deploys it: the target names the service, there is no CodeDeploy group
            document.update(cluster=spec.cluster, service=spec.service)
        else:
            document.update(
                application=spec.application,
                deployment_group=spec.deployment_group,
                deployment_config=spec.deployment_config,
            )
        document.update(spec.target_overrides)
        return document

    def put_target(self, document: dict[str, Any] | None = None, name: str | None = None) -> None:
        document = document if document is not None else self.target_document()
        aws.client("ssm").put_parameter(
            Name=self.spec.targets_path + (name or document.get("name") or self.spec.target),
            Value=json.dumps(document),
            Type="String",
            Overwrite=True,
        )


def create_ledger_table(name: str) -> None:
    """The ledger table exactly as template.yaml declares it (keys, index, billing, TTL)."""
    properties = load_template()["Resources"]["LedgerTable"]["Properties"]
    ddb = aws.client("dynamodb")
    ddb.create_table(
        TableName=name,
        **{k: properties[k] for k in ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "BillingMode")},
    )
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=properties["TimeToLiveSpecification"])


def _create_unless_there(create: Any, exists: str, **kwargs: Any) -> None:
    """Shared resources (a repository or an application two targets use) are created by the first."""
    try:
        create(**kwargs)
    except Exception as exc:
        if exists not in type(exc).__name__ and exists not in str(exc):
            raise


def build(
    spec: EnvironmentSpec, *, codedeploy: Any | None = None, first: bool = True, with_service: bool = True
) -> Environment:
    """Create one target's environment (the sample by default); ``first`` also creates what targets share (the
    ledger table); ``codedeploy`` defaults to the process-wide client. A native environment's service is created
    only ``with_service`` (the world creates it itself, on the image it publishes)."""
    ec2, elb, ecs, ecr = (aws.client(s) for s in ("ec2", "elbv2", "ecs", "ecr"))
    iam = aws.client("iam")
    cd = codedeploy or aws.client("codedeploy")
    account = aws.client("sts").get_caller_identity()["Account"]

    if first:
        create_ledger_table(spec.table)
    _create_unless_there(
        ecr.create_repository,
        "RepositoryAlreadyExists",
        repositoryName=spec.repository,
        imageScanningConfiguration={"scanOnPush": True},
    )

    net = spec.network
    vpc_id = ec2.create_vpc(CidrBlock=f"10.{net}.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.{net}.{i}.0/24", AvailabilityZone=f"{spec.region}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    security_group = ec2.create_security_group(GroupName=spec.service, Description=spec.service, VpcId=vpc_id)[
        "GroupId"
    ]
    lb = elb.create_load_balancer(
        Name=spec.service[:32], Subnets=subnets, SecurityGroups=[security_group], Scheme="internal", Type="application"
    )["LoadBalancers"][0]
    target_groups = {}
    for colour in ("blue", "green"):
        name = f"{spec.service}-{colour}"
        target_groups[name] = elb.create_target_group(
            Name=name,
            Protocol="HTTP",
            Port=spec.container_port,
            VpcId=vpc_id,
            TargetType="ip",
            HealthCheckPath="/health",
        )["TargetGroups"][0]["TargetGroupArn"]
    blue_arn = target_groups[f"{spec.service}-blue"]
    forward = [{"Type": "forward", "TargetGroupArn": blue_arn}]
    prod = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=forward)[
        "Listeners"
    ][0]["ListenerArn"]
    test = None
    if spec.with_test_listener:
        test = elb.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=8080, DefaultActions=forward
        )["Listeners"][0]["ListenerArn"]

    role = iam.create_role(
        RoleName=f"{spec.service}-ecs-task-execution"[:64],
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ecs-tasks.amazonaws.com"}}
                ],
            }
        ),
    )["Role"]["Arn"]
    _create_unless_there(ecs.create_cluster, "ClusterAlreadyExists", clusterName=spec.cluster)
    task_definition_arn = ecs.register_task_definition(
        family=spec.service,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        executionRoleArn=role,
        runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        containerDefinitions=[
            {
                "name": spec.container_name,
                "image": f"{account}.dkr.ecr.{spec.region}.amazonaws.com/{spec.repository}:bootstrap",
                "memory": 512,
                "essential": True,
                "stopTimeout": 30,
                "portMappings": [{"containerPort": spec.container_port, "protocol": "tcp"}],
                "environment": [{"name": "APP_ENV", "value": "production"}],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": f"/ecs/{spec.service}",
                        "awslogs-region": spec.region,
                        "awslogs-stream-prefix": "web",
                    },
                },
            }
        ],
        tags=[{"key": "team", "value": "payments"}, {"key": "cost-center", "value": "1234"}],
    )["taskDefinition"]["taskDefinitionArn"]
    if spec.native:
        environment = Environment(
            spec=spec,
            account=account,
            vpc_id=vpc_id,
            subnets=subnets,
            security_group=security_group,
            load_balancer_arn=lb["LoadBalancerArn"],
            load_balancer_dns=lb["DNSName"],
            target_group_arns=target_groups,
            prod_listener_arn=prod,
            test_listener_arn=test,
            task_definition_arn=task_definition_arn,
            execution_role_arn=role,
            **_listener_rules(spec, prod, test, blue_arn),
        )
        _put_alarms(spec, lb["LoadBalancerArn"])
        if with_service:
            create_native_service(environment, task_definition_arn)
        environment.put_target()
        return environment
    ecs.create_service(
        cluster=spec.cluster,
        serviceName=spec.service,
        taskDefinition=task_definition_arn,
        desiredCount=spec.desired_count,
        deploymentController={"type": "CODE_DEPLOY"},
        launchType="FARGATE",
        loadBalancers=[
            {"targetGroupArn": blue_arn, "containerName": spec.container_name, "containerPort": spec.container_port}
        ],
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [security_group]}},
    )

    _put_alarms(spec, lb["LoadBalancerArn"])

    _create_unless_there(
        cd.create_application, "ApplicationAlreadyExists", applicationName=spec.application, computePlatform="ECS"
    )
    route: dict[str, Any] = {
        "targetGroups": [{"name": n} for n in target_groups],
        "prodTrafficRoute": {"listenerArns": [prod]},
    }
    if test:
        route["testTrafficRoute"] = {"listenerArns": [test]}
    cd.create_deployment_group(
        applicationName=spec.application,
        deploymentGroupName=spec.deployment_group,
        deploymentConfigName=spec.deployment_config,
        serviceRoleArn=f"arn:aws:iam::{account}:role/ecsCodeDeployRole",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        blueGreenDeploymentConfiguration={
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT", "waitTimeInMinutes": 0},
            "terminateBlueInstancesOnDeploymentSuccess": {
                "action": "TERMINATE",
                "terminationWaitTimeInMinutes": spec.termination_wait_minutes,
            },
        },
        loadBalancerInfo={"targetGroupPairInfoList": [route]},
        ecsServices=[{"serviceName": spec.service, "clusterName": spec.cluster}],
        alarmConfiguration={
            "enabled": True,
            "ignorePollAlarmFailure": False,
            "alarms": [{"name": alarm} for alarm in spec.watched_alarms],
        },
        autoRollbackConfiguration={
            "enabled": True,
            "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"],
        },
    )
    environment = Environment(
        spec=spec,
        account=account,
        vpc_id=vpc_id,
        subnets=subnets,
        security_group=security_group,
        load_balancer_arn=lb["LoadBalancerArn"],
        load_balancer_dns=lb["DNSName"],
        target_group_arns=target_groups,
        prod_listener_arn=prod,
        test_listener_arn=test,
        task_definition_arn=task_definition_arn,
        execution_role_arn=role,
    )
    environment.put_target()
    return environment


def _put_alarms(spec: EnvironmentSpec, load_balancer_arn: str) -> None:
    """The environment's 5xx alarms on its load balancer (the CodeDeploy group's, or the native service's)."""
    cloudwatch = aws.client("cloudwatch")
    for alarm in spec.watched_alarms:
        rule = {
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 3,  # 2 of the last 3 minutes: the alarm outlives the errors by a minute, and can flap
            "DatapointsToAlarm": 2,
            "Threshold": 5,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
        } | spec.alarm_rules.get(alarm, {})
        cloudwatch.put_metric_alarm(
            AlarmName=alarm,
            Namespace="AWS/ApplicationELB",
            MetricName="HTTPCode_Target_5XX_Count",
            Dimensions=[{"Name": "LoadBalancer", "Value": load_balancer_arn.split(":loadbalancer/")[-1]}],
            **rule,
        )


def _listener_rules(spec: EnvironmentSpec, prod: str, test: str | None, blue: str) -> dict[str, Any]:
    """A native environment's production and test listener rules (ECS moves weights on rules, not on listeners:
    BOTO ``AdvancedConfiguration``), and the role that lets ECS change them."""
    elb, iam = aws.client("elbv2"), aws.client("iam")
    forward = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": blue, "Weight": 100}]}}]
    everything = [{"Field": "path-pattern", "Values": ["/*"]}]
    rules: dict[str, Any] = {
        "prod_rule_arn": elb.create_rule(ListenerArn=prod, Priority=1, Conditions=everything, Actions=forward)["Rules"][
            0
        ]["RuleArn"]
    }
    if test and spec.controller != "ROLLING":
        rules["test_rule_arn"] = elb.create_rule(ListenerArn=test, Priority=1, Conditions=everything, Actions=forward)[
            "Rules"
        ][0]["RuleArn"]
    rules["elb_role_arn"] = iam.create_role(
        RoleName=f"{spec.service}-ecs-infrastructure-elb"[:64],
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ecs.amazonaws.com"}}
                ],
            }
        ),
    )["Role"]["Arn"]
    iam.put_role_policy(  # what the AWS-managed AmazonECSInfrastructureRolePolicyForLoadBalancers grants (moto
        # has no copy of it)
        RoleName=f"{spec.service}-ecs-infrastructure-elb"[:64],
        PolicyName="load-balancers",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "elasticloadbalancing:DescribeListeners",
                            "elasticloadbalancing:DescribeRules",
                            "elasticloadbalancing:DescribeTargetGroups",
                            "elasticloadbalancing:ModifyListener",
                            "elasticloadbalancing:ModifyRule",
                            "elasticloadbalancing:RegisterTargets",
                            "elasticloadbalancing:DeregisterTargets",
                        ],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    return rules


def native_configuration(spec: EnvironmentSpec, account: str) -> dict[str, Any]:
    """The service's deploymentConfiguration: the strategy and its settings, the watched alarms with rollback, one
    lifecycle hook (the stack's ``<stack>-ecs-hook`` invoked as ``<stack>-EcsHookInvokeRole``); for ROLLING the
    deployment circuit breaker with rollback instead of a hook."""
    configuration: dict[str, Any] = {
        "strategy": spec.controller,
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
        "alarms": {"alarmNames": list(spec.watched_alarms), "enable": True, "rollback": True},
    }
    if spec.controller == "ROLLING":
        configuration["deploymentCircuitBreaker"] = {"enable": True, "rollback": True}
        return configuration
    configuration["bakeTimeInMinutes"] = spec.bake_minutes
    if spec.controller == "LINEAR":
        configuration["linearConfiguration"] = {
            "stepPercent": spec.linear_step_percent,
            "stepBakeTimeInMinutes": spec.linear_step_bake_minutes,
        }
    if spec.controller == "CANARY":
        configuration["canaryConfiguration"] = {
            "canaryPercent": spec.canary_percent,
            "canaryBakeTimeInMinutes": spec.canary_bake_minutes,
        }
    hook: dict[str, Any] = {
        "targetType": "AWS_LAMBDA",
        "hookTargetArn": f"arn:aws:lambda:{spec.region}:{account}:function:{spec.stack}-ecs-hook",
        "roleArn": f"arn:aws:iam::{account}:role/{spec.stack}-EcsHookInvokeRole",
        "lifecycleStages": list(HOOK_STAGES),
    }
    if spec.hook_timeout_minutes is not None:
        hook["timeoutConfiguration"] = {"timeoutInMinutes": spec.hook_timeout_minutes, "action": "ROLLBACK"}
    configuration["lifecycleHooks"] = [hook]
    return configuration


def create_native_service(environment: Environment, task_definition: str) -> dict[str, Any]:
    """The service with the ECS deployment controller, through the ECS front (``AWS_ENDPOINT_URL_ECS``)."""
    spec = environment.spec
    balancer: dict[str, Any] = {
        "targetGroupArn": environment.target_group_arns[f"{spec.service}-blue"],
        "containerName": spec.container_name,
        "containerPort": spec.container_port,
    }
    if spec.controller != "ROLLING":
        advanced = {
            "alternateTargetGroupArn": environment.target_group_arns[f"{spec.service}-green"],
            "productionListenerRule": environment.prod_rule_arn,
            "roleArn": environment.elb_role_arn,
        }
        if environment.test_rule_arn:
            advanced["testListenerRule"] = environment.test_rule_arn
        balancer["advancedConfiguration"] = advanced
    return dict(
        aws.client("ecs").create_service(
            cluster=spec.cluster,
            serviceName=spec.service,
            taskDefinition=task_definition,
            desiredCount=spec.desired_count,
            deploymentController={"type": "ECS"},
            deploymentConfiguration=native_configuration(spec, environment.account),
            launchType="FARGATE",
            loadBalancers=[balancer],
            networkConfiguration={
                "awsvpcConfiguration": {"subnets": environment.subnets, "securityGroups": [environment.security_group]}
            },
        )["service"]
    )
