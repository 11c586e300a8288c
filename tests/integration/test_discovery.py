"""Discovery against the sandbox world: every resource of the topology, its configuration and
its links, found through boto3 over HTTP, with the API calls counted by botocore's hooks."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from collectors.discovery import DiscoveryFilters, discover, inventory_frame
from collectors.errors import SourceError
from collectors.schema import INVENTORY
from sandbox.endpoint import Endpoint
from sandbox.world.provision import (
    function_tags,
    queue_plan,
    schedule_rule_name,
    state_machine_definition,
)
from sandbox.world.runner import World
from sandbox.world.topology import ACCOUNTS, DependencyKind, account

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PROD = account("prod")


@pytest.fixture(scope="module")
def world():
    with Endpoint(clock=lambda: NOW) as endpoint:
        world = World(endpoint, scenario="demo", seed=3, days=1, now=NOW, trace_hours=0.05)
        world.start()
        yield world


@pytest.fixture(scope="module")
def inventories(world):
    return {
        who.name: discover(
            lambda service, who=who: world.client(who, service),
            account=who.account_id,
            region=who.region,
            now=NOW,
            breaker_tables=[who.breaker_table.name],
        )
        for who in ACCOUNTS
    }


def arn(who, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{who.region}:{who.account_id}:{resource}"


@pytest.mark.parametrize("who", ACCOUNTS, ids=lambda a: a.name)
def test_every_function_with_its_configuration(inventories, who) -> None:
    inventory = inventories[who.name]
    assert [f.name for f in inventory.functions] == sorted(f.name for f in who.functions)
    consumers = {q.consumer: q for q in who.queues}
    rule_targets = {r.target.function: r for r in who.rules}
    for spec in who.functions:
        found = inventory.function(spec.name)
        assert found is not None
        assert found.arn == arn(who, "lambda", f"function:{spec.name}")
        assert (found.timeout_s, found.memory_mb, found.runtime) == (
            spec.timeout_s,
            spec.memory_mb,
            "python3.12",
        )
        assert found.tracing_mode == ("Active" if spec.tracing else "PassThrough"), spec.name
        assert found.reserved_concurrency == spec.reserved_concurrency
        assert found.tags == function_tags(who, spec)
        if spec.async_config is None:
            assert found.async_config is None, spec.name
        else:
            config = found.async_config
            assert config is not None
            assert config.maximum_retry_attempts == spec.async_config.maximum_retry_attempts
            assert config.maximum_event_age_s == spec.async_config.maximum_event_age_s
            failure = spec.async_config.on_failure_queue
            assert config.on_failure == (failure and arn(who, "sqs", failure))
        if spec.name in consumers:
            source = consumers[spec.name]
            [mapping] = found.event_source_mappings
            assert mapping.source_arn == arn(who, "sqs", source.name)
            assert mapping.batch_size == source.batch_size
            assert mapping.reports_batch_item_failures == source.report_batch_item_failures
        else:
            assert found.event_source_mappings == ()
        callers = set()
        if spec.name in rule_targets:
            callers.add(arn(who, "events", f"rule/{rule_targets[spec.name].name}"))
        if spec.triggered_by == "schedule":
            callers.add(arn(who, "events", f"rule/{schedule_rule_name(spec)}"))
        assert set(found.async_sources) == callers, spec.name
        assert found.is_async == bool(spec.async_config or callers)


@pytest.mark.parametrize("who", ACCOUNTS, ids=lambda a: a.name)
def test_every_queue_with_dlq_links_both_ways(inventories, who) -> None:
    inventory = inventories[who.name]
    assert [q.name for q in inventory.queues] == sorted(p.name for p in queue_plan(who))
    sources: dict[str, set[str]] = {}
    for spec in who.queues:
        found = inventory.queue(spec.name)
        dlq = inventory.queue(spec.dlq)
        assert found is not None and dlq is not None
        assert found.dlq_arn == dlq.arn == arn(who, "sqs", spec.dlq)
        assert found.max_receive_count == spec.max_receive_count
        assert found.visibility_timeout_s == spec.visibility_timeout_s
        assert found.retention_s == spec.retention_s
        assert dlq.retention_s == spec.dlq_retention_s
        assert not found.is_dlq
        sources.setdefault(spec.dlq, set()).add(found.arn)
    for name, arns in sources.items():
        dlq = inventory.queue(name)
        assert dlq is not None and dlq.is_dlq
        assert set(dlq.dead_letter_sources) == arns
    senders: dict[str, set[str]] = {}
    for rule in who.rules:
        if rule.target.dlq:
            senders.setdefault(rule.target.dlq, set()).add(arn(who, "events", f"rule/{rule.name}"))
    for spec in who.functions:
        if spec.async_config and spec.async_config.on_failure_queue:
            senders.setdefault(spec.async_config.on_failure_queue, set()).add(
                arn(who, "lambda", f"function:{spec.name}")
            )
    for queue in inventory.queues:
        assert set(queue.failure_senders) == senders.get(queue.name, set()), queue.name
        assert queue.is_failure_queue == (queue.name in senders or queue.name in sources)
        assert "ApproximateNumberOfMessages" not in queue.attributes
        # The whole answer, depth counters included, is kept apart for the queues source.
        answer = inventory.queue_attributes[queue.url]
        assert {
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        } <= set(answer)
        assert answer.items() >= queue.attributes.items()
    assert set(inventory.queue_attributes) == {q.url for q in inventory.queues}
    assert "ApproximateNumberOf" not in repr(inventory)


@pytest.mark.parametrize("who", ACCOUNTS, ids=lambda a: a.name)
def test_rules_targets_machines_and_tables(inventories, who) -> None:
    inventory = inventories[who.name]
    schedules = [f for f in who.functions if f.triggered_by == "schedule"]
    expected_rules = {r.name for r in who.rules} | {schedule_rule_name(f) for f in schedules}
    assert {r.name for r in inventory.rules} == expected_rules
    for spec in who.rules:
        found = next(r for r in inventory.rules if r.name == spec.name)
        assert found.event_bus == "default"
        assert json.loads(found.event_pattern or "{}") == {"detail-type": [spec.detail_type]}
        [target] = found.targets
        assert target.arn == arn(who, "lambda", f"function:{spec.target.function}")
        assert target.dlq_arn == (spec.target.dlq and arn(who, "sqs", spec.target.dlq))
        assert target.maximum_retry_attempts == spec.target.maximum_retry_attempts
        assert target.maximum_event_age_s == spec.target.maximum_event_age_s
    function_arns = {f.name: arn(who, "lambda", f"function:{f.name}") for f in who.functions}
    assert [m.name for m in inventory.state_machines] == [m.name for m in who.state_machines]
    for spec in who.state_machines:
        found = next(m for m in inventory.state_machines if m.name == spec.name)
        assert found.definition == state_machine_definition(spec, function_arns)
        assert found.definition_error is None
        assert found.type == "STANDARD"
    tables = {who.breaker_table.name} | {
        d.host for d in who.dependencies if d.kind is DependencyKind.DYNAMODB
    }
    assert {t.name for t in inventory.tables} == tables
    assert {t.name for t in inventory.tables if t.is_breaker_table} == {who.breaker_table.name}
    assert inventory.vanished == ()


def test_inventory_frame_rows(inventories) -> None:
    inventory = inventories["prod"]
    frame = inventory_frame(inventory)
    assert list(frame.columns) == INVENTORY.columns
    assert Counter(frame["kind"]) == {
        "lambda": len(PROD.functions),
        "sqs": len(queue_plan(PROD)),
        "events-rule": 3,
        "state-machine": 1,
        "dynamodb-table": 1,
        "breaker-table": 1,
    }
    assert not frame.duplicated(list(INVENTORY.key)).any()
    assert (frame["collected_at"] == NOW).all()
    assert set(frame["account"]) == {PROD.account_id}
    row = frame[(frame.kind == "sqs") & (frame.name == "refunds")].iloc[0]
    config = json.loads(row["config"])
    assert config["visibility_timeout_s"] == 90
    assert config["dlq_arn"] == arn(PROD, "sqs", "refunds-dlq")
    machine = json.loads(frame[frame.kind == "state-machine"].iloc[0]["config"])
    assert machine["definition"]["StartAt"] == "FraudCheck"
    assert not frame["config"].str.contains("ApproximateNumberOf").any()  # depth is not config


@pytest.mark.parametrize(
    ("filters", "functions", "queues", "rules"),
    [
        pytest.param(
            DiscoveryFilters(name_prefixes=("payment",)),
            {"payment-processor"},
            {"payments", "payments-dlq"},
            set(),
            id="one-prefix",
        ),
        pytest.param(
            DiscoveryFilters(name_prefixes=("refund", "order-")),
            {"refund-handler", "order-events-publisher"},
            {"refunds", "refunds-dlq", "order-events", "order-events-dlq"},
            {"order-confirmed", "order-shipped"},
            id="two-prefixes",
        ),
        pytest.param(
            DiscoveryFilters(tags={"team": "payments"}),
            {"payment-processor", "refund-handler"},
            set(),
            set(),
            id="tag",
        ),
        pytest.param(
            DiscoveryFilters(name_prefixes=("payment",), tags={"app": "orders"}),
            {"payment-processor"},
            {"payments", "payments-dlq"},
            set(),
            id="prefix-and-tag",
        ),
    ],
)
def test_filters(world, filters, functions, queues, rules) -> None:
    inventory = discover(
        lambda service: world.client(PROD, service),
        account=PROD.account_id,
        region=PROD.region,
        filters=filters,
        now=NOW,
    )
    assert {f.name for f in inventory.functions} == functions
    assert {q.name for q in inventory.queues} == queues
    assert {r.name for r in inventory.rules} == rules


def test_every_call_is_counted_and_small_pages_give_the_same_inventory(world, inventories):
    """botocore's ``before-call`` event sees every request, pages included."""
    counts: Counter[str] = Counter()

    def count(model, **_):
        counts[f"{model.service_model.service_name}:{model.name}"] += 1

    services = ("lambda", "sqs", "events", "stepfunctions", "dynamodb")
    for service in services:
        world.client(PROD, service).meta.events.register("before-call", count, unique_id="count")
    try:
        paged = discover(
            lambda service: world.client(PROD, service),
            account=PROD.account_id,
            region=PROD.region,
            now=NOW,
            breaker_tables=[PROD.breaker_table.name],
            page_size=1,
        )
    finally:
        for service in services:
            world.client(PROD, service).meta.events.unregister("before-call", unique_id="count")
    assert paged == inventories["prod"]
    assert dict(paged.api_calls) == dict(counts)
    queues = len(queue_plan(PROD))
    assert counts["sqs:ListQueues"] == queues  # one queue a page: NextToken followed
    assert counts["sqs:GetQueueAttributes"] == queues
    assert counts["sqs:ListDeadLetterSourceQueues"] == queues
    assert counts["lambda:ListTags"] == len(PROD.functions)
    assert counts["lambda:GetFunctionConcurrency"] == len(PROD.functions)
    assert "lambda:GetFunction" not in counts  # it would also hand out the code
    assert counts["events:ListRules"] == 3  # one rule a page
    assert counts["stepfunctions:DescribeStateMachine"] == len(PROD.state_machines)
    assert "sqs:ReceiveMessage" not in counts
    assert all(op.split(":")[1].startswith(("List", "Get", "Describe")) for op in counts)


@pytest.mark.parametrize(
    ("kind", "service", "operation", "expected_kind"),
    [
        ("access_denied", "sqs", "ListDeadLetterSourceQueues", "access-denied"),
        ("throttle", "lambda", "ListTags", "throttled"),
        ("drop_connection", "stepfunctions", "ListStateMachines", "connection"),
    ],
    ids=["access-denied", "throttled", "dropped"],
)
def test_a_failed_call_raises_naming_it_never_an_empty_inventory(
    world, kind, service, operation, expected_kind
) -> None:
    world.endpoint.faults.add(kind, service=service, operation=operation, count=1)
    try:
        with pytest.raises(SourceError) as raised:
            discover(
                lambda s: world.client(PROD, s),
                account=PROD.account_id,
                region=PROD.region,
                now=NOW,
            )
    finally:
        world.endpoint.faults.clear()
    assert raised.value.kind == expected_kind
    assert f"{operation} in account {PROD.account_id}, {PROD.region}" in str(raised.value)


def test_a_resource_deleted_mid_discovery_is_left_out_and_named(world) -> None:
    world.endpoint.faults.add(
        "error",
        service="lambda",
        operation="ListTags",
        code="ResourceNotFoundException",
        http_status=404,
        count=1,
    )
    try:
        inventory = discover(
            lambda s: world.client(PROD, s), account=PROD.account_id, region=PROD.region, now=NOW
        )
    finally:
        world.endpoint.faults.clear()
    first = sorted(f.name for f in PROD.functions)[0]
    assert inventory.vanished == (arn(PROD, "lambda", f"function:{first}"),)
    assert [f.name for f in inventory.functions] == sorted(f.name for f in PROD.functions)[1:]
