"""CloudWatch metrics through boto3 over HTTP, in every protocol botocore may use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration

PROTOCOLS = ["smithy-rpc-v2-cbor", "json", "query"]
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
START = NOW - timedelta(hours=2)
FUNCTION = [{"Name": "FunctionName", "Value": "checkout"}]


def _metric(name: str = "Latency", dimensions=FUNCTION) -> dict:
    return {"Namespace": "Shop", "MetricName": name, "Dimensions": dimensions}


def _datum(name: str = "Latency", dimensions=FUNCTION) -> dict:
    return {"MetricName": name, "Dimensions": dimensions}


def _query(query_id: str, stat: str, name: str = "Latency", period: int = 60, **extra) -> dict:
    return {
        "Id": query_id,
        "MetricStat": {"Metric": _metric(name), "Period": period, "Stat": stat},
        **extra,
    }


@pytest.fixture(params=PROTOCOLS)
def cloudwatch(request, aws):
    return aws("cloudwatch", protocol=request.param)


@pytest.fixture
def latency_minutes(cloudwatch) -> list[np.ndarray]:
    """Ten minutes of raw latency samples, published with Values/Counts like an SDK would."""
    rng = np.random.default_rng(3)
    minutes = []
    for minute in range(10):
        values = rng.gamma(2.0, 40.0, size=40).round(2)
        minutes.append(values)
        cloudwatch.put_metric_data(
            Namespace="Shop",
            MetricData=[
                {
                    **_datum(),
                    "Timestamp": START + timedelta(minutes=minute, seconds=7),
                    "Values": values.tolist(),
                    "Counts": [1.0] * values.size,
                    "Unit": "Milliseconds",
                }
            ],
        )
    return minutes


def _get(cloudwatch, queries: list[dict], **extra) -> dict[str, tuple[list[float], list[float]]]:
    response = cloudwatch.get_metric_data(
        MetricDataQueries=queries,
        StartTime=START,
        EndTime=START + timedelta(minutes=10),
        ScanBy="TimestampAscending",
        **extra,
    )
    return {
        r["Id"]: ([t.timestamp() for t in r["Timestamps"]], r["Values"])
        for r in response["MetricDataResults"]
    }


STATS = {
    "Sum": np.sum,
    "Average": np.mean,
    "Minimum": np.min,
    "Maximum": np.max,
    "SampleCount": np.size,
    "p99": lambda v: np.percentile(v, 99, method="inverted_cdf"),
    "p50": lambda v: np.percentile(v, 50, method="inverted_cdf"),
    "p99.9": lambda v: np.percentile(v, 99.9, method="inverted_cdf"),
}


@pytest.mark.parametrize("stat", list(STATS))
def test_statistics_match_an_independent_computation(cloudwatch, latency_minutes, stat) -> None:
    stamps, values = _get(cloudwatch, [_query("q", stat)])["q"]
    expected = [float(STATS[stat](v)) for v in latency_minutes]
    assert stamps == [(START + timedelta(minutes=m)).timestamp() for m in range(10)]
    assert values == pytest.approx(expected)


def test_five_minute_periods_aggregate_the_raw_values(cloudwatch, latency_minutes) -> None:
    _, values = _get(cloudwatch, [_query("q", "p90", period=300)])["q"]
    halves = [np.concatenate(latency_minutes[:5]), np.concatenate(latency_minutes[5:])]
    assert values == pytest.approx([np.percentile(h, 90, method="inverted_cdf") for h in halves])


def test_statistic_sets_are_summed_and_counted(cloudwatch) -> None:
    for minute in range(3):
        cloudwatch.put_metric_data(
            Namespace="Shop",
            MetricData=[
                {
                    **_datum("Orders"),
                    "Timestamp": START + timedelta(minutes=minute),
                    "StatisticValues": {
                        "SampleCount": 4,
                        "Sum": 10.0 + minute,
                        "Minimum": 1,
                        "Maximum": 5,
                    },
                }
            ],
        )
    result = _get(
        cloudwatch,
        [
            _query("s", "Sum", "Orders"),
            _query("n", "SampleCount", "Orders"),
            _query("a", "Average", "Orders"),
        ],
    )
    assert result["s"][1] == [10.0, 11.0, 12.0]
    assert result["n"][1] == [4.0, 4.0, 4.0]
    assert result["a"][1] == pytest.approx([2.5, 2.75, 3.0])


def test_metric_math(cloudwatch) -> None:
    errors = [0, 2, 0, 8, 1]
    calls = [10, 10, 0, 20, 10]
    for minute, (e, c) in enumerate(zip(errors, calls, strict=True)):
        stamp = START + timedelta(minutes=minute)
        cloudwatch.put_metric_data(
            Namespace="Shop",
            MetricData=[
                {**_datum("Errors"), "Timestamp": stamp, "Value": float(e)},
                {**_datum("Calls"), "Timestamp": stamp, "Value": float(c)},
            ],
        )
    queries = [
        _query("errors", "Sum", "Errors", ReturnData=False),
        _query("calls", "Sum", "Calls", ReturnData=False),
        {"Id": "rate", "Expression": "100 * errors / calls", "Label": "error rate"},
        {"Id": "filled", "Expression": "FILL(rate, 0)"},
        {"Id": "breach", "Expression": "IF(errors > 1, 1, 0)"},
        {"Id": "delta", "Expression": "DIFF(errors)"},
        {"Id": "total", "Expression": "SUM(METRICS())"},
    ]
    result = _get(cloudwatch, queries)
    assert set(result) == {"rate", "filled", "breach", "delta", "total"}
    assert result["rate"][1] == pytest.approx([0, 20, 40, 10])  # no value where calls == 0
    # FILL gives every period of the query's range a value, missing ones included.
    assert result["filled"][1] == pytest.approx([0, 20, 0, 40, 10, 0, 0, 0, 0, 0])
    assert result["breach"][1] == [0, 1, 0, 1, 0]
    assert result["delta"][1] == [2, -2, 8, -7]
    assert result["total"][1] == [10, 12, 0, 28, 11]


def test_paging_with_max_datapoints_returns_the_same_data(cloudwatch, latency_minutes) -> None:
    queries = [_query("a", "Sum"), _query("b", "p99")]
    whole = _get(cloudwatch, queries)
    pieces: dict[str, list[float]] = {"a": [], "b": []}
    token = None
    pages = 0
    while True:
        extra = {"MaxDatapoints": 3, **({"NextToken": token} if token else {})}
        response = cloudwatch.get_metric_data(
            MetricDataQueries=queries,
            StartTime=START,
            EndTime=START + timedelta(minutes=10),
            ScanBy="TimestampAscending",
            **extra,
        )
        pages += 1
        for r in response["MetricDataResults"]:
            assert len(r["Values"]) <= 3
            pieces[r["Id"]] += r["Values"]
        token = response.get("NextToken")
        if not token:
            break
    assert pages == 7  # 20 datapoints, 3 a page
    assert pieces == {"a": whole["a"][1], "b": whole["b"][1]}


def test_scan_by_descending_is_the_default(cloudwatch, latency_minutes) -> None:
    response = cloudwatch.get_metric_data(
        MetricDataQueries=[_query("q", "Sum")],
        StartTime=START,
        EndTime=START + timedelta(minutes=10),
    )
    stamps = [t.timestamp() for t in response["MetricDataResults"][0]["Timestamps"]]
    assert stamps == sorted(stamps, reverse=True)


def test_five_hundred_queries_is_the_limit(cloudwatch, latency_minutes) -> None:
    queries = [_query(f"q{n}", "Sum") for n in range(500)]
    assert len(_get(cloudwatch, queries)) == 500
    with pytest.raises(ClientError) as caught:
        _get(cloudwatch, [*queries, _query("q500", "Sum")])
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "500" in caught.value.response["Error"]["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    ("queries", "code", "needle"),
    [
        ([_query("q", "p101")], None, "p101"),
        ([_query("q", "Median")], None, "Median"),
        ([{"Id": "e", "Expression": "m9 * 2"}], "ValidationError", "m9"),
        ([{"Id": "e", "Expression": "FILL(("}], "ValidationError", "FILL(("),
        ([_query("Bad-Id", "Sum")], None, "Bad-Id"),
    ],
    ids=["percentile-above-100", "unknown-statistic", "missing-id", "syntax-error", "bad-query-id"],
)
def test_bad_queries_get_aws_errors_not_500(cloudwatch, queries, code, needle) -> None:
    with pytest.raises(ClientError) as caught:
        _get(cloudwatch, queries)
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    if code:
        assert error["Code"] == code
    assert needle in error["Message"]


def test_aws_namespaces_are_reserved(cloudwatch) -> None:
    with pytest.raises(ClientError) as caught:
        cloudwatch.put_metric_data(
            Namespace="AWS/Lambda", MetricData=[{"MetricName": "X", "Value": 1.0}]
        )
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_large_compressed_puts_are_accepted(cloudwatch) -> None:
    """botocore gzips PutMetricData bodies over 10 KB; the endpoint must read them."""
    data = [
        {
            **_datum("Bulk", [{"Name": "Route", "Value": f"r{n}"}]),
            "Values": [1.0] * 150,
            "Timestamp": START,
        }
        for n in range(200)
    ]
    cloudwatch.put_metric_data(Namespace="Shop", MetricData=data)
    listed = cloudwatch.get_paginator("list_metrics").paginate(Namespace="Shop", MetricName="Bulk")
    assert sum(len(page["Metrics"]) for page in listed) == 200


def test_list_metrics_pages_and_filters(cloudwatch) -> None:
    data = [
        {
            **_datum("Invocations", [{"Name": "FunctionName", "Value": f"fn{n:04d}"}]),
            "Value": 1.0,
            "Timestamp": START,
        }
        for n in range(600)
    ]
    for chunk in range(0, 600, 300):
        cloudwatch.put_metric_data(Namespace="Shop", MetricData=data[chunk : chunk + 300])
    pages = list(cloudwatch.get_paginator("list_metrics").paginate(Namespace="Shop"))
    assert [len(p["Metrics"]) for p in pages] == [500, 100]
    one = cloudwatch.list_metrics(
        Namespace="Shop", Dimensions=[{"Name": "FunctionName", "Value": "fn0042"}]
    )["Metrics"]
    assert one == [
        {
            "Namespace": "Shop",
            "MetricName": "Invocations",
            "Dimensions": [{"Name": "FunctionName", "Value": "fn0042"}],
        }
    ]


def test_get_metric_statistics_with_extended_statistics(cloudwatch, latency_minutes) -> None:
    response = cloudwatch.get_metric_statistics(
        **_metric(),
        StartTime=START,
        EndTime=START + timedelta(minutes=10),
        Period=300,
        Statistics=["Sum", "SampleCount"],
        ExtendedStatistics=["p95"],
    )
    points = sorted(response["Datapoints"], key=lambda p: p["Timestamp"])
    halves = [np.concatenate(latency_minutes[:5]), np.concatenate(latency_minutes[5:])]
    assert [p["SampleCount"] for p in points] == [200, 200]
    assert [p["Sum"] for p in points] == pytest.approx([h.sum() for h in halves])
    assert [p["ExtendedStatistics"]["p95"] for p in points] == pytest.approx(
        [np.percentile(h, 95, method="inverted_cdf") for h in halves]
    )
    with pytest.raises(ClientError) as caught:
        cloudwatch.get_metric_statistics(
            **_metric(),
            StartTime=NOW - timedelta(days=2),
            EndTime=NOW,
            Period=60,
            Statistics=["Sum"],
        )
    assert caught.value.response["Error"]["Code"] == "InvalidParameterCombination"
