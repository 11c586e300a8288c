"""The pure core of CloudWatch collection: catalog → queries, batching, ids, windows, fetch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from botocore.exceptions import ClientError

from collectors.cloudwatch import (
    CATALOG,
    Catalog,
    KindSpec,
    MetricQuery,
    MetricSpec,
    Window,
    app_resource,
    batches,
    collect_metrics,
    fetch,
    metric_window,
    plan_queries,
    watermarks_from,
)
from collectors.discovery import (
    AsyncInvokeConfig,
    EventRule,
    Inventory,
    LambdaFunction,
    Queue,
    RuleTarget,
    StateMachine,
    Table,
)
from collectors.errors import SourceError
from collectors.schema import METRICS

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 20, 12, 0, 30, tzinfo=UTC)
ACCOUNT, REGION = "111111111111", "us-east-1"


def function(name: str, **overrides: Any) -> LambdaFunction:
    fields: dict[str, Any] = {
        "name": name,
        "arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        "runtime": "python3.12",
        "timeout_s": 10,
        "memory_mb": 256,
        "tracing_mode": "Active",
        "reserved_concurrency": None,
        "dead_letter_target": None,
        "async_config": None,
        "event_source_mappings": (),
        "tags": {},
    }
    return LambdaFunction(**{**fields, **overrides})


def queue(name: str) -> Queue:
    return Queue(
        name=name,
        url=f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
        arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
        fifo=False,
        visibility_timeout_s=30,
        retention_s=345_600,
        delay_s=0,
        dlq_arn=None,
        max_receive_count=None,
        dead_letter_sources=(),
        failure_senders=(),
        attributes={},
        tags={},
    )


def rule(name: str, bus: str = "default") -> EventRule:
    prefix = "" if bus == "default" else f"{bus}/"
    return EventRule(
        name=name,
        arn=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{prefix}{name}",
        event_bus=bus,
        state="ENABLED",
        schedule=None,
        event_pattern="{}",
        targets=(RuleTarget("t", "arn:aws:lambda:x", None, None, None),),
        tags={},
    )


MACHINE = StateMachine(
    name="order-fulfilment",
    arn=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:order-fulfilment",
    type="STANDARD",
    status="ACTIVE",
    role_arn=None,
    definition={"StartAt": "A", "States": {}},
    definition_error=None,
    tracing_enabled=False,
    logging_level="OFF",
    tags={},
)
TABLE = Table(
    "inventory",
    f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/inventory",
    None,
    None,
    (("pk", "HASH"),),
    False,
    {},
)


def inventory(**records: Any) -> Inventory:
    return Inventory(ACCOUNT, REGION, NOW, **records)


def described(queries: list[MetricQuery]) -> set[tuple[str, str, str, str, str]]:
    return {(q.resource, q.namespace, q.metric, q.dimensions_text, q.stat) for q in queries}


# -- catalog -> queries --------------------------------------------------------------------------

ASYNC = AsyncInvokeConfig(2, 3600, "arn:aws:sqs:us-east-1:111111111111:failures", None)
SYNC_LAMBDA = {
    ("Invocations", "Sum"),
    ("Errors", "Sum"),
    ("Throttles", "Sum"),
    ("Duration", "p50"),
    ("Duration", "p99"),
    ("Duration", "Average"),
    ("ConcurrentExecutions", "Maximum"),
}
ASYNC_LAMBDA = SYNC_LAMBDA | {
    ("AsyncEventsReceived", "Sum"),
    ("AsyncEventAge", "Maximum"),
    ("AsyncEventAge", "Average"),
    ("AsyncEventsDropped", "Sum"),
    ("DeadLetterErrors", "Sum"),
    ("DestinationDeliveryFailures", "Sum"),
}


@pytest.mark.parametrize(
    ("records", "resource", "namespace", "dimensions", "expected"),
    [
        pytest.param(
            {"functions": (function("checkout"),)},
            "lambda:checkout",
            "AWS/Lambda",
            "FunctionName=checkout",
            SYNC_LAMBDA,
            id="lambda-sync",
        ),
        pytest.param(
            {"functions": (function("mailer", async_config=ASYNC),)},
            "lambda:mailer",
            "AWS/Lambda",
            "FunctionName=mailer",
            ASYNC_LAMBDA,
            id="lambda-async-config",
        ),
        pytest.param(
            {"functions": (function("invoice", async_sources=("arn:aws:events:r",)),)},
            "lambda:invoice",
            "AWS/Lambda",
            "FunctionName=invoice",
            ASYNC_LAMBDA,
            id="lambda-rule-target",
        ),
        pytest.param(
            {"queues": (queue("orders-dlq"),)},
            "sqs:orders-dlq",
            "AWS/SQS",
            "QueueName=orders-dlq",
            {
                ("NumberOfMessagesSent", "Sum"),
                ("NumberOfMessagesReceived", "Sum"),
                ("NumberOfMessagesDeleted", "Sum"),
                ("ApproximateNumberOfMessagesVisible", "Maximum"),
                ("ApproximateNumberOfMessagesNotVisible", "Maximum"),
                ("ApproximateAgeOfOldestMessage", "Maximum"),
            },
            id="sqs",
        ),
        pytest.param(
            {"rules": (rule("order-confirmed"),)},
            "events:order-confirmed",
            "AWS/Events",
            "RuleName=order-confirmed",
            {
                ("Invocations", "Sum"),
                ("FailedInvocations", "Sum"),
                ("RetryInvocationAttempts", "Sum"),
                ("InvocationsSentToDlq", "Sum"),
            },
            id="events-default-bus",
        ),
        pytest.param(
            {"rules": (rule("audit", bus="partners"),)},
            "events:partners/audit",
            "AWS/Events",
            "EventBusName=partners,RuleName=audit",
            {
                ("Invocations", "Sum"),
                ("FailedInvocations", "Sum"),
                ("RetryInvocationAttempts", "Sum"),
                ("InvocationsSentToDlq", "Sum"),
            },
            id="events-custom-bus",
        ),
        pytest.param(
            {"state_machines": (MACHINE,)},
            "states:order-fulfilment",
            "AWS/States",
            f"StateMachineArn={MACHINE.arn}",
            {
                ("ExecutionsStarted", "Sum"),
                ("ExecutionsSucceeded", "Sum"),
                ("ExecutionsFailed", "Sum"),
                ("ExecutionsTimedOut", "Sum"),
                ("ExecutionThrottled", "Sum"),
            },
            id="states",
        ),
        pytest.param(
            {"tables": (TABLE,)},
            "dynamodb:inventory",
            "AWS/DynamoDB",
            "TableName=inventory",
            {("ReadThrottleEvents", "Sum"), ("WriteThrottleEvents", "Sum")},
            id="dynamodb",
        ),
    ],
)
def test_catalog_plans_each_kinds_metrics(records, resource, namespace, dimensions, expected):
    queries = plan_queries(inventory(**records), CATALOG, [])
    assert described(queries) == {(resource, namespace, m, dimensions, s) for m, s in expected}
    assert {(q.account, q.region, q.period) for q in queries} == {(ACCOUNT, REGION, 60)}


LISTED = [
    {
        "Namespace": "OrderPipeline/Resilience",
        "MetricName": "DownstreamRetries",
        "Dimensions": [
            {"Name": "Function", "Value": "checkout"},
            {"Name": "Dependency", "Value": "payment-api"},
        ],
    },
    {
        "Namespace": "OrderPipeline/Resilience",
        "MetricName": "CircuitBreakerState",
        "Dimensions": [{"Name": "Breaker", "Value": "payment-api"}],
    },
    {"Namespace": "Shop/Custom", "MetricName": "Orders", "Dimensions": []},
]


def test_listed_app_metrics_get_catalog_stats_resources_and_sorted_dimensions() -> None:
    queries = plan_queries(inventory(), CATALOG, LISTED)
    assert described(queries) == {
        (
            "app:checkout->payment-api",
            "OrderPipeline/Resilience",
            "DownstreamRetries",
            "Dependency=payment-api,Function=checkout",
            "Sum",
        ),
        (
            "breaker:payment-api",
            "OrderPipeline/Resilience",
            "CircuitBreakerState",
            "Breaker=payment-api",
            "Maximum",
        ),
        ("app:Shop/Custom", "Shop/Custom", "Orders", "", "Sum"),
    }


def test_planning_is_deterministic_and_each_series_appears_once() -> None:
    inv = inventory(functions=(function("b"), function("a")), queues=(queue("q"),))
    first = plan_queries(inv, CATALOG, LISTED + LISTED)
    assert first == plan_queries(inv, CATALOG, list(reversed(LISTED)))
    assert len({q.key for q in first}) == len(first)
    assert len({q.id for q in first}) == len(first)
    assert all(q.id[0].islower() and q.id.isalnum() for q in first)


def test_a_custom_catalog_replaces_the_default() -> None:
    catalog = Catalog(
        kinds=(
            KindSpec(
                "sqs",
                "AWS/SQS",
                "sqs",
                lambda q: {"QueueName": q.name},
                (MetricSpec("NumberOfMessagesSent", ("Sum",), period=300),),
            ),
        ),
        app_default_stats=("Average", "Maximum"),
    )
    queries = plan_queries(
        inventory(functions=(function("f"),), queues=(queue("q"),)), catalog, LISTED[2:]
    )
    assert [(q.resource, q.metric, q.stat, q.period) for q in queries] == [
        ("sqs:q", "NumberOfMessagesSent", "Sum", 300),
        ("app:Shop/Custom", "Orders", "Average", 60),
        ("app:Shop/Custom", "Orders", "Maximum", 60),
    ]


@pytest.mark.parametrize(
    ("dims", "expected"),
    [
        ({"Breaker": "payment-api"}, "breaker:payment-api"),
        ({"Function": "f", "Dependency": "d"}, "app:f->d"),
        ({"Function": "f"}, "app:f"),
        ({"Tenant": "t", "Shard": "2"}, "app:Shard=2,Tenant=t"),
        ({}, "app:NS"),
    ],
    ids=["breaker", "edge", "function", "other", "none"],
)
def test_app_resource(dims, expected) -> None:
    assert app_resource("NS", dims) == expected


# -- batching ------------------------------------------------------------------------------------


def synthetic(n: int, period: int = 60) -> list[MetricQuery]:
    return [
        MetricQuery(ACCOUNT, REGION, f"app:s{i}", "NS", "M", (("Series", str(i)),), "Sum", period)
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("n", "calls", "sizes"),
    [(1, 1, [1]), (500, 1, [500]), (501, 2, [500, 1]), (1001, 3, [500, 500, 1]), (0, 0, [])],
    ids=["1", "500", "501", "1001", "0"],
)
def test_batches_sit_at_the_floor(n, calls, sizes) -> None:
    planned = batches(synthetic(n))
    assert len(planned) == calls
    assert [len(b.queries) for b in planned] == sizes
    assert [q for b in planned for q in b.queries] == synthetic(n)


def test_batches_group_by_period() -> None:
    queries = synthetic(3, 300) + synthetic(501, 60)
    planned = batches(queries)
    assert [(b.period, len(b.queries)) for b in planned] == [(60, 500), (60, 1), (300, 3)]


@pytest.mark.parametrize("bad", [0, 501])
def test_batch_size_limit_is_checked(bad) -> None:
    with pytest.raises(ValueError, match="max_per_call must be 1 to 500"):
        batches(synthetic(3), bad)


def test_ids_encode_the_index_and_map_back() -> None:
    [batch] = batches(synthetic(3))
    assert batch.ids == ("q0", "q1", "q2")
    assert [r["Id"] for r in batch.request()] == ["q0", "q1", "q2"]
    assert batch.request()[2]["MetricStat"] == {
        "Metric": {
            "Namespace": "NS",
            "MetricName": "M",
            "Dimensions": [{"Name": "Series", "Value": "2"}],
        },
        "Period": 60,
        "Stat": "Sum",
    }
    assert batch.query_for("q2") is batch.queries[2]
    for unknown in ("q3", "x1", "q", "q01", "q-1"):
        with pytest.raises(KeyError):
            batch.query_for(unknown)


def test_windowed_batches_sort_by_start_and_skip_series_with_nothing_to_read() -> None:
    queries = synthetic(4)
    old = Window(NOW - timedelta(hours=3), NOW)
    new = Window(NOW - timedelta(minutes=10), NOW)
    windows = {queries[0].key: new, queries[1].key: old, queries[3].key: new}
    planned = batches(queries, 2, windows=windows)
    assert [[q.resource for q in b.queries] for b in planned] == [
        ["app:s1", "app:s0"],
        ["app:s3"],
    ]
    assert planned[0].window == old
    assert planned[1].window == new


# -- windows -------------------------------------------------------------------------------------

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "period", "watermark", "overlap", "lookback", "expected"),
    [
        pytest.param(
            T + timedelta(seconds=30),
            60,
            None,
            10,
            180,
            (T - timedelta(hours=3), T),
            id="no-watermark-reads-max-lookback",
        ),
        pytest.param(
            T + timedelta(minutes=5, seconds=1),
            60,
            T,
            10,
            180,
            (T - timedelta(minutes=10), T + timedelta(minutes=5)),
            id="watermark-minus-overlap",
        ),
        pytest.param(
            T + timedelta(minutes=5),
            60,
            T + timedelta(seconds=17),
            10,
            180,
            (T - timedelta(minutes=10), T + timedelta(minutes=5)),
            id="unaligned-watermark-rounds-down",
        ),
        pytest.param(
            T + timedelta(minutes=7, seconds=59),
            300,
            T + timedelta(minutes=5),
            10,
            180,
            (T - timedelta(minutes=5), T + timedelta(minutes=5)),
            id="five-minute-period-alignment",
        ),
        pytest.param(
            T,
            60,
            T - timedelta(days=2),
            10,
            180,
            (T - timedelta(hours=3), T),
            id="old-watermark-capped-by-lookback",
        ),
        pytest.param(
            T + timedelta(minutes=1),
            60,
            T,
            0,
            180,
            (T, T + timedelta(minutes=1)),
            id="no-overlap-rereads-the-watermark-minute",
        ),
        pytest.param(
            T + timedelta(seconds=59),
            60,
            T + timedelta(minutes=20),
            10,
            180,
            None,
            id="watermark-ahead-of-the-clock",
        ),
        pytest.param(
            T,
            60,
            None,
            10,
            60 * 24 * 30,
            (T - timedelta(days=15), T),
            id="lookback-capped-by-retention",
        ),
        pytest.param(
            T + timedelta(seconds=29),
            10,
            None,
            10,
            180 * 10,
            (T + timedelta(seconds=20) - timedelta(hours=3), T + timedelta(seconds=20)),
            id="high-resolution-period",
        ),
    ],
)
def test_metric_window(now, period, watermark, overlap, lookback, expected) -> None:
    window = metric_window(
        now,
        period,
        watermark,
        overlap=timedelta(minutes=overlap),
        max_lookback=timedelta(minutes=lookback),
    )
    assert window == (None if expected is None else Window(*expected))
    if window is not None:
        assert window.start.timestamp() % period == 0
        assert window.end.timestamp() % period == 0


def test_metric_window_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        metric_window(datetime(2026, 11, 20), 60, None)


def test_watermarks_from_a_metrics_frame() -> None:
    frame = pd.DataFrame(
        {
            "account": [ACCOUNT, ACCOUNT, ACCOUNT, "other"],
            "region": [REGION] * 4,
            "namespace": ["NS"] * 4,
            "metric": ["M"] * 4,
            "dimensions": ["Series=0", "Series=0", "Series=1", "Series=0"],
            "stat": ["Sum"] * 4,
            "period_s": [60] * 4,
            "ts": pd.to_datetime(
                [T, T + timedelta(minutes=1), T, T + timedelta(hours=1)], utc=True
            ),
        }
    )
    assert watermarks_from(frame, ACCOUNT, REGION) == {
        ("NS", "M", "Series=0", "Sum", 60): T + timedelta(minutes=1),
        ("NS", "M", "Series=1", "Sum", 60): T,
    }


# -- fetch with a fake client --------------------------------------------------------------------


class FakeCloudWatch:
    """GetMetricData over in-memory series: pages of ``page`` datapoints, results laid end to
    end in request order (as AWS pages them); ListMetrics from a list."""

    def __init__(
        self,
        series: dict[str, list[tuple[datetime, float]]],
        page: int = 10**6,
        listed: list[dict[str, Any]] | None = None,
    ) -> None:
        self.series = series
        self.page = page
        self.listed = listed or []
        self.requests: list[dict[str, Any]] = []

    def get_metric_data(self, **params: Any) -> dict[str, Any]:
        self.requests.append(params)
        offset = int(params.get("NextToken") or 0)
        stop = offset + params.get("MaxDatapoints", self.page)
        results, cursor = [], 0
        for q in params["MetricDataQueries"]:
            value = q["MetricStat"]["Metric"]["Dimensions"][0]["Value"]
            points = [
                p
                for p in self.series.get(value, [])
                if params["StartTime"] <= p[0] < params["EndTime"]
            ]
            lo, hi = (
                min(max(offset - cursor, 0), len(points)),
                min(max(stop - cursor, 0), len(points)),
            )
            part = points[lo:hi]
            results.append(
                {
                    "Id": q["Id"],
                    "Timestamps": [p[0] for p in part],
                    "Values": [p[1] for p in part],
                    "StatusCode": "Complete" if cursor + len(points) <= stop else "PartialData",
                }
            )
            cursor += len(points)
        response: dict[str, Any] = {"MetricDataResults": results}
        if cursor > stop:
            response["NextToken"] = str(stop)
        return response

    def get_paginator(self, name: str) -> Any:
        assert name == "list_metrics"
        fake = self

        class Paginator:
            def paginate(self, Namespace: str) -> Any:
                mine = [m for m in fake.listed if m["Namespace"] == Namespace]
                for first in range(0, max(len(mine), 1), 2):
                    yield {"Metrics": mine[first : first + 2]}

        return Paginator()


def minutes(value: str, n: int, start: datetime = T) -> list[tuple[datetime, float]]:
    return [(start + timedelta(minutes=i), float(i)) for i in range(n)]


def test_fetch_follows_next_token_and_maps_results_back_by_id() -> None:
    queries = synthetic(3)
    client = FakeCloudWatch({"0": minutes("0", 5), "1": [], "2": minutes("2", 4)}, page=3)
    [batch] = batches(queries)
    frame, calls = fetch(client, batch, T, T + timedelta(hours=1))
    assert calls == 3  # 9 datapoints, 3 a page
    assert [r.get("NextToken") for r in client.requests] == [None, "3", "6"]
    assert all(r["ScanBy"] == "TimestampAscending" for r in client.requests)
    assert list(frame.columns) == METRICS.columns
    assert frame.groupby("resource").size().to_dict() == {"app:s0": 5, "app:s2": 4}
    assert frame[frame.resource == "app:s2"]["value"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert frame["ts"].dtype == "datetime64[ms, UTC]"
    assert str(frame["period_s"].dtype) == "Int32"
    assert set(frame["dimensions"]) == {"Series=0", "Series=2"}


def test_fetch_trims_each_series_to_its_own_window() -> None:
    queries = synthetic(2)
    client = FakeCloudWatch({"0": minutes("0", 30), "1": minutes("1", 30)})
    windows = {
        queries[0].key: Window(T, T + timedelta(minutes=30)),
        queries[1].key: Window(T + timedelta(minutes=20), T + timedelta(minutes=30)),
    }
    [batch] = batches(queries, windows=windows)
    frame, calls = fetch(client, batch)
    assert calls == 1
    assert client.requests[0]["StartTime"] == T
    assert frame.groupby("resource").size().to_dict() == {"app:s0": 30, "app:s1": 10}


@pytest.mark.parametrize("status", ["Forbidden", "InternalError"])
def test_a_failed_result_raises_instead_of_looking_empty(status) -> None:
    class Failing(FakeCloudWatch):
        def get_metric_data(self, **params: Any) -> dict[str, Any]:
            response = super().get_metric_data(**params)
            response["MetricDataResults"][1]["StatusCode"] = status
            return response

    [batch] = batches(synthetic(2))
    with pytest.raises(SourceError, match=f"NS M Series=1 Sum: {status}"):
        fetch(Failing({}), batch, T, T + timedelta(hours=1))


def test_an_unknown_result_id_is_an_error() -> None:
    class Confused(FakeCloudWatch):
        def get_metric_data(self, **params: Any) -> dict[str, Any]:
            response = super().get_metric_data(**params)
            response["MetricDataResults"][0]["Id"] = "q7"
            return response

    [batch] = batches(synthetic(1))
    with pytest.raises(SourceError, match="id 'q7', which the batch of 1 never sent"):
        fetch(Confused({}), batch, T, T + timedelta(hours=1))


def test_collect_metrics_counts_calls_and_reads_only_what_is_new() -> None:
    listed = [
        {"Namespace": "NS", "MetricName": "M", "Dimensions": [{"Name": "Series", "Value": str(i)}]}
        for i in range(5)
    ]
    series = {str(i): minutes(str(i), 180, T - timedelta(hours=3)) for i in range(5)}
    client = FakeCloudWatch(series, listed=listed)
    now = T + timedelta(seconds=30)
    first, stats = collect_metrics(
        client, inventory(), watermarks={}, now=now, app_namespaces=("NS",), max_per_call=2
    )
    assert stats.calls == {"cloudwatch:ListMetrics": 3, "cloudwatch:GetMetricData": 3}
    assert (stats.queries, stats.read, stats.batches, stats.pages) == (5, 5, 3, 0)
    assert len(first) == 5 * 180 == stats.datapoints
    marks = watermarks_from(first, ACCOUNT, REGION)
    again, stats = collect_metrics(
        client, inventory(), watermarks=marks, now=now, app_namespaces=("NS",), max_per_call=2
    )
    assert stats.calls["cloudwatch:GetMetricData"] == 3
    assert again["ts"].min() == T - timedelta(minutes=11)  # the last datapoint minus 10 minutes
    assert len(again) == 5 * 11


@pytest.mark.parametrize(
    "raw",
    [
        lambda t: t,
        lambda t: t.timestamp(),
        lambda t: int(t.timestamp()),
        lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        lambda t: t.isoformat(),
    ],
    ids=["datetime", "epoch-float", "epoch-int", "iso-z", "iso-offset"],
)
def test_fetch_accepts_raw_timestamps_from_a_pass_through_parser(raw) -> None:
    """A client built with ``timestamp_parser`` passing values through (see ``_epochs``)."""

    class Raw(FakeCloudWatch):
        def get_metric_data(self, **params: Any) -> dict[str, Any]:
            response = super().get_metric_data(**params)
            for result in response["MetricDataResults"]:
                result["Timestamps"] = [raw(t) for t in result["Timestamps"]]
            return response

    [batch] = batches(synthetic(1))
    frame, _ = fetch(Raw({"0": minutes("0", 3)}), batch, T, T + timedelta(hours=1))
    assert frame["ts"].tolist() == [pd.Timestamp(T + timedelta(minutes=m)) for m in range(3)]


def test_collect_metrics_hands_rows_to_a_sink_whole_series_at_a_time() -> None:
    listed = [
        {"Namespace": "NS", "MetricName": "M", "Dimensions": [{"Name": "Series", "Value": str(i)}]}
        for i in range(5)
    ]
    series = {str(i): minutes(str(i), 180, T - timedelta(hours=3)) for i in range(5)}
    now = T + timedelta(seconds=30)
    whole, _ = collect_metrics(
        FakeCloudWatch(series, listed=listed),
        inventory(),
        watermarks={},
        now=now,
        app_namespaces=("NS",),
        max_per_call=2,
    )
    handed: list[pd.DataFrame] = []
    rest, stats = collect_metrics(
        FakeCloudWatch(series, listed=listed),
        inventory(),
        watermarks={},
        now=now,
        app_namespaces=("NS",),
        max_per_call=2,
        sink=handed.append,
        flush_rows=300,  # a batch of 2 series is 360 rows: one hand-over per batch
    )
    assert rest.empty and list(rest.columns) == METRICS.columns
    assert [len(f) for f in handed] == [360, 360, 180]
    assert stats.datapoints == 900 and stats.calls["cloudwatch:GetMetricData"] == 3
    together = pd.concat(handed, ignore_index=True)
    assert together.equals(whole)
    # Each series lies in one hand-over, so storing hand-overs whole never splits a series.
    owners = {
        d: {i for i, f in enumerate(handed) if f"Series={d}" in set(f["dimensions"])}
        for d in series
    }
    assert all(len(found) == 1 for found in owners.values()), owners

    handed.clear()
    collect_metrics(
        FakeCloudWatch(series, listed=listed),
        inventory(),
        watermarks={},
        now=now,
        app_namespaces=("NS",),
        max_per_call=2,
        sink=handed.append,
    )
    assert [len(f) for f in handed] == [900]  # under the default threshold: one hand-over


def test_rows_read_before_a_failed_batch_are_handed_over_then_the_error_raised() -> None:
    class FailsThird(FakeCloudWatch):
        def get_metric_data(self, **params: Any) -> dict[str, Any]:
            if len(self.requests) == 2:
                self.requests.append(params)
                raise ClientError(
                    {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetMetricData"
                )
            return super().get_metric_data(**params)

    listed = [
        {"Namespace": "NS", "MetricName": "M", "Dimensions": [{"Name": "Series", "Value": str(i)}]}
        for i in range(5)
    ]
    series = {str(i): minutes(str(i), 60, T - timedelta(hours=1)) for i in range(5)}
    handed: list[pd.DataFrame] = []
    with pytest.raises(SourceError) as caught:
        collect_metrics(
            FailsThird(series, listed=listed),
            inventory(),
            watermarks={},
            now=T + timedelta(seconds=30),
            app_namespaces=("NS",),
            max_per_call=2,
            sink=handed.append,
        )
    assert caught.value.kind == "throttled"
    assert [len(f) for f in handed] == [240]  # the first two batches, 4 series
