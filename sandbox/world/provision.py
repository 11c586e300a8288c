"""Creates an account's resources from the topology, through boto3, as a team's infrastructure
code would: IAM roles, Lambda functions, SQS queues and their DLQs, event source mappings,
EventBridge rules and targets, Step Functions state machines and DynamoDB tables.

Provisioning is idempotent and converges: each resource is read first and created only when
missing, or updated only where its configuration differs from the topology, so a second run
makes no changes. Tags are applied when a resource is created and are not converged.

Nothing here reaches into moto. Where moto 5.2.5 does not behave like AWS the code still makes
the AWS call and says so in a comment (search for "moto:"):

- Lambda drops ``DeadLetterConfig`` (CreateFunction and UpdateFunctionConfiguration accept it,
  GetFunctionConfiguration never returns it) and UpdateFunctionConfiguration ignores
  ``TracingConfig``.
- SQS accepts ``RedriveAllowPolicy`` and drops it (GetQueueAttributes never returns it).
- Lambda's CreateEventSourceMapping does not reject a queue whose visibility timeout is below the
  function's timeout, as AWS does ("Queue visibility timeout: 30 seconds is less than Function
  timeout: 60 seconds"); nor a second mapping for the same queue and function; nor AddPermission
  with a statement id that exists. The code checks for existing mappings and statements itself.
- PutFunctionEventInvokeConfig appends instead of replacing, and GetFunctionEventInvokeConfig
  returns the first one, so a changed async configuration is not visible on moto.
- CreateStateMachine with an existing name returns the existing machine even when the definition
  differs (AWS raises StateMachineAlreadyExists); the code describes before creating.
- ListEventSourceMappings matches FunctionName against the exact string given at creation (AWS
  resolves a name or an ARN); the code filters by queue and compares FunctionArn itself.
- With an enabled SQS mapping, moto's SendMessage to that queue receives the batch at once and
  tries to run the function in Docker; without Docker the receive still counts, so after
  maxReceiveCount sends moto moves messages to the DLQ. Messages the world needs in a source
  queue must not go through SendMessage while mappings are enabled.

On real AWS, the topology's ``refunds`` queue (visibility timeout 30 s, consumer timeout 60 s)
would make CreateEventSourceMapping fail: AWS requires visibility timeout >= function timeout.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import zipfile
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from sandbox.world.topology import DependencyKind

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from sandbox.world.topology import (
        Account,
        EventRule,
        Function,
        Queue,
        RuleTarget,
        StateMachine,
    )

LAMBDA_ROLE = "stormwatch-world-lambda"
STATES_ROLE = "stormwatch-world-states"
RUNTIME = "python3.12"
HANDLER = "handler.handler"
SCHEDULE = "rate(1 minute)"
DEPENDENCY_TABLE_KEY = "pk"
# Queues that only ever receive failures (EventBridge target DLQs, Lambda on-failure destinations,
# Lambda DeadLetterConfig targets) keep messages as long as SQS allows.
FAILURE_QUEUE_RETENTION_S = 1_209_600
STATE_RETRY: dict[str, Any] = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ],
    "IntervalSeconds": 1,
    "BackoffRate": 2.0,
    "MaxAttempts": 3,
    "JitterStrategy": "FULL",
}
APPS = {"prod": "orders", "staging": "checkout"}
TEAMS = {
    "orders-api": "orders",
    "order-events-publisher": "orders",
    "payment-processor": "payments",
    "refund-handler": "payments",
    "inventory-reserver": "fulfilment",
    "stock-allocator": "fulfilment",
    "shipping-scheduler": "fulfilment",
    "fraud-check": "risk",
    "email-sender": "notifications",
    "invoice-generator": "billing",
    "breaker-health-check": "platform",
}

_HANDLER_SOURCE = '''"""A stand-in handler: the sandbox simulates what the function does."""

import os


def handler(event, context):
    if isinstance(event, dict) and "Records" in event:
        return {"batchItemFailures": []}  # SQS partial batch response: nothing failed
    return {"ok": True, "service": os.environ.get("POWERTOOLS_SERVICE_NAME")}
'''

_LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
_STATES_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


class ProvisionError(RuntimeError):
    """The topology cannot be provisioned with the clients given."""


@dataclass(frozen=True, slots=True)
class Provisioned:
    """Handles on what :func:`provision` created, by topology name."""

    account: str
    account_id: str
    region: str
    lambda_role_arn: str
    states_role_arn: str | None
    functions: Mapping[str, str]  # function name -> function ARN
    queue_urls: Mapping[str, str]  # queue name -> URL (source queues, DLQs, failure queues)
    queue_arns: Mapping[str, str]  # queue name -> ARN
    event_source_mappings: Mapping[str, str]  # source queue name -> mapping UUID
    rules: Mapping[str, str]  # rule name -> rule ARN (default bus), schedule rules included
    state_machines: Mapping[str, str]  # machine name -> state machine ARN
    tables: Mapping[str, str]  # table name -> table ARN (breaker table and dependency tables)
    breaker_table: str  # the breaker table's name


# -- the plan: pure functions of the topology ---------------------------------------------------


def handler_zip() -> bytes:
    """The deployment package: one ``handler.py``, byte-for-byte stable so CodeSha256 is too."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("handler.py", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, _HANDLER_SOURCE)
    return buffer.getvalue()


def code_sha256(package: bytes) -> str:
    """Lambda's CodeSha256: base64 of the package's SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(package).digest()).decode()


def schedule_rule_name(function: Function) -> str:
    return f"{function.name}-schedule"


def function_tags(account: Account, function: Function) -> dict[str, str]:
    return {
        "app": APPS.get(account.name, account.name),
        "team": TEAMS.get(function.name, APPS.get(account.name, account.name)),
        "stormwatch:account": account.name,
    }


def resource_tags(account: Account) -> dict[str, str]:
    return {"app": APPS.get(account.name, account.name), "stormwatch:account": account.name}


def _env_prefix(dependency: str) -> str:
    return dependency.upper().replace("-", "_")


def function_environment(account: Account, function: Function) -> dict[str, str]:
    """Environment variables: where each dependency is and how the code retries it.

    The retry settings are what the function's code reads, so a caller that retries without
    backoff (``*_BACKOFF_BASE_MS=0``, ``*_BACKOFF_JITTER=false``) is visible in its configuration.
    """
    env = {
        "STAGE": account.name,
        "POWERTOOLS_SERVICE_NAME": function.name,
        "BREAKER_TABLE": account.breaker_table.name,
    }
    for call in function.calls:
        dependency = account.dependency(call.dependency)
        prefix = _env_prefix(dependency.name)
        if dependency.kind is DependencyKind.DYNAMODB:
            env[f"{prefix}_TABLE"] = dependency.host
        else:
            env[f"{prefix}_URL"] = f"https://{dependency.host}"
        env[f"{prefix}_MAX_ATTEMPTS"] = str(call.retry.max_attempts)
        env[f"{prefix}_BACKOFF_BASE_MS"] = str(call.retry.base_ms)
        env[f"{prefix}_BACKOFF_CAP_MS"] = str(call.retry.cap_ms)
        env[f"{prefix}_BACKOFF_JITTER"] = "true" if call.retry.jitter else "false"
        if call.breaker is not None:
            env[f"{prefix}_BREAKER"] = call.breaker
    return env


@dataclass(frozen=True, slots=True)
class QueuePlan:
    name: str
    attributes: Mapping[str, str]


def _arn(partition: str, service: str, account: Account, resource: str) -> str:
    return f"arn:{partition}:{service}:{account.region}:{account.account_id}:{resource}"


def queue_plan(account: Account, partition: str = "aws") -> tuple[QueuePlan, ...]:
    """Every queue the account needs, DLQs before the queues that redrive into them."""

    def sqs_arn(name: str) -> str:
        return _arn(partition, "sqs", account, name)

    plans: dict[str, QueuePlan] = {}
    sources_by_dlq: dict[str, list[str]] = {}
    for queue in account.queues:
        sources_by_dlq.setdefault(queue.dlq, []).append(sqs_arn(queue.name))
    for queue in account.queues:
        plans.setdefault(
            queue.dlq,
            QueuePlan(
                queue.dlq,
                {
                    "MessageRetentionPeriod": str(queue.dlq_retention_s),
                    # moto: accepted and dropped; GetQueueAttributes never returns it.
                    "RedriveAllowPolicy": json.dumps(
                        {
                            "redrivePermission": "byQueue",
                            "sourceQueueArns": sorted(sources_by_dlq[queue.dlq]),
                        }
                    ),
                },
            ),
        )
    rules_by_dlq: dict[str, list[str]] = {}
    for rule in account.rules:
        if rule.target.dlq is not None:
            rules_by_dlq.setdefault(rule.target.dlq, []).append(
                _arn(partition, "events", account, f"rule/{rule.name}")
            )
    failure_queues = [
        *rules_by_dlq,
        *(
            f.async_config.on_failure_queue
            for f in account.functions
            if f.async_config and f.async_config.on_failure_queue
        ),
        *(f.dead_letter_queue for f in account.functions if f.dead_letter_queue),
    ]
    for name in failure_queues:
        if name in plans:
            continue
        attributes = {"MessageRetentionPeriod": str(FAILURE_QUEUE_RETENTION_S)}
        if name in rules_by_dlq:
            # EventBridge delivers to a target DLQ only if the queue policy lets it.
            attributes["Policy"] = json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "eventbridge-dead-letters",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": sqs_arn(name),
                            "Condition": {"ArnEquals": {"aws:SourceArn": rules_by_dlq[name]}},
                        }
                    ],
                }
            )
        plans[name] = QueuePlan(name, attributes)
    for queue in account.queues:
        plans[queue.name] = QueuePlan(queue.name, _source_queue_attributes(queue, sqs_arn))
    return tuple(plans.values())


def _source_queue_attributes(queue: Queue, sqs_arn: Callable[[str], str]) -> dict[str, str]:
    return {
        "VisibilityTimeout": str(queue.visibility_timeout_s),
        "MessageRetentionPeriod": str(queue.retention_s),
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": sqs_arn(queue.dlq), "maxReceiveCount": queue.max_receive_count}
        ),
    }


def state_machine_definition(
    machine: StateMachine, function_arns: Mapping[str, str]
) -> dict[str, Any]:
    """Amazon States Language: the Task states in order, each invoking its function.

    A task with ``retry`` gets a Retry block for Lambda's transient errors (exponential backoff
    with full jitter); one without gets none. A task with ``catch`` sends every error to a Fail
    state.
    """
    states: dict[str, Any] = {}
    failed = f"{machine.name}-failed"
    for index, task in enumerate(machine.tasks):
        state: dict[str, Any] = {"Type": "Task", "Resource": function_arns[task.function]}
        if task.retry:
            state["Retry"] = [{**STATE_RETRY, "ErrorEquals": list(STATE_RETRY["ErrorEquals"])}]
        if task.catch:
            state["Catch"] = [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": failed}
            ]
        if index + 1 < len(machine.tasks):
            state["Next"] = machine.tasks[index + 1].name
        else:
            state["End"] = True
        states[task.name] = state
    if any(task.catch for task in machine.tasks):
        states[failed] = {
            "Type": "Fail",
            "Error": "TaskFailed",
            "Cause": f"a task of {machine.name} failed",
        }
    return {
        "Comment": f"{machine.name} (stormwatch sandbox world)",
        "StartAt": machine.tasks[0].name,
        "States": states,
    }


def _event_pattern(rule: EventRule) -> str:
    return json.dumps({"detail-type": [rule.detail_type]})


def _target(rule_target: RuleTarget, function_arn: str, dlq_arn: str | None) -> dict[str, Any]:
    target: dict[str, Any] = {
        "Id": rule_target.function,
        "Arn": function_arn,
        "RetryPolicy": {
            "MaximumRetryAttempts": rule_target.maximum_retry_attempts,
            "MaximumEventAgeInSeconds": rule_target.maximum_event_age_s,
        },
    }
    if dlq_arn is not None:
        target["DeadLetterConfig"] = {"Arn": dlq_arn}
    return target


# -- the shell: boto3 calls ----------------------------------------------------------------------


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _paginate(client: Any, operation: str, key: str, **params: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(key, [])


def _json_equal(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a == b
    return bool(json.loads(a) == json.loads(b))


class _Provisioner:
    def __init__(self, account: Account, client_factory: Callable[[str], Any]) -> None:
        self.account = account
        self.iam = client_factory("iam")
        self.awslambda = client_factory("lambda")
        self.sqs = client_factory("sqs")
        self.events = client_factory("events")
        self.states = client_factory("stepfunctions")
        self.dynamodb = client_factory("dynamodb")
        identity = client_factory("sts").get_caller_identity()
        if identity["Account"] != account.account_id:
            raise ProvisionError(
                f"account {account.name!r} is {account.account_id} in the topology, but the "
                f"clients are in {identity['Account']}; build them with "
                f"account={account.account_id!r}"
            )
        self.partition = identity["Arn"].split(":")[1]

    # IAM ---------------------------------------------------------------------------------------
    def role(self, name: str, trust: dict[str, Any], policy: dict[str, Any]) -> str:
        try:
            arn = str(self.iam.get_role(RoleName=name)["Role"]["Arn"])
        except ClientError as error:
            if _code(error) != "NoSuchEntity":
                raise
            arn = self.iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description="stormwatch sandbox world",
                Tags=[{"Key": k, "Value": v} for k, v in resource_tags(self.account).items()],
            )["Role"]["Arn"]
        policy_name = f"{name}-inline"
        try:
            current = self.iam.get_role_policy(RoleName=name, PolicyName=policy_name)
            document = current["PolicyDocument"]
            if isinstance(document, str):
                document = json.loads(document)
            unchanged = document == policy
        except ClientError as error:
            if _code(error) != "NoSuchEntity":
                raise
            unchanged = False
        if not unchanged:
            self.iam.put_role_policy(
                RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(policy)
            )
        return arn

    def lambda_role(self) -> str:
        region, account_id, p = self.account.region, self.account.account_id, self.partition
        return self.role(
            LAMBDA_ROLE,
            _LAMBDA_TRUST,
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "logs:CreateLogGroup",
                            "logs:CreateLogStream",
                            "logs:PutLogEvents",
                            "xray:PutTraceSegments",
                            "xray:PutTelemetryRecords",
                        ],
                        "Resource": "*",
                    },
                    {
                        "Effect": "Allow",
                        "Action": [
                            "sqs:ReceiveMessage",
                            "sqs:DeleteMessage",
                            "sqs:ChangeMessageVisibility",
                            "sqs:GetQueueAttributes",
                            "sqs:SendMessage",
                        ],
                        "Resource": f"arn:{p}:sqs:{region}:{account_id}:*",
                    },
                    {
                        "Effect": "Allow",
                        "Action": [
                            "dynamodb:GetItem",
                            "dynamodb:PutItem",
                            "dynamodb:UpdateItem",
                            "dynamodb:Query",
                        ],
                        "Resource": f"arn:{p}:dynamodb:{region}:{account_id}:table/*",
                    },
                ],
            },
        )

    def states_role(self, function_arns: Mapping[str, str]) -> str:
        return self.role(
            STATES_ROLE,
            _STATES_TRUST,
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "lambda:InvokeFunction",
                        "Resource": sorted(function_arns.values()),
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                        "Resource": "*",
                    },
                ],
            },
        )

    # SQS ---------------------------------------------------------------------------------------
    def queue(self, plan: QueuePlan) -> tuple[str, str]:
        attributes = dict(plan.attributes)
        try:
            # CreateQueue returns the existing queue when every attribute sent matches it.
            url = self.sqs.create_queue(
                QueueName=plan.name, Attributes=attributes, tags=resource_tags(self.account)
            )["QueueUrl"]
        except ClientError as error:
            if _code(error) not in ("QueueAlreadyExists", "QueueNameExists"):
                raise
            url = self.sqs.get_queue_url(QueueName=plan.name)["QueueUrl"]
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        return url, arn

    # Lambda ------------------------------------------------------------------------------------
    def function(
        self, function: Function, role_arn: str, package: bytes, queue_arns: Mapping[str, str]
    ) -> str:
        desired: dict[str, Any] = {
            "Role": role_arn,
            "Runtime": RUNTIME,
            "Handler": HANDLER,
            "Timeout": function.timeout_s,
            "MemorySize": function.memory_mb,
            "TracingConfig": {"Mode": "Active" if function.tracing else "PassThrough"},
            "Environment": {"Variables": function_environment(self.account, function)},
        }
        if function.dead_letter_queue is not None:
            # moto: accepted and dropped; GetFunctionConfiguration never returns it.
            desired["DeadLetterConfig"] = {"TargetArn": queue_arns[function.dead_letter_queue]}
        try:
            current = self.awslambda.get_function(FunctionName=function.name)
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            arn = self._create_function(function, desired, package)
            reserved = None
        else:
            reserved = current.get("Concurrency", {}).get("ReservedConcurrentExecutions")
            config = current["Configuration"]
            arn = config["FunctionArn"]
            changed = {
                key: value
                for key, value in desired.items()
                if key != "DeadLetterConfig" and config.get(key) != value
            }
            if changed:
                # moto: UpdateFunctionConfiguration ignores TracingConfig.
                self.awslambda.update_function_configuration(FunctionName=function.name, **changed)
                self.awslambda.get_waiter("function_updated_v2").wait(FunctionName=function.name)
            if config.get("CodeSha256") != code_sha256(package):
                self.awslambda.update_function_code(FunctionName=function.name, ZipFile=package)
                self.awslambda.get_waiter("function_updated_v2").wait(FunctionName=function.name)
        self._concurrency(function, reserved)
        self._async_config(function, queue_arns)
        return str(arn)

    def _create_function(self, function: Function, desired: dict[str, Any], package: bytes) -> str:
        for attempt in range(10):
            try:
                arn = self.awslambda.create_function(
                    FunctionName=function.name,
                    Code={"ZipFile": package},
                    Tags=function_tags(self.account, function),
                    **desired,
                )["FunctionArn"]
                break
            except ClientError as error:
                # A role created moments ago may not be assumable yet (IAM is eventually
                # consistent); AWS answers InvalidParameterValueException until it is.
                if _code(error) != "InvalidParameterValueException" or attempt == 9:
                    raise
                if "role" not in str(error).lower():
                    raise
                time.sleep(2)
        self.awslambda.get_waiter("function_active_v2").wait(FunctionName=function.name)
        return str(arn)

    def _concurrency(self, function: Function, current: int | None) -> None:
        if function.reserved_concurrency is None:
            if current is not None:
                self.awslambda.delete_function_concurrency(FunctionName=function.name)
        elif current is None or int(current) != function.reserved_concurrency:
            self.awslambda.put_function_concurrency(
                FunctionName=function.name,
                ReservedConcurrentExecutions=function.reserved_concurrency,
            )

    def _async_config(self, function: Function, queue_arns: Mapping[str, str]) -> None:
        try:
            current: dict[str, Any] | None = self.awslambda.get_function_event_invoke_config(
                FunctionName=function.name
            )
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            current = None
        config = function.async_config
        if config is None:
            if current is not None:
                self.awslambda.delete_function_event_invoke_config(FunctionName=function.name)
            return
        desired: dict[str, Any] = {
            "MaximumRetryAttempts": config.maximum_retry_attempts,
            "MaximumEventAgeInSeconds": config.maximum_event_age_s,
        }
        if config.on_failure_queue is not None:
            desired["DestinationConfig"] = {
                "OnFailure": {"Destination": queue_arns[config.on_failure_queue]}
            }
        if current is None or _event_invoke_config(current) != desired:
            # moto: a second Put appends instead of replacing (see the module docstring).
            self.awslambda.put_function_event_invoke_config(FunctionName=function.name, **desired)

    def permission(self, function: str, statement_id: str, principal: str, source: str) -> None:
        try:
            policy = json.loads(self.awslambda.get_policy(FunctionName=function)["Policy"])
            sids = {statement.get("Sid") for statement in policy.get("Statement", [])}
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            sids = set()
        if statement_id in sids:
            return
        try:
            self.awslambda.add_permission(
                FunctionName=function,
                StatementId=statement_id,
                Action="lambda:InvokeFunction",
                Principal=principal,
                SourceArn=source,
            )
        except ClientError as error:
            if _code(error) != "ResourceConflictException":
                raise

    def event_source_mapping(self, queue: Queue, queue_arn: str, function_arn: str) -> str:
        response_types = ["ReportBatchItemFailures"] if queue.report_batch_item_failures else []
        # Filtered by queue only, then by function here: moto matches FunctionName against the
        # string given at creation (name or ARN) where AWS resolves either.
        existing = [
            mapping
            for mapping in _paginate(
                self.awslambda,
                "list_event_source_mappings",
                "EventSourceMappings",
                EventSourceArn=queue_arn,
            )
            if mapping.get("FunctionArn") == function_arn
        ]
        if not existing:
            # AWS rejects this call when the queue's visibility timeout is below the function's
            # timeout; moto does not check (see the module docstring).
            return str(
                self.awslambda.create_event_source_mapping(
                    EventSourceArn=queue_arn,
                    FunctionName=function_arn,
                    BatchSize=queue.batch_size,
                    FunctionResponseTypes=response_types,
                    Enabled=True,
                )["UUID"]
            )
        mapping = existing[0]
        if (
            mapping.get("BatchSize") != queue.batch_size
            or list(mapping.get("FunctionResponseTypes") or []) != response_types
        ):
            self.awslambda.update_event_source_mapping(
                UUID=mapping["UUID"],
                BatchSize=queue.batch_size,
                FunctionResponseTypes=response_types,
            )
        return str(mapping["UUID"])

    # EventBridge -------------------------------------------------------------------------------
    def rule(
        self,
        name: str,
        target: dict[str, Any],
        *,
        event_pattern: str | None = None,
        schedule: str | None = None,
        description: str,
    ) -> str:
        try:
            current: dict[str, Any] | None = self.events.describe_rule(Name=name)
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            current = None
        if (
            current is None
            or not _json_equal(current.get("EventPattern"), event_pattern)
            or current.get("ScheduleExpression") != schedule
            or current.get("State") != "ENABLED"
        ):
            params: dict[str, Any] = {"Name": name, "State": "ENABLED", "Description": description}
            if event_pattern is not None:
                params["EventPattern"] = event_pattern
            if schedule is not None:
                params["ScheduleExpression"] = schedule
            if current is None:
                params["Tags"] = [
                    {"Key": k, "Value": v} for k, v in resource_tags(self.account).items()
                ]
            arn = str(self.events.put_rule(**params)["RuleArn"])
        else:
            arn = str(current["Arn"])
        targets = {
            t["Id"]: t for t in _paginate(self.events, "list_targets_by_rule", "Targets", Rule=name)
        }
        if targets.get(target["Id"]) != target:
            result = self.events.put_targets(Rule=name, Targets=[target])
            if result.get("FailedEntryCount"):
                raise ProvisionError(
                    f"rule {name!r} ({self.account.name}): PutTargets failed: "
                    f"{result['FailedEntries']}"
                )
        return arn

    # Step Functions ----------------------------------------------------------------------------
    def state_machine(self, machine: StateMachine, definition: dict[str, Any], role: str) -> str:
        existing = {
            m["name"]: m["stateMachineArn"]
            for m in _paginate(self.states, "list_state_machines", "stateMachines")
        }
        if machine.name not in existing:
            return str(
                self.states.create_state_machine(
                    name=machine.name,
                    definition=json.dumps(definition),
                    roleArn=role,
                    type="STANDARD",
                    tags=[{"key": k, "value": v} for k, v in resource_tags(self.account).items()],
                )["stateMachineArn"]
            )
        arn = existing[machine.name]
        current = self.states.describe_state_machine(stateMachineArn=arn)
        if json.loads(current["definition"]) != definition or current["roleArn"] != role:
            self.states.update_state_machine(
                stateMachineArn=arn, definition=json.dumps(definition), roleArn=role
            )
        return str(arn)

    # DynamoDB ----------------------------------------------------------------------------------
    def table(self, name: str, key: str) -> str:
        try:
            table = self.dynamodb.describe_table(TableName=name)["Table"]
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
        else:
            schema = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
            if schema != [(key, "HASH")]:
                raise ProvisionError(
                    f"table {name!r} ({self.account.name}) exists with key schema {schema}; "
                    f"the topology needs a string hash key {key!r}: delete the table or rename it"
                )
            return str(table["TableArn"])
        try:
            arn = self.dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                Tags=[{"Key": k, "Value": v} for k, v in resource_tags(self.account).items()],
            )["TableDescription"]["TableArn"]
        except ClientError as error:
            if _code(error) != "ResourceInUseException":  # created concurrently
                raise
            return self.table(name, key)
        self.dynamodb.get_waiter("table_exists").wait(TableName=name)
        return str(arn)


def _event_invoke_config(response: Mapping[str, Any]) -> dict[str, Any]:
    """The settable part of a GetFunctionEventInvokeConfig answer, empty destinations dropped."""
    config: dict[str, Any] = {
        key: response[key]
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds")
        if key in response
    }
    destinations = {
        kind: destination
        for kind, destination in (response.get("DestinationConfig") or {}).items()
        if destination and destination.get("Destination")
    }
    if destinations:
        config["DestinationConfig"] = destinations
    return config


def provision(account: Account, client_factory: Callable[[str], Any]) -> Provisioned:
    """Create (or converge) every resource of ``account``; safe to run any number of times.

    ``client_factory(service)`` returns a boto3 client in ``account`` (its ``account_id`` and
    ``region``), e.g. ``lambda s: sandbox_client(url, s, account=a.account_id, region=a.region)``.
    Raises :class:`ProvisionError` when the clients are in another account.
    """
    p = _Provisioner(account, client_factory)

    queue_urls: dict[str, str] = {}
    queue_arns: dict[str, str] = {}
    for plan in queue_plan(account, p.partition):
        queue_urls[plan.name], queue_arns[plan.name] = p.queue(plan)

    role_arn = p.lambda_role()
    package = handler_zip()
    function_arns = {
        function.name: p.function(function, role_arn, package, queue_arns)
        for function in account.functions
    }

    mappings = {
        queue.name: p.event_source_mapping(
            queue, queue_arns[queue.name], function_arns[queue.consumer]
        )
        for queue in account.queues
    }

    rule_arns: dict[str, str] = {}
    for rule in account.rules:
        target = rule.target
        rule_arns[rule.name] = p.rule(
            rule.name,
            _target(
                target,
                function_arns[target.function],
                queue_arns[target.dlq] if target.dlq is not None else None,
            ),
            event_pattern=_event_pattern(rule),
            description=f"{rule.detail_type} events to {target.function}",
        )
        p.permission(
            target.function, f"events-{rule.name}", "events.amazonaws.com", rule_arns[rule.name]
        )
    for function in account.functions:
        if function.triggered_by != "schedule":
            continue
        name = schedule_rule_name(function)
        rule_arns[name] = p.rule(
            name,
            {"Id": function.name, "Arn": function_arns[function.name]},
            schedule=SCHEDULE,
            description=f"runs {function.name} every minute",
        )
        p.permission(function.name, f"events-{name}", "events.amazonaws.com", rule_arns[name])

    states_role: str | None = None
    machine_arns: dict[str, str] = {}
    if account.state_machines:
        invoked = {
            task.function: function_arns[task.function]
            for machine in account.state_machines
            for task in machine.tasks
        }
        states_role = p.states_role(invoked)
        for machine in account.state_machines:
            definition = state_machine_definition(machine, function_arns)
            machine_arns[machine.name] = p.state_machine(machine, definition, states_role)

    tables = {
        account.breaker_table.name: p.table(
            account.breaker_table.name, account.breaker_table.key_attr
        )
    }
    for dependency in account.dependencies:
        if dependency.kind is DependencyKind.DYNAMODB:
            tables[dependency.host] = p.table(dependency.host, DEPENDENCY_TABLE_KEY)

    return Provisioned(
        account=account.name,
        account_id=account.account_id,
        region=account.region,
        lambda_role_arn=role_arn,
        states_role_arn=states_role,
        functions=MappingProxyType(function_arns),
        queue_urls=MappingProxyType(queue_urls),
        queue_arns=MappingProxyType(queue_arns),
        event_source_mappings=MappingProxyType(mappings),
        rules=MappingProxyType(rule_arns),
        state_machines=MappingProxyType(machine_arns),
        tables=MappingProxyType(tables),
        breaker_table=account.breaker_table.name,
    )
