"""The simulated world as a collector sees it: through boto3 against a running endpoint."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from sandbox.endpoint import Endpoint
from sandbox.world.emit_state import breaker_item, dead_letter_queues
from sandbox.world.model import BreakerState
from sandbox.world.runner import World
from sandbox.world.topology import ACCOUNTS, account
from sandbox.world.traces import emit_traces

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PROD = account("prod")


@pytest.fixture(scope="module")
def world():
    """A week of the demo scenario in its own endpoint (traces: the last quarter hour)."""
    with Endpoint() as endpoint:
        world = World(endpoint, scenario="demo", seed=11, days=7, now=NOW, trace_hours=0.25)
        world.report = world.start()
        yield world


def client(world: World, service: str, who=PROD):
    return world.client(who, service)


def series(world: World, namespace: str, metric: str, dims: dict, stat: str, start, end, who=PROD):
    response = client(world, "cloudwatch", who).get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                    },
                    "Period": 60,
                    "Stat": stat,
                },
            }
        ],
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampAscending",
    )
    result = response["MetricDataResults"][0]
    return np.array([t.timestamp() for t in result["Timestamps"]]), np.array(result["Values"])


def backfill(world: World, who=PROD):
    return next(r for r in world.backfill_results() if r.account.account_id == who.account_id)


def test_aws_namespaces_and_dimensions_are_listed(world) -> None:
    cloudwatch = client(world, "cloudwatch")
    paginator = cloudwatch.get_paginator("list_metrics")
    metrics = [m for page in paginator.paginate() for m in page["Metrics"]]
    names = {(m["Namespace"], m["MetricName"]) for m in metrics}
    for expected in [
        ("AWS/Lambda", "Invocations"),
        ("AWS/Lambda", "Duration"),
        ("AWS/Lambda", "AsyncEventAge"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/SQS", "NumberOfMessagesSent"),
        ("AWS/Events", "Invocations"),
        ("AWS/States", "ExecutionsStarted"),
        ("OrderPipeline/Resilience", "CircuitBreakerState"),
    ]:
        assert expected in names
    lambda_dims = {
        tuple(d["Name"] for d in m["Dimensions"]) for m in metrics if m["Namespace"] == "AWS/Lambda"
    }
    assert lambda_dims == {("FunctionName",)}
    functions = {m["Dimensions"][0]["Value"] for m in metrics if m["Namespace"] == "AWS/Lambda"}
    assert functions == {f.name for f in PROD.functions}


def test_metric_values_match_the_simulation(world) -> None:
    result = backfill(world)
    start, end = NOW - timedelta(hours=6), NOW
    window = (result.timestamps >= start.timestamp()) & (result.timestamps < end.timestamp())
    fn = result.functions["payment-processor"]
    stamps, values = series(
        world, "AWS/Lambda", "Invocations", {"FunctionName": "payment-processor"}, "Sum", start, end
    )
    active = window & (fn.invocations > 0)
    assert stamps.tolist() == result.timestamps[active].astype(float).tolist()
    assert values.tolist() == fn.invocations[active].astype(float).tolist()
    queue = result.queues["payments"]
    _, sent = series(
        world, "AWS/SQS", "NumberOfMessagesSent", {"QueueName": "payments"}, "Sum", start, end
    )
    assert sent.tolist() == queue.sent[window].astype(float).tolist()
    _, p99 = series(
        world, "AWS/Lambda", "Duration", {"FunctionName": "orders-api"}, "p99", start, end
    )
    expected = result.functions["orders-api"].duration_p99_ms[
        window & (result.functions["orders-api"].invocations > 0)
    ]
    assert np.median(p99 / expected) == pytest.approx(1.0, rel=0.25)


def test_redrive_moves_are_not_counted_as_sends_to_the_dlq(world) -> None:
    result = backfill(world)
    dlq = result.queues["payments-dlq"]
    assert dlq.moved_in.sum() > 0
    _, sent = series(
        world,
        "AWS/SQS",
        "NumberOfMessagesSent",
        {"QueueName": "payments-dlq"},
        "Sum",
        NOW - timedelta(days=7),
        NOW,
    )
    assert sent.sum() == 0
    _, depth = series(
        world,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": "payments-dlq"},
        "Maximum",
        NOW - timedelta(minutes=5),
        NOW,
    )
    assert depth[-1] == dlq.visible[-1] > 0


@pytest.mark.parametrize("who", ACCOUNTS, ids=lambda a: a.name)
def test_dlq_depths_equal_the_ledger(world, who) -> None:
    result = backfill(world, who)
    ledger: dict[str, int] = {}
    for message in result.dlq_messages:
        ledger[message.dlq] = ledger.get(message.dlq, 0) + 1
    sqs = client(world, "sqs", who)
    for name in dead_letter_queues(who):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        assert int(attributes["ApproximateNumberOfMessages"]) == ledger.get(name, 0), name
        if name in result.queues:
            assert int(result.queues[name].visible[-1]) == ledger.get(name, 0), name


@pytest.mark.parametrize("who", ACCOUNTS, ids=lambda a: a.name)
def test_breaker_items_hold_the_timelines_last_state(world, who) -> None:
    result = backfill(world, who)
    table = who.breaker_table
    items = client(world, "dynamodb", who).scan(TableName=table.name)["Items"]
    by_key = {item[table.key_attr]["S"]: item for item in items}
    assert set(by_key) == set(table.breakers)
    for name in table.breakers:
        assert by_key[name] == breaker_item(table, result.breakers[name])
        spelled = by_key[name][table.state_attr]["S"]
        assert spelled in dict(table.state_values).values()
    for name in table.no_timestamp:
        assert table.updated_attr not in by_key[name]


def test_breaker_timelines_follow_the_policy(world) -> None:
    allowed = {
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
    }
    transitions = [
        t for r in world.backfill_results() for b in r.breakers.values() for t in b.transitions
    ]
    assert transitions, "the demo week opens at least one breaker"
    assert {(t.from_state, t.to_state) for t in transitions} <= allowed


SIGNATURES = {
    # incident kind -> (namespace, metric, dimensions from the incident, stat, how it shows)
    "retry-storm": ("OrderPipeline/Resilience", "DownstreamRetries", "Sum"),
    "function-errors": ("AWS/Lambda", "Errors", "Sum"),
    "breaker-open": ("OrderPipeline/Resilience", "CircuitBreakerState", "Maximum"),
    "dlq-growth": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum"),
    "execution-failures": ("AWS/States", "ExecutionsFailed", "Sum"),
}


def _dimensions(incident, who) -> dict[str, str]:
    kind, _, name = incident.resource.partition(":")
    if incident.kind == "retry-storm":
        return {"Dependency": incident.downstream, "Function": name}
    if kind == "lambda":
        return {"FunctionName": name}
    if kind == "breaker":
        return {"Breaker": name}
    if kind == "sqs":
        return {"QueueName": name}
    machine = name.split("/")[0]
    return {
        "StateMachineArn": f"arn:aws:states:{who.region}:{who.account_id}:stateMachine:{machine}"
    }


def test_every_ground_truth_window_shows_its_signature(world) -> None:
    incidents = [
        i for i in world.incidents() if i.account_id == PROD.account_id and i.kind in SIGNATURES
    ]
    assert {i.kind for i in incidents} >= {"retry-storm", "breaker-open", "dlq-growth"}
    for incident in incidents:
        start = datetime.fromtimestamp(incident.start, UTC)
        end = datetime.fromtimestamp(incident.end, UTC)
        label = f"{incident.kind} {incident.resource}"
        if incident.kind == "retry-storm" and incident.resource.startswith("sqs:"):
            # A redelivery storm: the queue hands out far more messages than it is sent.
            queue = {"QueueName": incident.resource.split(":", 1)[1]}
            _, received = series(
                world, "AWS/SQS", "NumberOfMessagesReceived", queue, "Sum", start, end
            )
            _, sent = series(world, "AWS/SQS", "NumberOfMessagesSent", queue, "Sum", start, end)
            assert received.sum() > 1.2 * sent.sum(), label
            continue
        namespace, metric, stat = SIGNATURES[incident.kind]
        dims = _dimensions(incident, PROD)
        _, inside = series(world, namespace, metric, dims, stat, start, end)
        assert inside.size, f"no data for {label} {dims}"
        if incident.kind == "breaker-open":
            assert (inside == BreakerState.OPEN).any(), label
        elif incident.kind == "dlq-growth":
            assert inside[-1] > inside[0], label
        else:
            hours_before = (start - timedelta(hours=3), start - timedelta(hours=1))
            _, before = series(world, namespace, metric, dims, stat, *hours_before)
            baseline = before.mean() if before.size else 0.0
            assert inside.mean() > 3 * baseline + 1, label


def test_traces_carry_retries_and_the_storms_edge(world) -> None:
    storm = next(
        i for i in world.incidents() if i.kind == "retry-storm" and i.account_id == PROD.account_id
    )
    function = storm.resource.split(":", 1)[1]
    # Trace the storm's first half hour, as `up --trace-incidents` does for every incident.
    emit_traces(
        backfill(world),
        world.endpoint.services.xray.get(PROD.account_id, PROD.region),
        seed=world.seed,
        trace_hours=0,
        windows=[(storm.start, storm.start + 1800)],
    )
    xray = client(world, "xray")
    start = datetime.fromtimestamp(storm.start, UTC)
    graph = xray.get_service_graph(StartTime=start, EndTime=start + timedelta(minutes=30))
    host = PROD.dependency(storm.downstream).host
    caller = next(
        s
        for s in graph["Services"]
        if s["Name"] == function and s["Type"] == "AWS::Lambda::Function"
    )
    targets = {s["ReferenceId"]: s["Name"] for s in graph["Services"]}
    edge = next(e for e in caller["Edges"] if targets[e["ReferenceId"]] in (host, storm.downstream))
    stats = edge["SummaryStatistics"]
    assert stats["ErrorStatistics"]["ThrottleCount"] + stats["FaultStatistics"]["TotalCount"] > 0
    summaries = xray.get_trace_summaries(
        StartTime=start,
        EndTime=start + timedelta(minutes=30),
        FilterExpression=f'service("{function}") {{ fault OR throttle }}',
    )["TraceSummaries"]
    assert summaries
    assert all(s["HasFault"] or s["HasThrottle"] for s in summaries)
    [trace] = xray.batch_get_traces(TraceIds=[summaries[0]["Id"]])["Traces"]
    documents = [json.loads(s["Document"]) for s in trace["Segments"]]
    attempts = [
        sub
        for d in documents
        for sub in _subsegments(d)
        if sub.get("name") in (host, storm.downstream, "dynamodb")
    ]
    assert len(attempts) > 1 or any(a.get("aws", {}).get("retries", 0) > 0 for a in attempts)


def _subsegments(document: dict):
    for sub in document.get("subsegments", []):
        yield sub
        yield from _subsegments(sub)


def test_live_ticks_continue_the_backfill(world) -> None:
    report = world.tick(NOW + timedelta(minutes=5))
    assert report.minutes == 5 * len(ACCOUNTS)
    stamps, _ = series(
        world,
        "AWS/SQS",
        "NumberOfMessagesSent",
        {"QueueName": "payments"},
        "Sum",
        NOW,
        NOW + timedelta(minutes=5),
    )
    assert stamps.tolist() == [(NOW + timedelta(minutes=m)).timestamp() for m in range(5)]
    depths = 0
    for who in ACCOUNTS:
        sqs = client(world, "sqs", who)
        for name in dead_letter_queues(who):
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            depths += int(attributes["ApproximateNumberOfMessages"])
    assert depths == report.dlq_messages


def test_the_same_seed_gives_the_same_world() -> None:
    """Two endpoints, one seed: the same data through boto3 (different seeds: unit-tested)."""

    def run(seed: int):
        with Endpoint() as endpoint:
            world = World(
                endpoint,
                scenario="payment-outage",
                seed=seed,
                days=2,
                now=NOW,
                accounts=[PROD],
                trace_hours=0.1,
            )
            world.start()
            _, errors = series(
                world,
                "AWS/Lambda",
                "Errors",
                {"FunctionName": "payment-processor"},
                "Sum",
                NOW - timedelta(days=2),
                NOW,
            )
            sqs = client(world, "sqs")
            url = sqs.get_queue_url(QueueName="payments-dlq")["QueueUrl"]
            depth = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
            summaries = client(world, "xray").get_trace_summaries(
                StartTime=NOW - timedelta(minutes=6), EndTime=NOW
            )["TraceSummaries"]
            incidents = [(i.kind, i.resource, i.start, i.end) for i in world.incidents()]
            return errors.tolist(), depth, sorted(t["Id"] for t in summaries), incidents

    first = run(5)
    assert first[0] and int(first[1]) > 0 and first[2] and first[3]
    assert run(5) == first


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        check=False,
        args=[sys.executable, "-m", "sandbox", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["up", "--scenario", "meltdown"], ["'meltdown'", "demo, quiet, payment-outage"]),
        (["up", "--dayz", "3"], ["--dayz", "--days", "--scenario", "--seed"]),
        (["up", "--days", "0"], ["--days"]),
        (["up", "--seed", "abc"], ["--seed", "abc"]),
    ],
    ids=["unknown-scenario", "unknown-option", "zero-days", "bad-seed"],
)
def test_bad_input_gets_one_line_naming_it(args, needles) -> None:
    done = _cli(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0]
    assert done.stdout == ""


def test_a_taken_port_is_reported_not_a_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _cli("up", "--port", str(port))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"sandbox: port {port} on 127.0.0.1 is already in use; "
        "choose another with --port N, or omit --port"
    ]
