"""The CloudWatch metric operations, called with boto3-shaped dicts (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from sandbox.endpoint.cloudwatch.metrics import METRIC_OPERATIONS, MetricsBackend, round_start
from sandbox.endpoint.context import RequestContext
from sandbox.endpoint.errors import AwsError

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
CTX = RequestContext("123456789012", "eu-west-1", NOW)
FN = [{"Name": "FunctionName", "Value": "checkout"}]


def at(minutes_ago: float) -> datetime:
    return NOW - timedelta(minutes=minutes_ago)


def backend() -> MetricsBackend:
    return MetricsBackend("123456789012", "eu-west-1")


def put(b: MetricsBackend, *data: dict[str, Any], namespace: str = "App") -> None:
    b.put_metric_data({"Namespace": namespace, "MetricData": list(data)}, CTX)


def stat_query(
    qid: str,
    stat: str,
    period: int = 60,
    name: str = "Latency",
    dims: list[dict[str, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    metric = {"Namespace": "App", "MetricName": name, "Dimensions": FN if dims is None else dims}
    q: dict[str, Any] = {
        "Id": qid,
        "MetricStat": {"Metric": metric, "Period": period, "Stat": stat},
    }
    q.update(extra)
    return q


def gmd(
    b: MetricsBackend,
    queries: list[dict[str, Any]],
    start: datetime | None = None,
    end: datetime = NOW,
    **extra: Any,
) -> dict[str, Any]:
    """GetMetricData over ``[start, end)``, by default the last hour."""
    start = at(60) if start is None else start
    params = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end, **extra}
    return b.get_metric_data(params, CTX)


def by_id(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["Id"]: r for r in response["MetricDataResults"]}


def aws_error(code: str, fn: Any, *args: Any, **kwargs: Any) -> AwsError:
    with pytest.raises(AwsError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


# Latency samples: minute k (k = 0..9, 10..1 minutes ago) holds values VALUES[k]
RNG = np.random.default_rng(42)
VALUES = [RNG.gamma(2.0, 40.0, size=20).round(2) for _ in range(10)]


@pytest.fixture
def loaded() -> MetricsBackend:
    b = backend()
    put(
        b,
        *[
            {
                "MetricName": "Latency",
                "Dimensions": FN,
                "Values": v.tolist(),
                "Timestamp": at(10 - k),
                "Unit": "Milliseconds",
            }
            for k, v in enumerate(VALUES)
        ],
    )
    return b


def test_operation_table_names_methods() -> None:
    b = backend()
    for op, method in METRIC_OPERATIONS.items():
        assert callable(getattr(b, method)), op


# ---------------------------------------------------------------------------- PutMetricData


def test_put_value_values_and_statistic_set() -> None:
    b = backend()
    put(
        b,
        {"MetricName": "A", "Value": 3.0, "Timestamp": at(2)},
        {"MetricName": "A", "Values": [1.0, 5.0], "Counts": [2.0, 1.0], "Timestamp": at(2)},
        {
            "MetricName": "A",
            "StatisticValues": {"SampleCount": 4, "Sum": 10, "Minimum": 1, "Maximum": 4},
            "Timestamp": at(2),
        },
        {"MetricName": "A", "Value": 1.0},  # no Timestamp: ctx.now
    )
    series = b.store.get("App", "A")
    assert series is not None
    data = series.snapshot()
    assert data.timestamps.tolist() == [T - 120, T]
    assert data.sums.tolist() == [3 + 1 * 2 + 5 + 10, 1.0]
    assert data.counts.tolist() == [1 + 3 + 4, 1.0]
    assert (data.mins[0], data.maxs[0]) == (1.0, 5.0)


def _datum(**kw: Any) -> dict[str, Any]:
    return {"MetricName": "M", "Value": 1.0, **kw}


TOO_MANY_DIMS = [{"Name": f"d{i}", "Value": "v"} for i in range(31)]


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({"MetricData": [_datum()]}, "MissingParameter", "The parameter Namespace is required."),
        ({"Namespace": "App"}, "MissingParameter", "The parameter MetricData is required."),
        (
            {"Namespace": "AWS/Lambda", "MetricData": [_datum()]},
            "InvalidParameterValue",
            "The value AWS/Lambda for parameter Namespace is invalid.",
        ),
        (
            {"Namespace": "App", "MetricData": [_datum()] * 1001},
            "InvalidParameterValue",
            "The collection MetricData must not have a size greater than 1000.",
        ),
        (
            {"Namespace": "App", "MetricData": [{"Value": 1.0}]},
            "MissingParameter",
            "The parameter MetricData.member.1.MetricName is required.",
        ),
        (
            {"Namespace": "App", "MetricData": [_datum(), _datum(Value=None, Values=[1.0] * 151)]},
            "InvalidParameterValue",
            "The collection MetricData.member.2.Values must not have a size greater than 150.",
        ),
        (
            {
                "Namespace": "App",
                "MetricData": [_datum(Value=None, Values=[1.0, 2.0], Counts=[1.0])],
            },
            "InvalidParameterValue",
            "The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of "
            "the same size.",
        ),
        (
            {"Namespace": "App", "MetricData": [_datum(Dimensions=TOO_MANY_DIMS)]},
            "InvalidParameterValue",
            "The collection MetricData.member.1.Dimensions must not have a size greater than 30.",
        ),
        (
            {
                "Namespace": "App",
                "MetricData": [
                    _datum(StatisticValues={"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1})
                ],
            },
            "InvalidParameterCombination",
            "The parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues are "
            "mutually exclusive and you have specified both.",
        ),
        (
            {"Namespace": "App", "MetricData": [_datum(Value=float("nan"))]},
            "InvalidParameterValue",
            "The value NaN for parameter MetricData.member.1.Value is invalid.",
        ),
        (
            {"Namespace": "App", "MetricData": [_datum(Value=float("inf"))]},
            "InvalidParameterValue",
            "The value Infinity for parameter MetricData.member.1.Value is invalid.",
        ),
        (
            {"Namespace": "App", "MetricData": [_datum(Value=None, Values=[1.0, float("nan")])]},
            "InvalidParameterValue",
            "The value NaN for parameter MetricData.member.1.Values.member.2 is invalid.",
        ),
        (
            {"Namespace": "App", "MetricData": [_datum(Timestamp=NOW - timedelta(days=15))]},
            "InvalidParameterValue",
            "The parameter MetricData.member.1.Timestamp must specify a "
            "time within the past two weeks.",
        ),
        (
            {"Namespace": "App", "MetricData": [_datum(Timestamp=NOW + timedelta(hours=3))]},
            "InvalidParameterValue",
            "The parameter MetricData.member.1.Timestamp must specify a "
            "time no more than two hours in the future.",
        ),
        (
            {"Namespace": "App", "MetricData": [_datum(StorageResolution=5)]},
            "InvalidParameterValue",
            "The value 5 for parameter "
            "MetricData.member.1.StorageResolution is invalid. Valid values: 1, 60.",
        ),
        (
            {
                "Namespace": "App",
                "MetricData": [
                    _datum(Value=None, StatisticValues={"SampleCount": 1, "Sum": 1, "Minimum": 1})
                ],
            },
            "MissingParameter",
            "The parameter MetricData.member.1.StatisticValues.Maximum is required.",
        ),
        (
            {"Namespace": "App", "MetricData": [_datum(Value=None)]},
            "MissingParameter",
            "The parameter MetricData.member.1.Value is required",
        ),
        (
            {"Namespace": "App", "MetricData": [_datum(Unit="Furlongs")]},
            "InvalidParameterValue",
            "The value Furlongs for parameter MetricData.member.1.Unit is invalid.",
        ),
    ],
    ids=[
        "no-namespace",
        "no-metric-data",
        "aws-namespace",
        "1001-items",
        "no-metric-name",
        "151-values",
        "counts-length",
        "31-dimensions",
        "value-and-statistic-values",
        "nan",
        "infinity",
        "nan-in-values",
        "two-weeks-old",
        "three-hours-ahead",
        "resolution-5",
        "statistic-values-incomplete",
        "no-value-at-all",
        "bad-unit",
    ],
)
def test_put_metric_data_limits(params: dict[str, Any], code: str, message: str) -> None:
    b = backend()
    err = aws_error(code, b.put_metric_data, params, CTX)
    assert err.message.startswith(message), err.message
    assert len(b.store) == 0  # all or nothing


def test_put_metric_data_exactly_at_limits_is_fine() -> None:
    b = backend()
    dims = [{"Name": f"d{i}", "Value": "v"} for i in range(30)]
    data = [_datum(Dimensions=dims, Timestamp=NOW - timedelta(days=13))] * 999
    data.append({"MetricName": "V", "Values": [1.0] * 150, "Timestamp": NOW + timedelta(hours=1)})
    b.put_metric_data({"Namespace": "App", "MetricData": data}, CTX)
    assert len(b.store) == 2


def test_put_metric_data_reports_every_bad_member() -> None:
    err = aws_error(
        "InvalidParameterValue",
        backend().put_metric_data,
        {
            "Namespace": "App",
            "MetricData": [
                _datum(Timestamp=NOW - timedelta(days=20)),
                _datum(),
                _datum(Timestamp=NOW - timedelta(days=20)),
            ],
        },
        CTX,
    )
    assert err.message.splitlines() == [
        "The parameter MetricData.member.1.Timestamp must specify a time within the past two "
        "weeks.",
        "The parameter MetricData.member.3.Timestamp must specify a time within the past two "
        "weeks.",
    ]


# ---------------------------------------------------------------------------- ListMetrics


def _listing(b: MetricsBackend, **params: Any) -> list[tuple[str, str, tuple[Any, ...]]]:
    out = b.list_metrics(params, CTX)
    return [
        (m["Namespace"], m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"]))
        for m in out["Metrics"]
    ]


@pytest.fixture
def catalogue() -> MetricsBackend:
    b = backend()
    put(
        b,
        {"MetricName": "Errors", "Dimensions": FN, "Value": 1.0, "Timestamp": at(5)},
        {
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": "pay"}],
            "Value": 1.0,
            "Timestamp": at(240),
        },
        {
            "MetricName": "Duration",
            "Dimensions": [*FN, {"Name": "Resource", "Value": "r"}],
            "Value": 1.0,
            "Timestamp": at(5),
        },
        {"MetricName": "Throttles", "Value": 1.0, "Timestamp": at(5)},
    )
    put(
        b,
        {"MetricName": "Errors", "Dimensions": FN, "Value": 1.0, "Timestamp": at(5)},
        namespace="Other",
    )
    # older than two weeks (only the simulated world can write that): ListMetrics drops it
    b.store.put_values("App", "Ancient", {}, None, [T - 15 * 86400], [1.0])
    return b


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"Namespace": "Other"}, [("Other", "Errors", (("FunctionName", "checkout"),))]),
        ({"Namespace": "App", "MetricName": "Throttles"}, [("App", "Throttles", ())]),
        (
            {"Namespace": "App", "Dimensions": [{"Name": "Resource"}]},
            [("App", "Duration", (("FunctionName", "checkout"), ("Resource", "r")))],
        ),
        (
            {"Namespace": "App", "Dimensions": [{"Name": "FunctionName", "Value": "pay"}]},
            [("App", "Errors", (("FunctionName", "pay"),))],
        ),
        (
            {"Namespace": "App", "MetricName": "Errors", "RecentlyActive": "PT3H"},
            [("App", "Errors", (("FunctionName", "checkout"),))],
        ),
        ({"Namespace": "App", "MetricName": "Ancient"}, []),
    ],
    ids=[
        "namespace",
        "metric-name",
        "dimension-name-only",
        "dimension-value",
        "recently-active",
        "older-than-two-weeks",
    ],
)
def test_list_metrics_filters(
    catalogue: MetricsBackend, params: dict[str, Any], expected: list[Any]
) -> None:
    assert _listing(catalogue, **params) == expected


def test_list_metrics_everything(catalogue: MetricsBackend) -> None:
    assert len(_listing(catalogue)) == 5


def test_list_metrics_pages_of_500() -> None:
    b = backend()
    for chunk in range(3):
        put(
            b,
            *[
                {
                    "MetricName": "Hits",
                    "Dimensions": [{"Name": "Id", "Value": f"{chunk}-{i}"}],
                    "Value": 1.0,
                }
                for i in range(400)
            ],
        )
    seen: list[str] = []
    pages = 0
    params: dict[str, Any] = {"Namespace": "App"}
    while True:
        page = b.list_metrics(params, CTX)
        pages += 1
        assert len(page["Metrics"]) <= 500
        seen += [m["Dimensions"][0]["Value"] for m in page["Metrics"]]
        if "NextToken" not in page:
            break
        params = {"Namespace": "App", "NextToken": page["NextToken"]}
    assert pages == 3
    assert len(seen) == len(set(seen)) == 1200


@pytest.mark.parametrize(
    "token", ["garbage", "", "AAAA", "eyJhIjoxfQ"], ids=["word", "empty", "short", "json"]
)
def test_list_metrics_bad_token(catalogue: MetricsBackend, token: str) -> None:
    aws_error("InvalidNextToken", catalogue.list_metrics, {"NextToken": token}, CTX)


def test_list_metrics_token_is_tied_to_the_filters() -> None:
    b = backend()
    put(
        b,
        *[
            {"MetricName": "Hits", "Dimensions": [{"Name": "Id", "Value": str(i)}], "Value": 1.0}
            for i in range(501)
        ],
    )
    token = b.list_metrics({"Namespace": "App"}, CTX)["NextToken"]
    aws_error("InvalidNextToken", b.list_metrics, {"Namespace": "Other", "NextToken": token}, CTX)
    other = MetricsBackend("123456789012", "us-east-1")  # nor does another region
    aws_error("InvalidNextToken", other.list_metrics, {"Namespace": "App", "NextToken": token}, CTX)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"RecentlyActive": "PT1H"}, "InvalidParameterValue"),
        ({"Dimensions": [{"Name": f"d{i}"} for i in range(11)]}, "InvalidParameterValue"),
        ({"Dimensions": [{"Value": "x"}]}, "MissingParameter"),
    ],
    ids=["recently-active", "11-dimension-filters", "dimension-without-name"],
)
def test_list_metrics_bad_input(params: dict[str, Any], code: str) -> None:
    aws_error(code, backend().list_metrics, params, CTX)


def test_list_metrics_linked_accounts(catalogue: MetricsBackend) -> None:
    out = catalogue.list_metrics({"Namespace": "Other", "IncludeLinkedAccounts": True}, CTX)
    assert out["OwningAccounts"] == ["123456789012"]


# ---------------------------------------------------------------------------- GetMetricData


def _expected(stat: str, samples: np.ndarray) -> float:
    s = np.sort(samples)
    table = {
        "SampleCount": float(s.size),
        "Sum": float(s.sum()),
        "Average": float(s.mean()),
        "Minimum": float(s[0]),
        "Maximum": float(s[-1]),
    }
    if stat in table:
        return table[stat]
    if stat.startswith("p"):
        return float(np.percentile(s, float(stat[1:]), method="inverted_cdf"))
    assert stat == "tm80"
    keep = int(0.8 * s.size)  # 20 samples: ranks 1..16
    return float(s[:keep].mean())


STATS = [
    "SampleCount",
    "Sum",
    "Average",
    "Minimum",
    "Maximum",
    "p10",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "tm80",
]


@pytest.mark.parametrize("stat", STATS)
@pytest.mark.parametrize("period", [60, 300], ids=["1min", "5min"])
def test_get_metric_data_statistics(loaded: MetricsBackend, stat: str, period: int) -> None:
    out = gmd(
        loaded, [stat_query("m1", stat, period)], start=at(10), end=NOW, ScanBy="TimestampAscending"
    )
    (res,) = out["MetricDataResults"]
    per = period // 60
    groups = [np.concatenate(VALUES[k : k + per]) for k in range(0, 10, per)]
    assert res["Timestamps"].tolist() == [T - 600 + period * i for i in range(len(groups))]
    assert res["Values"] == pytest.approx([_expected(stat, g) for g in groups])
    assert res["StatusCode"] == "Complete"
    assert res["Label"] == "Latency"
    assert res["Timestamps"].dtype == np.int64 and res["Values"].dtype == np.float64
    assert out["Messages"] == []


def test_start_is_rounded_down_to_the_minute_and_end_is_exclusive(loaded: MetricsBackend) -> None:
    out = gmd(
        loaded,
        [stat_query("m1", "SampleCount")],
        start=at(10) + timedelta(seconds=59),
        end=at(7),
        ScanBy="TimestampAscending",
    )
    (res,) = out["MetricDataResults"]
    assert res["Timestamps"].tolist() == [T - 600, T - 540, T - 480]  # [12:50, 12:53)


@pytest.mark.parametrize(
    ("start_ago", "period", "expected_ago"),
    [
        (timedelta(minutes=30, seconds=20), 60, timedelta(minutes=31)),
        (timedelta(days=20, minutes=3), 300, timedelta(days=20, minutes=5)),
        (timedelta(days=70, minutes=3), 3600, timedelta(days=70, minutes=60)),
        (timedelta(minutes=5, seconds=3), 10, timedelta(minutes=5, seconds=10)),
        (timedelta(minutes=5, seconds=3), 5, timedelta(minutes=5, seconds=5)),
    ],
    ids=["minute", "5-minutes-past-15-days", "hour-past-63-days", "10s", "5s"],
)
def test_round_start(start_ago: timedelta, period: int, expected_ago: timedelta) -> None:
    start = int((NOW - start_ago).timestamp())
    assert round_start(start, period, T) == int((NOW - expected_ago).timestamp())


def test_scan_by(loaded: MetricsBackend) -> None:
    q = [stat_query("m1", "Sum")]
    down = gmd(loaded, q)["MetricDataResults"][0]  # TimestampDescending is the default
    up = gmd(loaded, q, ScanBy="TimestampAscending")["MetricDataResults"][0]
    assert up["Timestamps"].tolist() == sorted(up["Timestamps"].tolist())
    assert down["Timestamps"].tolist() == up["Timestamps"].tolist()[::-1]
    assert down["Values"].tolist() == up["Values"].tolist()[::-1]
    aws_error("ValidationError", gmd, loaded, q, ScanBy="Sideways")


def _all_pages(b: MetricsBackend, queries: list[dict[str, Any]], **extra: Any):
    pages = []
    token = None
    while True:
        kwargs = dict(extra)
        if token:
            kwargs["NextToken"] = token
        page = gmd(b, queries, **kwargs)
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            return pages


@pytest.mark.parametrize("scan_by", ["TimestampDescending", "TimestampAscending"])
@pytest.mark.parametrize("max_points", [1, 3, 7, 10, 25])
def test_paging_concatenates_to_the_unpaged_answer(
    loaded: MetricsBackend, scan_by: str, max_points: int
) -> None:
    queries = [
        stat_query("a", "Sum"),
        stat_query("b", "p90", ReturnData=False),
        stat_query("c", "Maximum", period=120),
        {"Id": "e", "Expression": "a * 2"},
    ]
    whole = gmd(loaded, queries, ScanBy=scan_by)
    assert "NextToken" not in whole
    pages = _all_pages(loaded, queries, ScanBy=scan_by, MaxDatapoints=max_points)
    total = sum(r["Timestamps"].size for r in whole["MetricDataResults"])  # 10 + 5 + 10
    assert len(pages) == -(-total // max_points)
    for page in pages:
        assert sum(r["Timestamps"].size for r in page["MetricDataResults"]) <= max_points
        assert [r["Id"] for r in page["MetricDataResults"]] == ["a", "c", "e"]
    for i, full in enumerate(whole["MetricDataResults"]):
        ts = np.concatenate([p["MetricDataResults"][i]["Timestamps"] for p in pages])
        vals = np.concatenate([p["MetricDataResults"][i]["Values"] for p in pages])
        assert ts.tolist() == full["Timestamps"].tolist()
        assert vals.tolist() == full["Values"].tolist()
        # "PartialData" while points remain for a later page, then "Complete"
        statuses = [p["MetricDataResults"][i]["StatusCode"] for p in pages]
        first_complete = statuses.index("Complete")
        assert set(statuses[first_complete:]) == {"Complete"}
        assert set(statuses[:first_complete]) <= {"PartialData"}


def test_paging_status_codes_on_a_cut(loaded: MetricsBackend) -> None:
    queries = [stat_query("a", "Sum"), stat_query("b", "Sum")]
    first = gmd(loaded, queries, MaxDatapoints=15)
    assert [r["StatusCode"] for r in first["MetricDataResults"]] == ["Complete", "PartialData"]
    assert [r["Timestamps"].size for r in first["MetricDataResults"]] == [10, 5]
    second = gmd(loaded, queries, MaxDatapoints=15, NextToken=first["NextToken"])
    assert [r["StatusCode"] for r in second["MetricDataResults"]] == ["Complete", "Complete"]
    assert [r["Timestamps"].size for r in second["MetricDataResults"]] == [0, 5]
    assert "NextToken" not in second


def test_next_token_from_another_request_is_rejected(loaded: MetricsBackend) -> None:
    token = gmd(loaded, [stat_query("a", "Sum")], MaxDatapoints=2)["NextToken"]
    aws_error(
        "InvalidNextToken",
        gmd,
        loaded,
        [stat_query("a", "Average")],
        MaxDatapoints=2,
        NextToken=token,
    )
    aws_error(
        "InvalidNextToken",
        gmd,
        loaded,
        [stat_query("a", "Sum")],
        MaxDatapoints=2,
        NextToken="bm90IGEgdG9rZW4",
    )


def test_500_queries_is_the_limit(loaded: MetricsBackend) -> None:
    queries = [stat_query(f"q{i}", "Sum") for i in range(500)]
    out = gmd(loaded, queries)
    assert len(out["MetricDataResults"]) == 500
    assert all(r["Values"].size == 10 for r in out["MetricDataResults"])
    err = aws_error("ValidationError", gmd, loaded, [*queries, stat_query("q500", "Sum")])
    assert "500" in err.message and "MetricDataQueries" in err.message


def test_queries_for_unknown_metrics_are_empty_and_complete(loaded: MetricsBackend) -> None:
    (res,) = gmd(loaded, [stat_query("m1", "Sum", name="Nope")])["MetricDataResults"]
    assert res["Timestamps"].size == 0 and res["StatusCode"] == "Complete"


def test_percentile_needs_raw_samples() -> None:
    b = backend()
    put(
        b,
        {
            "MetricName": "Latency",
            "Dimensions": FN,
            "Timestamp": at(3),
            "StatisticValues": {"SampleCount": 4, "Sum": 10, "Minimum": 1, "Maximum": 4},
        },
        {
            "MetricName": "Latency",
            "Dimensions": FN,
            "Timestamp": at(2),
            "StatisticValues": {"SampleCount": 3, "Sum": 15, "Minimum": 5, "Maximum": 5},
        },
    )
    res = by_id(
        gmd(b, [stat_query("p", "p50"), stat_query("s", "Sum")], ScanBy="TimestampAscending")
    )
    assert res["s"]["Timestamps"].tolist() == [T - 180, T - 120]
    assert res["p"]["Timestamps"].tolist() == [T - 120]  # Min != Max: no percentile
    assert res["p"]["Values"].tolist() == [5.0]


def test_unit_filter_and_label(loaded: MetricsBackend) -> None:
    res = by_id(
        gmd(
            loaded,
            [
                stat_query("ms", "Sum", Label="in ms"),
                {
                    **stat_query("s", "Sum"),
                    "MetricStat": {**stat_query("s", "Sum")["MetricStat"], "Unit": "Seconds"},
                },
            ],
        )
    )
    assert res["ms"]["Label"] == "in ms" and res["ms"]["Values"].size == 10
    assert res["s"]["Values"].size == 0  # "If you specify a unit that does not match ... null"


def test_high_resolution_periods_and_retention() -> None:
    b = backend()
    put(
        b,
        *[
            {
                "MetricName": "Latency",
                "Dimensions": FN,
                "Value": float(i),
                "Timestamp": at(2) + timedelta(seconds=i),
                "StorageResolution": 1,
            }
            for i in range(0, 30, 3)
        ],
    )
    (res,) = gmd(
        b, [stat_query("m1", "Sum", period=10)], start=at(2), end=at(1), ScanBy="TimestampAscending"
    )["MetricDataResults"]
    assert res["Timestamps"].tolist() == [T - 120, T - 110, T - 100]
    assert res["Values"].tolist() == [0 + 3 + 6 + 9, 12 + 15 + 18, 21 + 24 + 27]
    # AWS keeps sub-minute periods for 3 hours: an older start with Period=10 returns nothing
    (old,) = gmd(b, [stat_query("m1", "Sum", period=10)], start=at(200))["MetricDataResults"]
    assert old["Timestamps"].size == 0


def _q(**kw: Any) -> dict[str, Any]:
    return {"Id": "m1", **kw}


METRIC = {"Namespace": "App", "MetricName": "Latency"}


@pytest.mark.parametrize(
    ("queries", "code", "message"),
    [
        (
            [_q(Id="M1", MetricStat={"Metric": METRIC, "Period": 60, "Stat": "Sum"})],
            "ValidationError",
            "The value M1 for parameter MetricDataQueries.member.1.Id is not "
            "matching the expected pattern ^[a-z][a-zA-Z0-9_]*$.",
        ),
        (
            [_q(Id="1m", Expression="1")],
            "ValidationError",
            "The value 1m for parameter "
            "MetricDataQueries.member.1.Id is not matching the expected pattern",
        ),
        (
            [_q(Expression="1"), _q(Expression="2")],
            "ValidationError",
            "The value m1 for parameter MetricDataQueries.member.2.Id is not unique",
        ),
        (
            [_q()],
            "ValidationError",
            "The parameter MetricDataQueries.member.1.MetricStat is required",
        ),
        (
            [_q(Expression="1", MetricStat={"Metric": METRIC, "Period": 60, "Stat": "Sum"})],
            "ValidationError",
            "The parameters MetricDataQueries.member.1.MetricStat and "
            "MetricDataQueries.member.1.Expression are mutually exclusive",
        ),
        (
            [_q(MetricStat={"Metric": METRIC, "Period": 60, "Stat": "Median"})],
            "ValidationError",
            "The value Median for parameter MetricDataQueries.member.1.MetricStat.Stat is not a "
            "valid statistic.",
        ),
        (
            [_q(MetricStat={"Metric": METRIC, "Period": 90, "Stat": "Sum"})],
            "ValidationError",
            "The value 90 for parameter MetricDataQueries.member.1.MetricStat.Period is invalid",
        ),
        (
            [_q(MetricStat={"Metric": METRIC, "Stat": "Sum"})],
            "MissingParameter",
            "The parameter MetricDataQueries.member.1.MetricStat.Period is required.",
        ),
        (
            [_q(MetricStat={"Metric": {"Namespace": "App"}, "Period": 60, "Stat": "Sum"})],
            "MissingParameter",
            "The parameter MetricDataQueries.member.1.MetricStat.Metric.MetricName is required.",
        ),
        (
            [_q(Expression="m2 * 2")],
            "ValidationError",
            "Error in expression m1 "
            "(MetricDataQueries.member.1.Expression 'm2 * 2'): Unknown metric or expression id "
            "'m2'.",
        ),
        (
            [_q(Expression="e1"), {"Id": "e1", "Expression": "m1 + 1"}],
            "ValidationError",
            "Error in expression m1 (MetricDataQueries.member.1.Expression 'e1'): Circular "
            "reference: m1 -> e1 -> m1.",
        ),
        ([_q(Expression="m1")], "ValidationError", "Circular reference: m1 -> m1"),
        (
            [_q(Expression="(1 + ")],
            "ValidationError",
            "Error in expression m1 (MetricDataQueries.member.1.Expression '(1 + '): Syntax error",
        ),
        ([_q(Expression="FILL(1)")], "ValidationError", "FILL takes 2 arguments, 1 given"),
        ([_q(Expression="NOPE(1)")], "ValidationError", "Unknown function NOPE"),
        ([_q(Expression="RATE(2)")], "ValidationError", "RATE expects a time series"),
        ([_q(Expression="x" * 2049)], "ValidationError", "at most 2048 characters"),
        (
            [_q(Expression="1", Period=45)],
            "ValidationError",
            "The value 45 for parameter MetricDataQueries.member.1.Period is invalid",
        ),
    ],
    ids=[
        "uppercase-id",
        "digit-id",
        "duplicate-id",
        "neither",
        "both",
        "bad-stat",
        "bad-period",
        "no-period",
        "no-metric-name",
        "missing-id",
        "cycle",
        "self-reference",
        "syntax",
        "arity",
        "unknown-function",
        "type",
        "too-long",
        "bad-expression-period",
    ],
)
def test_get_metric_data_bad_queries(
    loaded: MetricsBackend, queries: list[dict[str, Any]], code: str, message: str
) -> None:
    err = aws_error(code, gmd, loaded, queries)
    assert message in err.message, err.message


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"MetricDataQueries": []}, "MissingParameter"),
        ({"StartTime": None}, "MissingParameter"),
        ({"StartTime": NOW, "EndTime": NOW}, "ValidationError"),
        ({"StartTime": NOW, "EndTime": at(5)}, "ValidationError"),
        ({"MaxDatapoints": 0}, "ValidationError"),
    ],
    ids=["no-queries", "no-start", "start-equals-end", "start-after-end", "max-datapoints-0"],
)
def test_get_metric_data_bad_request(params: dict[str, Any], code: str) -> None:
    base = {"MetricDataQueries": [_q(Expression="1")], "StartTime": at(60), "EndTime": NOW}
    aws_error(code, backend().get_metric_data, {**base, **params}, CTX)


def test_every_bad_query_is_reported(loaded: MetricsBackend) -> None:
    err = aws_error(
        "ValidationError",
        gmd,
        loaded,
        [stat_query("a", "Bogus1"), stat_query("b", "Sum"), stat_query("c", "Bogus2")],
    )
    assert err.message.splitlines() == [
        "The value Bogus1 for parameter MetricDataQueries.member.1.MetricStat.Stat is not a "
        "valid statistic.",
        "The value Bogus2 for parameter MetricDataQueries.member.3.MetricStat.Stat is not a "
        "valid statistic.",
    ]


# ---------------------------------------------------------------------------- metric math


@pytest.fixture
def two_metrics() -> MetricsBackend:
    b = backend()
    errors = {1: 2.0, 2: 0.0, 4: 5.0}  # minutes ago -> errors (minute 3 has none)
    invocations = {1: 10.0, 2: 20.0, 3: 30.0, 4: 50.0}
    put(
        b,
        *[
            {"MetricName": "Errors", "Dimensions": FN, "Value": v, "Timestamp": at(m)}
            for m, v in errors.items()
        ],
        *[
            {"MetricName": "Invocations", "Dimensions": FN, "Value": v, "Timestamp": at(m)}
            for m, v in invocations.items()
        ],
    )
    return b


def math_queries(*expressions: tuple[str, str], **label: str) -> list[dict[str, Any]]:
    return [
        stat_query("errors", "Sum", name="Errors", ReturnData=False),
        stat_query("invocations", "Sum", name="Invocations", ReturnData=False),
        *[
            {"Id": qid, "Expression": e, **({"Label": label[qid]} if qid in label else {})}
            for qid, e in expressions
        ],
    ]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("errors / invocations * 100", {-4: 10.0, -2: 0.0, -1: 20.0}),
        ("FILL(errors, 0)", {-5: 0.0, -4: 5.0, -3: 0.0, -2: 0.0, -1: 2.0}),
        ("FILL(errors, REPEAT)", {-4: 5.0, -3: 5.0, -2: 0.0, -1: 2.0}),
        ("FILL(errors, LINEAR)", {-4: 5.0, -3: 2.5, -2: 0.0, -1: 2.0}),
        ("IF(errors > 1, errors, 0)", {-4: 5.0, -2: 0.0, -1: 2.0}),
        ("RATE(invocations)", {-3: -20 / 60, -2: -10 / 60, -1: -10 / 60}),
        ("DIFF(errors)", {-2: -5.0, -1: 2.0}),
        ("DIFF_TIME(errors)", {-2: 120.0, -1: 60.0}),
        ("RUNNING_SUM(invocations)", {-4: 50.0, -3: 80.0, -2: 100.0, -1: 110.0}),
        ("invocations - AVG(invocations)", {-4: 22.5, -3: 2.5, -2: -7.5, -1: -17.5}),
        ("SUM(METRICS())", {-4: 55.0, -3: 30.0, -2: 20.0, -1: 12.0}),
        ("PERIOD(errors) + 0 * errors", {-4: 60.0, -2: 60.0, -1: 60.0}),
        ("ratio * 2", {-4: 20.0, -2: 0.0, -1: 40.0}),  # an expression of an expression
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_math_through_get_metric_data(
    two_metrics: MetricsBackend, expression: str, expected: dict[int, float]
) -> None:
    queries = math_queries(("ratio", "errors / invocations * 100"), ("e", expression))
    queries[2]["ReturnData"] = False
    out = gmd(two_metrics, queries, start=at(5), end=NOW, ScanBy="TimestampAscending")
    (res,) = out["MetricDataResults"]  # ReturnData=False queries are computed, not returned
    assert res["Id"] == "e" and res["Label"] == "e"
    got = {
        int((t - T) // 60): v
        for t, v in zip(res["Timestamps"].tolist(), res["Values"].tolist(), strict=True)
    }
    assert got == pytest.approx(expected)


def test_array_expression_returns_one_result_per_metric(two_metrics: MetricsBackend) -> None:
    queries = math_queries(("doubled", "METRICS() * 2"), ("plain", "METRICS('inv')"), doubled="x2")
    queries[0]["Label"] = "Errors"
    out = gmd(two_metrics, queries, start=at(5), end=NOW, ScanBy="TimestampAscending")
    results = out["MetricDataResults"]
    assert [(r["Id"], r["Label"]) for r in results] == [
        ("doubled", "x2 Errors"),
        ("doubled", "x2 Invocations"),
        ("plain", "Invocations"),
    ]
    assert results[1]["Values"].tolist() == [100.0, 60.0, 40.0, 20.0]


def test_empty_array_expression_still_answers(two_metrics: MetricsBackend) -> None:
    out = gmd(two_metrics, math_queries(("none", 'METRICS("zzz") * 2')), start=at(5), end=NOW)
    (res,) = out["MetricDataResults"]
    assert (res["Id"], res["Label"], res["Values"].size, res["StatusCode"]) == (
        "none",
        "none",
        0,
        "Complete",
    )


def test_a_chain_of_499_expressions(two_metrics: MetricsBackend) -> None:
    queries: list[dict[str, Any]] = [stat_query("m0", "Sum", name="Errors", ReturnData=False)]
    queries += [
        {"Id": f"e{i}", "Expression": f"{'m0' if i == 1 else f'e{i - 1}'} + 1",
         "ReturnData": i == 499}
        for i in range(1, 500)
    ]  # fmt: skip
    (res,) = gmd(two_metrics, queries, start=at(5), end=NOW)["MetricDataResults"]
    assert res["Id"] == "e499"
    assert res["Values"].tolist() == [2.0 + 499, 0.0 + 499, 5.0 + 499]
    queries[1]["Expression"] = "e499 + 1"  # now a cycle through all of them
    err = aws_error("ValidationError", gmd, two_metrics, queries)
    assert "Circular reference: e1 -> e499 -> e498" in err.message


def test_scalar_expression_covers_every_period(two_metrics: MetricsBackend) -> None:
    out = gmd(two_metrics, math_queries(("avg", "AVG(invocations)")), start=at(5), end=NOW)
    (res,) = out["MetricDataResults"]
    assert res["Values"].tolist() == [27.5] * 5
    assert res["Timestamps"].tolist() == [T - 60 * k for k in range(1, 6)]  # descending


def test_expression_period_follows_its_metrics(two_metrics: MetricsBackend) -> None:
    queries = [
        stat_query("five", "Sum", period=300, name="Invocations"),
        {"Id": "e", "Expression": "five / 5"},
    ]
    res = by_id(gmd(two_metrics, queries, start=at(10), end=NOW))
    assert res["e"]["Timestamps"].tolist() == res["five"]["Timestamps"].tolist()
    assert res["e"]["Values"].tolist() == [v / 5 for v in res["five"]["Values"].tolist()]


# ---------------------------------------------------------------------------- GetMetricStatistics


def gms(b: MetricsBackend, **params: Any) -> dict[str, Any]:
    base = {
        "Namespace": "App",
        "MetricName": "Latency",
        "Dimensions": FN,
        "StartTime": at(10),
        "EndTime": NOW,
        "Period": 300,
    }
    return b.get_metric_statistics({**base, **params}, CTX)


def test_get_metric_statistics(loaded: MetricsBackend) -> None:
    out = gms(
        loaded,
        Statistics=["SampleCount", "Average", "Sum", "Minimum", "Maximum"],
        ExtendedStatistics=["p99", "p50"],
    )
    assert out["Label"] == "Latency"
    points = out["Datapoints"]
    assert [p["Timestamp"] for p in points] == [at(10), at(5)]
    for p, k in zip(points, (0, 5), strict=True):
        samples = np.concatenate(VALUES[k : k + 5])
        assert p["Timestamp"].tzinfo is not None
        assert p["SampleCount"] == 100.0
        assert p["Sum"] == pytest.approx(samples.sum())
        assert p["Average"] == pytest.approx(samples.mean())
        assert (p["Minimum"], p["Maximum"]) == (samples.min(), samples.max())
        assert p["ExtendedStatistics"] == {
            "p99": float(np.percentile(samples, 99, method="inverted_cdf")),
            "p50": float(np.percentile(samples, 50, method="inverted_cdf")),
        }
        assert p["Unit"] == "Milliseconds"
        assert all(
            type(v) is float
            for k2, v in p.items()
            if k2 not in ("Timestamp", "Unit", "ExtendedStatistics")
        )


def test_get_metric_statistics_one_datapoint_per_unit() -> None:
    b = backend()
    put(
        b,
        {
            "MetricName": "Latency",
            "Dimensions": FN,
            "Value": 1.0,
            "Unit": "Seconds",
            "Timestamp": at(4),
        },
        {
            "MetricName": "Latency",
            "Dimensions": FN,
            "Value": 500.0,
            "Unit": "Milliseconds",
            "Timestamp": at(3),
        },
    )
    points = gms(b, Statistics=["Sum"])["Datapoints"]
    assert sorted((p["Unit"], p["Sum"]) for p in points) == [
        ("Milliseconds", 500.0),
        ("Seconds", 1.0),
    ]
    only = gms(b, Statistics=["Sum"], Unit="Seconds")["Datapoints"]
    assert [(p["Unit"], p["Sum"]) for p in only] == [("Seconds", 1.0)]


def test_get_metric_statistics_1440_limit(loaded: MetricsBackend) -> None:
    ok = gms(loaded, Statistics=["Sum"], Period=60, StartTime=NOW - timedelta(minutes=1440))
    assert len(ok["Datapoints"]) == 10  # exactly 1,440 periods requested: allowed


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        (
            {"Statistics": ["Sum"], "Period": 60, "StartTime": NOW - timedelta(minutes=1441)},
            "InvalidParameterCombination",
            "You have requested up to 1441 datapoints, which exceeds the limit of 1440. You may "
            "reduce the datapoints requested by increasing Period, or decreasing the time range.",
        ),
        (
            {"Statistics": ["Sum"], "Period": 1, "StartTime": NOW - timedelta(days=1)},
            "InvalidParameterCombination",
            "You have requested up to 86400 datapoints",
        ),
        (
            {},
            "InvalidParameterCombination",
            "Must specify either Statistics or ExtendedStatistics.",
        ),
        (
            {"ExtendedStatistics": [f"p{i}" for i in range(11)]},
            "InvalidParameterValue",
            "The collection ExtendedStatistics must not have a size greater than 10.",
        ),
        (
            {"Statistics": ["Sum", "Median"]},
            "InvalidParameterValue",
            "The value Median for parameter Statistics.member.2 is invalid.",
        ),
        (
            {"ExtendedStatistics": ["p101"]},
            "InvalidParameterValue",
            "The value p101 for parameter ExtendedStatistics.member.1 is not a valid",
        ),
        (
            {"ExtendedStatistics": ["Sum"]},
            "InvalidParameterValue",
            "The value Sum for parameter ExtendedStatistics.member.1 is not a valid",
        ),
        (
            {"Statistics": ["Sum"], "Period": 90},
            "InvalidParameterValue",
            "The parameter Period must be a multiple of 60",
        ),
        (
            {"Statistics": ["Sum"], "StartTime": NOW},
            "InvalidParameterValue",
            "The parameter StartTime must be less than the parameter EndTime.",
        ),
        (
            {"Statistics": ["Sum"], "Period": None},
            "MissingParameter",
            "The parameter Period is required.",
        ),
        (
            {"Statistics": ["Sum"], "Unit": "Parsecs"},
            "InvalidParameterValue",
            "The value Parsecs for parameter Unit is invalid.",
        ),
    ],
    ids=[
        "1441-points",
        "per-second-day",
        "no-statistics",
        "11-extended",
        "bad-statistic",
        "p101",
        "basic-as-extended",
        "bad-period",
        "empty-range",
        "no-period",
        "bad-unit",
    ],
)
def test_get_metric_statistics_errors(
    loaded: MetricsBackend, params: dict[str, Any], code: str, message: str
) -> None:
    err = aws_error(code, gms, loaded, **params)
    assert err.message.startswith(message), err.message


def test_get_metric_statistics_percentile_without_samples_is_left_out() -> None:
    b = backend()
    put(
        b,
        {
            "MetricName": "Latency",
            "Dimensions": FN,
            "Timestamp": at(3),
            "StatisticValues": {"SampleCount": 4, "Sum": 10, "Minimum": 1, "Maximum": 4},
        },
    )
    assert gms(b, ExtendedStatistics=["p90"])["Datapoints"] == []
    (point,) = gms(b, Statistics=["Sum"], ExtendedStatistics=["p90"])["Datapoints"]
    assert point["Sum"] == 10.0 and "ExtendedStatistics" not in point
