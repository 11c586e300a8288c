"""The world's provisioner, read back through boto3 as a collector would see the accounts.

Both accounts are provisioned once per module (client creation and provisioning dominate the
run time), read back with paginated list/describe calls, provisioned again and read back again.
The module resets the endpoint when it is done, as the ``endpoint`` fixture does per test.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from sandbox.endpoint.testing import sandbox_client
from sandbox.world.provision import (
    SCHEDULE,
    STATE_RETRY,
    Provisioned,
    ProvisionError,
    function_environment,
    provision,
    schedule_rule_name,
)
from sandbox.world.topology import ACCOUNTS, MISCONFIGURATIONS, DependencyKind, account

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sandbox.world.topology import Account, Misconfiguration

pytestmark = pytest.mark.integration

PROD, STAGING = account("prod"), account("staging")
BY_ACCOUNT = pytest.mark.parametrize("acct", ACCOUNTS, ids=lambda a: a.name)
# Operations a converged second run may make: reads, and CreateQueue with the attributes the
# queue already has (SQS answers it with the existing queue's URL and changes nothing).
IDEMPOTENT_OPERATIONS = {"CreateQueue", "GetCallerIdentity"}
READ_PREFIXES = ("Get", "List", "Describe")


@dataclass
class World:
    first: dict[str, Provisioned]
    second: dict[str, Provisioned]
    before: dict[str, dict[str, Any]]  # account name -> everything read back after run 1
    after: dict[str, dict[str, Any]]  # ... and after run 2
    second_run_operations: list[str]
    client: Callable[[Account, str], Any]


def _paginate(client: Any, operation: str, key: str, **params: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(key, [])


def _strip(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def read_account(client: Callable[[str], Any]) -> dict[str, Any]:
    """Everything the provisioner manages in one account, as list/describe calls return it."""
    awslambda, sqs, events = client("lambda"), client("sqs"), client("events")
    states, dynamodb, iam = client("stepfunctions"), client("dynamodb"), client("iam")

    functions: dict[str, Any] = {}
    for summary in _paginate(awslambda, "list_functions", "Functions"):
        name = summary["FunctionName"]
        function = _strip(awslambda.get_function(FunctionName=name))
        function.pop("Code", None)  # a presigned location, different on every call
        try:
            function["EventInvokeConfig"] = _strip(
                awslambda.get_function_event_invoke_config(FunctionName=name)
            )
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ResourceNotFoundException"
        try:
            policy = json.loads(awslambda.get_policy(FunctionName=name)["Policy"])
            function["PolicySids"] = sorted(s["Sid"] for s in policy["Statement"])
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ResourceNotFoundException"
        functions[name] = function

    queues: dict[str, Any] = {}
    for url in _paginate(sqs, "list_queues", "QueueUrls"):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        name = attributes["QueueArn"].rsplit(":", 1)[1]
        queues[name] = {
            "url": url,
            "attributes": {
                k: v for k, v in attributes.items() if not k.startswith("ApproximateNumber")
            },
            "tags": sqs.list_queue_tags(QueueUrl=url).get("Tags", {}),
            "dead_letter_sources": sorted(
                _paginate(sqs, "list_dead_letter_source_queues", "queueUrls", QueueUrl=url)
            ),
        }

    mappings = [
        _strip(m) for m in _paginate(awslambda, "list_event_source_mappings", "EventSourceMappings")
    ]

    rules: dict[str, Any] = {}
    for rule in _paginate(events, "list_rules", "Rules"):
        rules[rule["Name"]] = {
            **rule,
            "Targets": list(
                _paginate(events, "list_targets_by_rule", "Targets", Rule=rule["Name"])
            ),
        }

    machines: dict[str, Any] = {}
    for machine in _paginate(states, "list_state_machines", "stateMachines"):
        described = states.describe_state_machine(stateMachineArn=machine["stateMachineArn"])
        machines[machine["name"]] = {
            "arn": described["stateMachineArn"],
            "definition": json.loads(described["definition"]),
            "roleArn": described["roleArn"],
        }

    tables: dict[str, Any] = {}
    for name in _paginate(dynamodb, "list_tables", "TableNames"):
        table = dynamodb.describe_table(TableName=name)["Table"]
        tables[name] = {
            key: table.get(key)
            for key in ("TableArn", "KeySchema", "AttributeDefinitions", "BillingModeSummary")
        }

    roles = {
        role["RoleName"]: json.dumps(role["AssumeRolePolicyDocument"], sort_keys=True)
        for role in _paginate(iam, "list_roles", "Roles")
    }
    return {
        "functions": functions,
        "queues": queues,
        "mappings": mappings,
        "rules": rules,
        "machines": machines,
        "tables": tables,
        "roles": roles,
    }


@pytest.fixture(scope="module")
def world(endpoint_server: Any) -> Iterator[World]:
    clients: dict[tuple[str, str], Any] = {}
    recording: list[str] = []
    recorder = {"on": False}

    def record(model: Any, **_: Any) -> None:
        if recorder["on"]:
            recording.append(model.name)

    def client(acct: Account, service: str) -> Any:
        key = (acct.account_id, service)
        if key not in clients:
            clients[key] = sandbox_client(
                endpoint_server.url, service, account=acct.account_id, region=acct.region
            )
            clients[key].meta.events.register("before-call", record)
        return clients[key]

    def factory(acct: Account) -> Callable[[str], Any]:
        return lambda service: client(acct, service)

    try:
        first = {a.name: provision(a, factory(a)) for a in ACCOUNTS}
        before = {a.name: read_account(factory(a)) for a in ACCOUNTS}
        recorder["on"] = True
        second = {a.name: provision(a, factory(a)) for a in ACCOUNTS}
        recorder["on"] = False
        after = {a.name: read_account(factory(a)) for a in ACCOUNTS}
        yield World(first, second, before, after, recording, client)
    finally:
        endpoint_server.reset()


# -- every resource, with the configured attributes ----------------------------------------------


def _failure_queues(acct: Account) -> set[str]:
    return {r.target.dlq for r in acct.rules if r.target.dlq} | {
        f.async_config.on_failure_queue
        for f in acct.functions
        if f.async_config and f.async_config.on_failure_queue
    }


@BY_ACCOUNT
def test_every_function_has_its_configuration(world: World, acct: Account) -> None:
    functions = world.before[acct.name]["functions"]
    assert set(functions) == {f.name for f in acct.functions}
    queue_arns = world.first[acct.name].queue_arns
    for f in acct.functions:
        got = functions[f.name]
        config = got["Configuration"]
        assert config["Runtime"] == "python3.12"
        assert (config["Timeout"], config["MemorySize"]) == (f.timeout_s, f.memory_mb)
        assert config["TracingConfig"] == {"Mode": "Active" if f.tracing else "PassThrough"}
        assert config["Environment"]["Variables"] == function_environment(acct, f)
        assert config["Role"].endswith(":role/stormwatch-world-lambda")
        assert got["Tags"]["stormwatch:account"] == acct.name
        assert got["Tags"]["app"] == {"prod": "orders", "staging": "checkout"}[acct.name]
        assert got["Tags"]["team"]
        reserved = got.get("Concurrency", {}).get("ReservedConcurrentExecutions")
        assert reserved == f.reserved_concurrency, f.name
        if f.async_config is None:
            assert "EventInvokeConfig" not in got, f.name
        else:
            invoke = got["EventInvokeConfig"]
            assert invoke["MaximumRetryAttempts"] == f.async_config.maximum_retry_attempts
            assert invoke["MaximumEventAgeInSeconds"] == f.async_config.maximum_event_age_s
            on_failure = invoke.get("DestinationConfig", {}).get("OnFailure", {})
            expected = f.async_config.on_failure_queue
            assert on_failure.get("Destination") == (queue_arns[expected] if expected else None)
        # No function in the topology uses the legacy DeadLetterConfig, and moto would drop it.
        assert f.dead_letter_queue is None


def test_reserved_concurrency_and_tracing_vary_across_functions(world: World) -> None:
    configs = [f["Configuration"] for f in world.before["prod"]["functions"].values()]
    assert {c["TracingConfig"]["Mode"] for c in configs} == {"Active", "PassThrough"}
    assert len({c["Timeout"] for c in configs}) >= 4
    assert world.before["prod"]["functions"]["orders-api"]["Concurrency"] == {
        "ReservedConcurrentExecutions": 100
    }


@BY_ACCOUNT
def test_every_queue_redrives_into_its_dlq(world: World, acct: Account) -> None:
    queues = world.before[acct.name]["queues"]
    expected = {q.name for q in acct.queues} | {q.dlq for q in acct.queues}
    assert set(queues) == expected | _failure_queues(acct)
    for q in acct.queues:
        source, dlq = queues[q.name], queues[q.dlq]
        attributes = source["attributes"]
        assert int(attributes["VisibilityTimeout"]) == q.visibility_timeout_s
        assert int(attributes["MessageRetentionPeriod"]) == q.retention_s
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == dlq["attributes"]["QueueArn"]
        assert int(redrive["maxReceiveCount"]) == q.max_receive_count
        assert int(dlq["attributes"]["MessageRetentionPeriod"]) == q.dlq_retention_s
        assert dlq["dead_letter_sources"] == [source["url"]]
        assert source["tags"]["stormwatch:account"] == acct.name
        # moto drops the DLQ's RedriveAllowPolicy (AWS returns it): nothing to read back.


def test_failure_queues_keep_messages_and_admit_eventbridge(world: World) -> None:
    queues = world.before["prod"]["queues"]
    assert _failure_queues(PROD) == {"email-events-dlq", "invoice-events-dlq", "email-failures"}
    for name in _failure_queues(PROD):
        assert queues[name]["attributes"]["MessageRetentionPeriod"] == "1209600"
        assert queues[name]["dead_letter_sources"] == []
    for rule in PROD.rules:
        policy = json.loads(queues[rule.target.dlq]["attributes"]["Policy"])
        (statement,) = policy["Statement"]
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == [
            world.first["prod"].rules[rule.name]
        ]


@BY_ACCOUNT
def test_each_source_queue_feeds_its_consumer(world: World, acct: Account) -> None:
    provisioned = world.first[acct.name]
    mappings = {m["EventSourceArn"]: m for m in world.before[acct.name]["mappings"]}
    assert len(world.before[acct.name]["mappings"]) == len(acct.queues)
    for q in acct.queues:
        mapping = mappings[provisioned.queue_arns[q.name]]
        assert mapping["FunctionArn"] == provisioned.functions[q.consumer]
        assert mapping["BatchSize"] == q.batch_size
        assert mapping["State"] == "Enabled"
        types = mapping.get("FunctionResponseTypes") or []
        assert types == (["ReportBatchItemFailures"] if q.report_batch_item_failures else [])
        assert mapping["UUID"] == provisioned.event_source_mappings[q.name]


def test_rules_deliver_to_functions_with_dlq_and_retry_policy(world: World) -> None:
    provisioned, rules = world.first["prod"], world.before["prod"]["rules"]
    functions = world.before["prod"]["functions"]
    scheduled = [f for f in PROD.functions if f.triggered_by == "schedule"]
    assert set(rules) == {r.name for r in PROD.rules} | {schedule_rule_name(f) for f in scheduled}
    for rule in PROD.rules:
        got = rules[rule.name]
        assert json.loads(got["EventPattern"]) == {"detail-type": [rule.detail_type]}
        assert got["State"] == "ENABLED"
        assert got["EventBusName"] == "default"
        (target,) = got["Targets"]
        assert target["Arn"] == provisioned.functions[rule.target.function]
        assert rule.target.dlq is not None
        assert target["DeadLetterConfig"] == {"Arn": provisioned.queue_arns[rule.target.dlq]}
        assert target["RetryPolicy"] == {
            "MaximumRetryAttempts": rule.target.maximum_retry_attempts,
            "MaximumEventAgeInSeconds": rule.target.maximum_event_age_s,
        }
        assert f"events-{rule.name}" in functions[rule.target.function]["PolicySids"]
    for f in scheduled:
        got = rules[schedule_rule_name(f)]
        assert got["ScheduleExpression"] == SCHEDULE == "rate(1 minute)"
        assert [t["Arn"] for t in got["Targets"]] == [provisioned.functions[f.name]]
    assert world.before["staging"]["rules"] == {}


def test_state_machine_retries_and_catches_as_described(world: World) -> None:
    (machine,) = PROD.state_machines
    got = world.before["prod"]["machines"][machine.name]
    definition = got["definition"]
    assert definition["StartAt"] == machine.tasks[0].name
    states = definition["States"]
    for task in machine.tasks:
        state = states[task.name]
        assert state["Type"] == "Task"
        assert state["Resource"] == world.first["prod"].functions[task.function]
        if task.retry:
            (retry,) = state["Retry"]
            assert retry == STATE_RETRY
            assert retry["JitterStrategy"] == "FULL"
            assert "Lambda.TooManyRequestsException" in retry["ErrorEquals"]
        else:
            assert "Retry" not in state
        if task.catch:
            (catch,) = state["Catch"]
            assert catch["ErrorEquals"] == ["States.ALL"]
            assert states[catch["Next"]]["Type"] == "Fail"
    assert states[machine.tasks[-1].name]["End"] is True
    assert got["roleArn"] == world.first["prod"].states_role_arn
    trust = json.loads(world.before["prod"]["roles"]["stormwatch-world-states"])
    assert trust["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    assert world.before["staging"]["machines"] == {}
    assert world.first["staging"].states_role_arn is None


@BY_ACCOUNT
def test_breaker_and_dependency_tables(world: World, acct: Account) -> None:
    tables = world.before[acct.name]["tables"]
    dependency_tables = {d.host for d in acct.dependencies if d.kind is DependencyKind.DYNAMODB}
    assert set(tables) == {acct.breaker_table.name} | dependency_tables
    breaker = tables[acct.breaker_table.name]
    assert breaker["KeySchema"] == [
        {"AttributeName": acct.breaker_table.key_attr, "KeyType": "HASH"}
    ]
    assert breaker["AttributeDefinitions"] == [
        {"AttributeName": acct.breaker_table.key_attr, "AttributeType": "S"}
    ]
    for table in tables.values():
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert world.first[acct.name].breaker_table == acct.breaker_table.name


# -- the accounts, the handles, idempotence -------------------------------------------------------


def test_accounts_hold_different_resources(world: World) -> None:
    prod, staging = world.before["prod"], world.before["staging"]
    for kind in ("functions", "queues", "tables"):
        assert set(prod[kind]).isdisjoint(staging[kind]), kind
    for acct in ACCOUNTS:
        provisioned = world.first[acct.name]
        arns = [
            *provisioned.functions.values(),
            *provisioned.queue_arns.values(),
            *provisioned.rules.values(),
            *provisioned.state_machines.values(),
            *provisioned.tables.values(),
        ]
        assert arns
        assert all(f":{acct.account_id}:" in arn for arn in arns)


@BY_ACCOUNT
def test_returned_handles_name_what_exists(world: World, acct: Account) -> None:
    provisioned, seen = world.first[acct.name], world.before[acct.name]
    assert (provisioned.account, provisioned.account_id) == (acct.name, acct.account_id)
    assert dict(provisioned.functions) == {
        name: f["Configuration"]["FunctionArn"] for name, f in seen["functions"].items()
    }
    assert dict(provisioned.queue_urls) == {name: q["url"] for name, q in seen["queues"].items()}
    assert dict(provisioned.queue_arns) == {
        name: q["attributes"]["QueueArn"] for name, q in seen["queues"].items()
    }
    assert dict(provisioned.rules) == {name: r["Arn"] for name, r in seen["rules"].items()}
    assert dict(provisioned.state_machines) == {n: m["arn"] for n, m in seen["machines"].items()}
    assert dict(provisioned.tables) == {n: t["TableArn"] for n, t in seen["tables"].items()}
    with pytest.raises(dataclasses.FrozenInstanceError):
        provisioned.account = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        provisioned.functions["new"] = "arn"  # type: ignore[index]


def test_provisioning_twice_changes_nothing(world: World) -> None:
    assert world.second == world.first
    assert world.after == world.before  # LastModified of every function included
    writes = {
        op
        for op in world.second_run_operations
        if not op.startswith(READ_PREFIXES) and op not in IDEMPOTENT_OPERATIONS
    }
    assert writes == set()
    assert "CreateQueue" in world.second_run_operations  # converged through CreateQueue itself


def test_clients_in_another_account_are_refused(world: World) -> None:
    with pytest.raises(ProvisionError, match=r"build them with account='111111111111'"):
        provision(PROD, lambda service: world.client(STAGING, service))


# -- the deliberate misconfigurations, as an audit reading the accounts would see them -----------


def _check_visibility_timeout(world: World, acct: Account, m: Misconfiguration) -> None:
    queue = m.resource.removeprefix("sqs:")
    seen = world.before[acct.name]
    attributes = seen["queues"][queue]["attributes"]
    (mapping,) = [m for m in seen["mappings"] if m["EventSourceArn"] == attributes["QueueArn"]]
    consumer = next(
        f["Configuration"]
        for f in seen["functions"].values()
        if f["Configuration"]["FunctionArn"] == mapping["FunctionArn"]
    )
    assert int(attributes["VisibilityTimeout"]) < 6 * consumer["Timeout"]


def _check_async_without_destination(world: World, acct: Account, m: Misconfiguration) -> None:
    got = world.before[acct.name]["functions"][m.resource.removeprefix("lambda:")]
    assert "EventInvokeConfig" in got  # invoked asynchronously...
    assert not got["EventInvokeConfig"].get("DestinationConfig", {}).get("OnFailure")
    # ...with no DLQ either (weak evidence on moto, which drops DeadLetterConfig anyway).
    assert "DeadLetterConfig" not in got["Configuration"]


def _check_task_without_retry(world: World, acct: Account, m: Misconfiguration) -> None:
    machine, state = m.resource.removeprefix("states:").split("/")
    states = world.before[acct.name]["machines"][machine]["definition"]["States"]
    assert states[state]["Type"] == "Task"
    assert "Retry" not in states[state]
    assert any("Retry" in s for s in states.values())  # the other Task has one


def _check_breaker_table_exists(world: World, acct: Account, m: Misconfiguration) -> None:
    # The item without a timestamp is written by the simulation, not by the provisioner; here
    # only its table can be checked.
    table = m.resource.removeprefix("dynamodb:").split("/")[0]
    assert table in world.before[acct.name]["tables"]


def _check_retry_without_backoff(world: World, acct: Account, m: Misconfiguration) -> None:
    function = m.resource.removeprefix("lambda:")
    variables = world.before[acct.name]["functions"][function]["Configuration"]["Environment"][
        "Variables"
    ]
    (dependency,) = [c.dependency for c in acct.function(function).calls]
    prefix = dependency.upper().replace("-", "_")
    assert variables[f"{prefix}_BACKOFF_BASE_MS"] == "0"
    assert variables[f"{prefix}_BACKOFF_JITTER"] == "false"
    assert int(variables[f"{prefix}_MAX_ATTEMPTS"]) > 3


def _check_no_partial_batch_response(world: World, acct: Account, m: Misconfiguration) -> None:
    function_arn = world.first[acct.name].functions[m.resource.removeprefix("lambda:")]
    (mapping,) = [
        x for x in world.before[acct.name]["mappings"] if x["FunctionArn"] == function_arn
    ]
    assert "ReportBatchItemFailures" not in (mapping.get("FunctionResponseTypes") or [])


CHECKS: dict[str, Callable[[World, Account, Misconfiguration], None]] = {
    "visibility-timeout-below-6x-function-timeout": _check_visibility_timeout,
    "async-function-without-failure-destination": _check_async_without_destination,
    "task-state-without-retry": _check_task_without_retry,
    "breaker-item-without-timestamp": _check_breaker_table_exists,
    "retry-without-backoff": _check_retry_without_backoff,
    "sqs-consumer-without-partial-batch-response": _check_no_partial_batch_response,
}


@pytest.mark.parametrize(
    ("account_id", "misconfiguration"), MISCONFIGURATIONS, ids=lambda v: getattr(v, "kind", v)
)
def test_misconfiguration_is_visible(
    world: World, account_id: str, misconfiguration: Misconfiguration
) -> None:
    check = CHECKS[misconfiguration.kind]  # a new kind needs a check here
    check(world, account(account_id), misconfiguration)
