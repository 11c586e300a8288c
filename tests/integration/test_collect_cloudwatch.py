"""CloudWatch collection against the sandbox world: values equal the simulation, GetMetricData
calls sit at ⌈series ⁄ 500⌉ plus pagination (counted by botocore's event hooks), a second cycle
re-reads only the overlap, and a revised datapoint replaces the stored value."""

from __future__ import annotations

import math
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from collectors.cloudwatch import (
    DEFAULT_MAX_LOOKBACK,
    GET_METRIC_DATA,
    LIST_METRICS,
    collect_metrics,
    watermarks_from,
)
from collectors.discovery import discover
from collectors.schema import METRICS
from collectors.store import Store
from sandbox.endpoint import Endpoint
from sandbox.world.emit_metrics import APP_NAMESPACE
from sandbox.world.runner import World
from sandbox.world.topology import account

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PROD = account("prod")
LOOKBACK = DEFAULT_MAX_LOOKBACK  # three hours
KEY = list(METRICS.key)


class Clock:
    """The endpoint's clock, moved by the tests (the collectors get ``now`` explicitly)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


CLOCK = Clock(NOW)


@pytest.fixture(scope="module")
def world():
    with Endpoint(clock=CLOCK) as endpoint:
        world = World(
            endpoint, scenario="demo", seed=7, days=1, now=NOW, accounts=[PROD], trace_hours=0.05
        )
        world.start()
        yield world


@pytest.fixture(scope="module")
def inventory(world):
    return discover(
        lambda service: world.client(PROD, service),
        account=PROD.account_id,
        region=PROD.region,
        now=NOW,
        breaker_tables=[PROD.breaker_table.name],
    )


@pytest.fixture(scope="module")
def first(world, inventory):
    """The first cycle: no watermarks, the default lookback (three hours) back from NOW."""
    with counted(world) as calls:
        frame, stats = collect(world, inventory, now=NOW)
    return frame, stats, calls


@contextmanager
def counted(world):
    """Count the CloudWatch client's requests with botocore's before-call events."""
    client = world.client(PROD, "cloudwatch")
    calls: Counter[str] = Counter()

    def count(model, **_):
        calls[model.name] += 1

    for operation in ("GetMetricData", "ListMetrics"):
        client.meta.events.register(
            f"before-call.monitoring.{operation}", count, unique_id=operation
        )
    try:
        yield calls
    finally:
        for operation in ("GetMetricData", "ListMetrics"):
            client.meta.events.unregister(
                f"before-call.monitoring.{operation}", unique_id=operation
            )


def collect(world, inventory, *, now, watermarks=None, **options):
    return collect_metrics(
        world.client(PROD, "cloudwatch"),
        inventory,
        watermarks=watermarks or {},
        now=now,
        max_lookback=options.pop("max_lookback", LOOKBACK),
        **options,
    )


def series(frame: pd.DataFrame, namespace: str, metric: str, dimensions: str, stat: str):
    rows = frame[
        (frame.namespace == namespace)
        & (frame.metric == metric)
        & (frame.dimensions == dimensions)
        & (frame.stat == stat)
    ].sort_values("ts")
    return (rows.ts.astype("int64") // 1000).to_numpy(), rows.value.to_numpy()


def simulated(world, values, mask=None):
    """(timestamps, values) of a simulation array over the first cycle's window."""
    result = world.backfill_results()[0]
    stamps = result.timestamps
    keep = (stamps >= (NOW - LOOKBACK).timestamp()) & (stamps < NOW.timestamp())
    if mask is not None:
        keep &= mask
    return stamps[keep].astype(np.int64), np.asarray(values, dtype=np.float64)[keep]


def test_first_cycle_values_equal_the_simulation(world, first) -> None:
    frame, _, _ = first
    result = world.backfill_results()[0]
    assert list(frame.columns) == METRICS.columns
    assert not frame.duplicated(KEY).any()
    assert frame.ts.min() >= NOW - LOOKBACK
    assert frame.ts.max() < NOW
    fn = result.functions["payment-processor"]
    active = (fn.invocations > 0) | (fn.throttles > 0)
    got = series(frame, "AWS/Lambda", "Invocations", "FunctionName=payment-processor", "Sum")
    want = simulated(world, fn.invocations, active)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    mailer = result.functions["email-sender"]
    got = series(frame, "AWS/Lambda", "AsyncEventAge", "FunctionName=email-sender", "Maximum")
    want = simulated(world, mailer.async_event_age_ms, mailer.async_events_received > 0)
    np.testing.assert_array_equal(got, want)
    for queue, metric, values in (
        ("payments", "NumberOfMessagesSent", result.queues["payments"].sent),
        (
            "payments-dlq",
            "ApproximateNumberOfMessagesVisible",
            result.queues["payments-dlq"].visible,
        ),
        ("shipping", "ApproximateAgeOfOldestMessage", result.queues["shipping"].oldest_age_s),
    ):
        stat = "Sum" if metric.startswith("NumberOf") else "Maximum"
        got = series(frame, "AWS/SQS", metric, f"QueueName={queue}", stat)
        np.testing.assert_array_equal(got, simulated(world, values))
    machine = result.state_machines["order-fulfilment"]
    arn = f"arn:aws:states:{PROD.region}:{PROD.account_id}:stateMachine:order-fulfilment"
    got = series(frame, "AWS/States", "ExecutionsStarted", f"StateMachineArn={arn}", "Sum")
    np.testing.assert_array_equal(got, simulated(world, machine.started, machine.started > 0))
    (function, dependency), edge = next(iter(result.edges.items()))
    got = series(
        frame,
        APP_NAMESPACE,
        "DownstreamRetries",
        f"Dependency={dependency},Function={function}",
        "Sum",
    )
    np.testing.assert_array_equal(got, simulated(world, edge.retries, edge.requests > 0))
    got = series(frame, APP_NAMESPACE, "CircuitBreakerState", "Breaker=payment-api", "Maximum")
    np.testing.assert_array_equal(got, simulated(world, result.breakers["payment-api"].state))
    _, p99 = series(frame, "AWS/Lambda", "Duration", "FunctionName=orders-api", "p99")
    orders = result.functions["orders-api"]
    _, expected = simulated(world, orders.duration_p99_ms, orders.invocations > 0)
    assert np.median(p99 / expected) == pytest.approx(1.0, rel=0.25)
    resources = set(frame.resource)
    assert {
        "lambda:payment-processor",
        "sqs:payments-dlq",
        "events:order-confirmed",
        "states:order-fulfilment",
        f"app:{function}->{dependency}",
        "breaker:payment-api",
    } <= resources


def test_first_cycle_calls_sit_at_the_floor(first) -> None:
    _, stats, calls = first
    assert calls["GetMetricData"] == math.ceil(stats.queries / 500) == stats.floor == 1
    assert stats.calls == {GET_METRIC_DATA: 1, LIST_METRICS: calls["ListMetrics"]}
    assert stats.pages == 0
    assert stats.queries == stats.read > 200


@pytest.mark.parametrize("extra", [0, 400, 900], ids=["one-call", "two-calls", "three-calls"])
def test_calls_are_the_ceiling_of_series_over_500(world, inventory, first, extra) -> None:
    """Extra series in a namespace of their own push the cycle past 500 and 1,000 series."""
    namespace = f"Stormwatch/Extra{extra}"
    store = world.endpoint.services.metrics.get(PROD.account_id, PROD.region).store
    stamps = np.array([(NOW - timedelta(minutes=m)).timestamp() for m in range(1, 4)], np.int64)
    ones = np.ones(stamps.size)
    for i in range(extra):
        store.put_aggregates(
            namespace, "Load", {"Shard": f"{i:04d}"}, "Count", stamps, ones, ones, ones, ones
        )
    with counted(world) as calls:
        frame, stats = collect(
            world,
            inventory,
            now=NOW,
            app_namespaces=(APP_NAMESPACE, namespace),
            max_lookback=timedelta(minutes=30),
        )
    assert stats.queries == first[1].queries + extra
    assert calls["GetMetricData"] == math.ceil(stats.queries / 500)
    assert stats.calls[GET_METRIC_DATA] == calls["GetMetricData"]
    assert stats.calls[LIST_METRICS] == calls["ListMetrics"] >= 2  # one namespace each, paged
    assert (frame.namespace == namespace).sum() == 3 * extra


def test_next_token_is_followed_and_every_page_counted(world, inventory, first) -> None:
    unpaged, _, _ = first
    with counted(world) as calls:
        paged, stats = collect(world, inventory, now=NOW, max_datapoints=2_500)
    expected_pages = math.ceil(len(unpaged) / 2_500)  # one batch: its datapoints, 2,500 a page
    assert expected_pages > 5
    assert calls["GetMetricData"] == stats.calls[GET_METRIC_DATA] == expected_pages
    assert stats.pages == expected_pages - stats.floor
    pd.testing.assert_frame_equal(
        paged.sort_values(KEY, ignore_index=True), unpaged.sort_values(KEY, ignore_index=True)
    )


def test_a_revised_datapoint_replaces_the_stored_value(world, inventory, first, tmp_path) -> None:
    """Through the real store: write, take watermarks from it, re-read, write again."""
    frame, _, _ = first
    store = Store(tmp_path / "store")
    store.write("metrics", frame)
    latest = store.latest("metrics", by=KEY[:-1])
    marks = watermarks_from(latest, PROD.account_id, PROD.region)
    assert marks == watermarks_from(frame, PROD.account_id, PROD.region)
    (function, dependency), _ = next(iter(world.backfill_results()[0].edges.items()))
    dims = f"Dependency={dependency},Function={function}"
    watermark = marks[(APP_NAMESPACE, "DownstreamCalls", dims, "Sum", 60)]
    recent, old = watermark - timedelta(minutes=2), watermark - timedelta(minutes=30)
    stored = dict(zip(*series(frame, APP_NAMESPACE, "DownstreamCalls", dims, "Sum"), strict=True))
    # A late datapoint for both minutes: CloudWatch aggregates it into what it holds.
    metrics = world.endpoint.services.metrics.get(PROD.account_id, PROD.region).store
    late = np.array([recent.timestamp(), old.timestamp()], dtype=np.int64)
    metrics.put_aggregates(
        APP_NAMESPACE,
        "DownstreamCalls",
        {"Function": function, "Dependency": dependency},
        "Count",
        late,
        [1000.0] * 2,
        [1.0] * 2,
        [1000.0] * 2,
        [1000.0] * 2,
    )
    again, stats = collect(world, inventory, now=NOW, watermarks=marks)
    store.write("metrics", again)
    merged = store.read("metrics")
    revised = dict(zip(*series(merged, APP_NAMESPACE, "DownstreamCalls", dims, "Sum"), strict=True))
    assert revised[int(recent.timestamp())] == stored[int(recent.timestamp())] + 1000
    # Older than the overlap: not re-read, so the stored value stands (the overlap's bound).
    assert revised[int(old.timestamp())] == stored[int(old.timestamp())]
    assert len(merged) == len(frame)  # re-read rows replaced, none duplicated
    assert not merged.duplicated(KEY).any()
    assert stats.calls[GET_METRIC_DATA] == stats.floor == 1


def test_a_second_cycle_rereads_only_the_overlap(world, inventory, first) -> None:
    frame, _, _ = first
    marks = watermarks_from(frame, PROD.account_id, PROD.region)
    later = NOW + timedelta(minutes=5)
    world.tick(later)
    CLOCK.now = later + timedelta(seconds=30)
    with counted(world) as calls:
        again, stats = collect(world, inventory, now=CLOCK.now, watermarks=marks)
    assert calls["GetMetricData"] == stats.floor == math.ceil(stats.read / 500) == 1
    assert again.ts.max() < later  # the still-filling minute is not read
    keyed = again.assign(
        watermark=[
            marks.get((r.namespace, r.metric, r.dimensions, r.stat, r.period_s))
            for r in again.itertuples()
        ]
    )
    with_mark = keyed[keyed.watermark.notna()]
    assert (
        with_mark.ts >= pd.to_datetime(with_mark.watermark, utc=True) - timedelta(minutes=10)
    ).all()
    # Series with nothing stored read the whole lookback again, and find only new minutes.
    assert (keyed[keyed.watermark.isna()].ts >= NOW).all()
    ts, sent = series(again, "AWS/SQS", "NumberOfMessagesSent", "QueueName=payments", "Sum")
    expected_start = NOW - timedelta(minutes=11)  # last stored minute (11:59) minus 10 minutes
    assert ts.tolist() == [
        int((expected_start + timedelta(minutes=m)).timestamp()) for m in range(16)
    ]
    overlap = ts < NOW.timestamp()
    stored = dict(
        zip(
            *series(frame, "AWS/SQS", "NumberOfMessagesSent", "QueueName=payments", "Sum"),
            strict=True,
        )
    )
    assert sent[overlap].tolist() == [stored[t] for t in ts[overlap]]
    assert len(again) < len(frame) / 10
