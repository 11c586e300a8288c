"""X-Ray over HTTP through boto3, fed with segment documents from the real aws-xray-sdk recorder.

A small shop is recorded with ``AWSXRayRecorder`` (sampling off, a capturing emitter instead of
the UDP daemon, AWS calls through the SDK's botocore processor and HTTP calls through its
requests processor), sent with PutTraceSegments, then read back with the query operations.
Expected counts and trace sets are derived in the test from the table of traces below, using
X-Ray's documented classification: 5xx is a fault, 429 a throttle (and an error), other 4xx
an error.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from sandbox.endpoint.testing import sandbox_client
from tests.unit.test_xray_builders import (
    T0,
    at,
    sdk_aws_call,
    sdk_http_call,
    sdk_recorder,
    sdk_segment,
    trace_id,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

pytestmark = pytest.mark.integration

PAYMENTS = "payments.example.com"
WINDOW = {"StartTime": at(T0 - 60), "EndTime": at(T0 + 3600)}
ERROR_CODES = {400: "ValidationException", 429: "ThrottlingException", 500: "InternalServerError"}


@dataclass(frozen=True)
class Call:
    """A downstream call: ``dynamodb`` through the AWS SDK, anything else over HTTP."""

    target: str
    status: int


@dataclass(frozen=True)
class Trace:
    name: str
    service: str
    status: int
    duration: float
    calls: tuple[Call, ...] = ()


# One trace every 30 s from T0, in this order.
SHOP = [
    Trace("ok", "checkout", 200, 0.2, (Call("dynamodb", 200),)),
    Trace("slow", "checkout", 200, 1.5, (Call("dynamodb", 200), Call(PAYMENTS, 200))),
    Trace("db-throttled", "checkout", 200, 0.4, (Call("dynamodb", 429),)),
    Trace("db-rejected", "checkout", 200, 0.3, (Call("dynamodb", 400),)),
    Trace("client-error", "checkout", 404, 0.1),
    Trace("throttled", "checkout", 429, 0.1),
    Trace("fault", "checkout", 500, 2.0, (Call(PAYMENTS, 503),)),
    Trace("catalog-ok", "catalog", 200, 0.3, (Call("dynamodb", 200),)),
    Trace("catalog-db-fault", "catalog", 200, 0.6, (Call("dynamodb", 500),)),
]
SPACING = 30.0


def start_of(index: int) -> float:
    return T0 + SPACING * index


def call_span(trace_start: float, k: int) -> tuple[float, float]:
    return trace_start + 0.01 + 0.05 * k, trace_start + 0.04 + 0.05 * k


# One recorder for the module: creating one takes ~0.3 s.
RECORDER = sdk_recorder()


def record(traces: Iterable[Trace], first: int = 0) -> tuple[list[str], dict[str, str]]:
    """Segment documents as the SDK emits them, and trace name → trace id."""
    recorder, emitter = RECORDER
    emitter.documents.clear()
    ids = {}
    for index, trace in enumerate(traces, start=first):
        start = start_of(index)
        ids[trace.name] = trace_id(index + 1, start)
        with sdk_segment(
            recorder,
            trace.service,
            ids[trace.name],
            start,
            start + trace.duration,
            origin="AWS::EC2::Instance",
            http_status=trace.status,
        ):
            for k, call in enumerate(trace.calls):
                begin, end = call_span(start, k)
                if call.target == "dynamodb":
                    sdk_aws_call(
                        recorder,
                        "dynamodb",
                        "GetItem",
                        {"TableName": f"{trace.service}-items"},
                        begin,
                        end,
                        status=call.status,
                        error_code=ERROR_CODES.get(call.status, "InternalServerError"),
                    )
                else:
                    sdk_http_call(recorder, call.target, begin, end, status=call.status)
    return list(emitter.documents), ids


SHOP_DOCUMENTS, SHOP_IDS = record(SHOP)


def kind(status: int) -> str:
    """X-Ray's classification of a response."""
    if status >= 500:
        return "fault"
    if status == 429:
        return "throttle"
    if status >= 400:
        return "error"
    return "ok"


@pytest.fixture(scope="module")
def xray_client(endpoint_server: Any) -> Any:
    """One client for the module: creating one takes ~0.2 s."""
    return sandbox_client(endpoint_server.url, "xray")


@pytest.fixture
def xray(endpoint: Any, xray_client: Any) -> Any:
    """The module's X-Ray client; ``endpoint`` resets the sandbox after the test."""
    return xray_client


@pytest.fixture
def shop(xray: Any) -> dict[str, str]:
    """The shop's traces, stored through PutTraceSegments; trace name → id."""
    result = xray.put_trace_segments(TraceSegmentDocuments=SHOP_DOCUMENTS)
    assert result["UnprocessedTraceSegments"] == []
    return SHOP_IDS


# ----------------------------------------------------------------------------- GetServiceGraph
def expected_edge(caller: str, callee: str) -> Counter[str]:
    """Hand count of the requests on an edge; caller ``client`` is the edge into a root."""
    counts: Counter[str] = Counter()
    for trace in SHOP:
        if caller == "client" and trace.service == callee:
            counts[kind(trace.status)] += 1
        elif trace.service == caller:
            counts.update(kind(call.status) for call in trace.calls if call.target == callee)
    return counts


def edge_statistics(services: list[dict[str, Any]], caller: str, callee: str) -> dict[str, Any]:
    """An edge's SummaryStatistics; caller ``client`` means the client node of a root service."""
    by_ref = {service["ReferenceId"]: service for service in services}
    is_client = caller == "client"
    sources = [
        s
        for s in services
        if (s.get("Type") == "client") is is_client and (is_client or s["Name"] == caller)
    ]
    (edge,) = [
        edge
        for source in sources
        for edge in source["Edges"]
        if by_ref[edge["ReferenceId"]]["Name"] == callee
    ]
    return dict(edge["SummaryStatistics"])


EDGES = [
    ("client", "checkout"),
    ("client", "catalog"),
    ("checkout", "dynamodb"),
    ("checkout", PAYMENTS),
    ("catalog", "dynamodb"),
]


@pytest.mark.parametrize(("caller", "callee"), EDGES, ids=[f"{a}->{b}" for a, b in EDGES])
def test_service_graph_edge_counts_match_hand_counts(
    xray: Any, shop: dict[str, str], caller: str, callee: str
) -> None:
    services = xray.get_service_graph(**WINDOW)["Services"]
    stats = edge_statistics(services, caller, callee)
    counts = expected_edge(caller, callee)
    assert stats["OkCount"] == counts["ok"]
    assert stats["ErrorStatistics"]["ThrottleCount"] == counts["throttle"]
    assert stats["ErrorStatistics"]["OtherCount"] == counts["error"]
    assert stats["ErrorStatistics"]["TotalCount"] == counts["error"] + counts["throttle"]
    assert stats["FaultStatistics"]["TotalCount"] == counts["fault"]
    assert stats["TotalCount"] == counts.total()


def test_service_graph_nodes(xray: Any, shop: dict[str, str]) -> None:
    services = xray.get_service_graph(**WINDOW)["Services"]
    nodes = {(s["Name"], s.get("Type")) for s in services}
    assert nodes == {
        ("checkout", "client"),
        ("checkout", "AWS::EC2::Instance"),
        ("catalog", "client"),
        ("catalog", "AWS::EC2::Instance"),
        ("dynamodb", "AWS::DynamoDB::Table"),
        (PAYMENTS, "remote"),
    }
    dynamodb = next(s for s in services if s["Name"] == "dynamodb")
    calls = [c for t in SHOP for c in t.calls if c.target == "dynamodb"]
    assert dynamodb["SummaryStatistics"]["TotalCount"] == len(calls)


def test_service_graph_window_excludes_requests_that_ended_outside(
    xray: Any, shop: dict[str, str]
) -> None:
    # The first two traces ended before T0 + 59 s: only they are in [T0 - 60, T0 + 59).
    window = {"StartTime": at(T0 - 60), "EndTime": at(T0 + 59)}
    services = xray.get_service_graph(**window)["Services"]
    assert edge_statistics(services, "client", "checkout")["TotalCount"] == 2
    assert "catalog" not in {s["Name"] for s in services}


# ----------------------------------------------------------------------------- GetTraceSummaries
def summaries(xray: Any, **params: Any) -> list[dict[str, Any]]:
    pages = xray.get_paginator("get_trace_summaries").paginate(**WINDOW, **params)
    return [summary for page in pages for summary in page["TraceSummaries"]]


def test_trace_summaries_flags_reflect_subsegments(xray: Any, shop: dict[str, str]) -> None:
    by_id = {summary["Id"]: summary for summary in summaries(xray)}
    assert set(by_id) == set(shop.values())
    for trace in SHOP:
        summary = by_id[shop[trace.name]]
        kinds = {kind(trace.status)} | {kind(call.status) for call in trace.calls}
        flags = (summary["HasFault"], summary["HasError"], summary["HasThrottle"])
        # HasError covers 4xx including throttles (429).
        expected = ("fault" in kinds, bool(kinds & {"error", "throttle"}), "throttle" in kinds)
        assert flags == expected, trace.name
        assert summary["ResponseTime"] == pytest.approx(trace.duration, abs=1e-3)
        assert summary["Http"]["HttpStatus"] == trace.status
        assert summary["StartTime"] == at(start_of(SHOP.index(trace)))
        assert summary["IsPartial"] is False


def test_trace_summaries_page_with_next_token(xray: Any) -> None:
    many = [Trace(f"t{n}", "checkout", 200, 0.05) for n in range(130)]
    documents, ids = record(many)
    for chunk in range(0, len(documents), 50):
        result = xray.put_trace_segments(TraceSegmentDocuments=documents[chunk : chunk + 50])
        assert result["UnprocessedTraceSegments"] == []
    window = {"StartTime": at(T0 - 60), "EndTime": at(T0 + 130 * SPACING)}
    first = xray.get_trace_summaries(**window)
    assert "NextToken" in first
    pages = [first]
    while "NextToken" in pages[-1]:
        pages.append(xray.get_trace_summaries(**window, NextToken=pages[-1]["NextToken"]))
    seen = [summary["Id"] for page in pages for summary in page["TraceSummaries"]]
    assert sorted(seen) == sorted(ids.values())
    assert len(pages) >= 2
    assert all(page["TraceSummaries"] for page in pages)


FILTERS = [
    ("fault", {"fault"}),
    ("error", {"client-error", "throttled"}),
    ("throttle", {"throttled"}),
    ("NOT ok", {"client-error", "throttled", "fault"}),
    ("responsetime > 1", {"slow", "fault"}),
    ('service("catalog")', {"catalog-ok", "catalog-db-fault"}),
    (f'service("{PAYMENTS}")', {"slow", "fault"}),
    ('edge("checkout", "dynamodb")', {"ok", "slow", "db-throttled", "db-rejected"}),
    ('edge("catalog", "dynamodb")', {"catalog-ok", "catalog-db-fault"}),
    ('service("checkout") AND responsetime < 0.25', {"ok", "client-error", "throttled"}),
    ('edge("checkout", "dynamodb") { throttle }', {"db-throttled"}),
    ("http.status = 404", {"client-error"}),
]


@pytest.mark.parametrize(("expression", "names"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filter_expressions_select_exactly_these_traces(
    xray: Any, shop: dict[str, str], expression: str, names: set[str]
) -> None:
    found = {summary["Id"] for summary in summaries(xray, FilterExpression=expression)}
    assert found == {shop[name] for name in names}


@pytest.mark.parametrize(
    "expression",
    ["responsetime >", 'service("a"', "fault AND", "bogus_keyword", 'edge("a")'],
    ids=["missing-number", "unclosed-paren", "dangling-and", "unknown-keyword", "edge-one-node"],
)
def test_bad_filter_expression_is_an_invalid_request(xray: Any, expression: str) -> None:
    with pytest.raises(ClientError) as caught:
        xray.get_trace_summaries(**WINDOW, FilterExpression=expression)
    assert_invalid_request(caught)


def assert_invalid_request(caught: pytest.ExceptionInfo[ClientError]) -> None:
    response = caught.value.response
    assert response["Error"]["Code"] == "InvalidRequestException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Message"]


# ----------------------------------------------------------------------------- BatchGetTraces
def test_batch_get_traces_five_ids_a_call(xray: Any, shop: dict[str, str]) -> None:
    ids = list(shop.values())
    traces = []
    for chunk in range(0, len(ids), 5):
        result = xray.batch_get_traces(TraceIds=ids[chunk : chunk + 5])
        assert result["UnprocessedTraceIds"] == []
        traces.extend(result["Traces"])
    assert sorted(trace["Id"] for trace in traces) == sorted(ids)
    by_id = {trace["Id"]: trace for trace in traces}
    for trace in SHOP:
        full = by_id[shop[trace.name]]
        assert full["Duration"] == pytest.approx(trace.duration, abs=1e-3)
        documents = [json.loads(segment["Document"]) for segment in full["Segments"]]
        (root,) = [doc for doc in documents if not doc.get("inferred")]
        assert (root["name"], root["trace_id"]) == (trace.service, shop[trace.name])
        assert len(root.get("subsegments", [])) == len(trace.calls)
        # One inferred segment per downstream call, named after what was called.
        inferred = sorted(doc["name"] for doc in documents if doc.get("inferred"))
        assert inferred == sorted(call.target for call in trace.calls)


def test_batch_get_traces_rejects_six_ids(xray: Any, shop: dict[str, str]) -> None:
    six = [*shop.values()][:6]
    with pytest.raises(ClientError) as caught:
        xray.batch_get_traces(TraceIds=six)
    assert_invalid_request(caught)
    assert "5" in caught.value.response["Error"]["Message"]


def test_batch_get_traces_unknown_and_malformed_ids(xray: Any, shop: dict[str, str]) -> None:
    unknown = trace_id(999, T0)
    result = xray.batch_get_traces(TraceIds=[shop["ok"], unknown, "not-a-trace-id"])
    assert [trace["Id"] for trace in result["Traces"]] == [shop["ok"]]
    assert result["UnprocessedTraceIds"] == ["not-a-trace-id"]


# ----------------------------------------------------------------------------- time series
def bucket(moment: float, period: int) -> float:
    return moment // period * period


@pytest.mark.parametrize(
    ("selector", "key", "period"),
    [
        pytest.param('edge("checkout", "dynamodb")', "EdgeSummaryStatistics", 60, id="edge-60s"),
        pytest.param('service("checkout")', "ServiceSummaryStatistics", 60, id="service-60s"),
        pytest.param('service("checkout")', "ServiceSummaryStatistics", 120, id="service-120s"),
    ],
)
def test_time_series_buckets_match_hand_counts(
    xray: Any, shop: dict[str, str], selector: str, key: str, period: int
) -> None:
    # Each request counts in the bucket where it ended.
    expected: dict[float, Counter[str]] = {}
    for index, trace in enumerate(SHOP):
        start = start_of(index)
        if selector.startswith("edge") and trace.service == "checkout":
            for k, call in enumerate(trace.calls):
                if call.target == "dynamodb":
                    end = call_span(start, k)[1]
                    expected.setdefault(bucket(end, period), Counter())[kind(call.status)] += 1
        elif selector.startswith("service") and trace.service == "checkout":
            end = start + trace.duration
            expected.setdefault(bucket(end, period), Counter())[kind(trace.status)] += 1

    pages = xray.get_paginator("get_time_series_service_statistics").paginate(
        **WINDOW, EntitySelectorExpression=selector, Period=period
    )
    series = [entry for page in pages for entry in page["TimeSeriesServiceStatistics"]]
    assert [entry["Timestamp"] for entry in series] == [at(b) for b in sorted(expected)]
    for entry in series:
        counts = expected[entry["Timestamp"].timestamp()]
        stats = entry[key]
        assert stats["OkCount"] == counts["ok"]
        assert stats["ErrorStatistics"]["ThrottleCount"] == counts["throttle"]
        assert stats["ErrorStatistics"]["OtherCount"] == counts["error"]
        assert stats["FaultStatistics"]["TotalCount"] == counts["fault"]
        assert stats["TotalCount"] == counts.total()
        assert sum(item["Count"] for item in entry["ResponseTimeHistogram"]) == counts.total()


# ----------------------------------------------------------------------------- PutTraceSegments
def mangled(document: str, **changes: Any) -> str:
    doc = json.loads(document)
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return json.dumps(doc)


def test_malformed_documents_come_back_unprocessed(xray: Any) -> None:
    documents, ids = record(SHOP[:5])
    entity_ids = [json.loads(document)["id"] for document in documents]
    bad = {
        entity_ids[0]: mangled(documents[0], trace_id=None),
        entity_ids[1]: mangled(documents[1], trace_id="1-nothex-123"),
        entity_ids[2]: mangled(documents[2], end_time=None),
        entity_ids[3]: mangled(documents[3], name=None),
    }
    result = xray.put_trace_segments(
        TraceSegmentDocuments=[*bad.values(), "{not json", documents[4]]
    )
    unprocessed = result["UnprocessedTraceSegments"]
    assert len(unprocessed) == 5
    assert {item.get("Id") for item in unprocessed} == {*bad, None}
    assert all(item["ErrorCode"] and item["Message"] for item in unprocessed)
    # The good document of the same batch was stored; the bad ones were not.
    stored = xray.batch_get_traces(TraceIds=[ids[t.name] for t in SHOP[:5]])["Traces"]
    assert [trace["Id"] for trace in stored] == [ids[SHOP[4].name]]


def test_in_progress_segment_is_partial_until_completed(xray: Any) -> None:
    documents, ids = record(SHOP[:1])
    in_progress = mangled(documents[0], end_time=None, in_progress=True, subsegments=None)
    xray.put_trace_segments(TraceSegmentDocuments=[in_progress])
    (summary,) = summaries(xray)
    assert summary["IsPartial"] is True
    xray.put_trace_segments(TraceSegmentDocuments=documents)
    (summary,) = summaries(xray)
    assert (summary["Id"], summary["IsPartial"]) == (ids["ok"], False)


def test_summaries_reject_a_range_over_a_day(xray: Any) -> None:
    with pytest.raises(ClientError) as caught:
        xray.get_trace_summaries(StartTime=at(T0), EndTime=at(T0) + timedelta(days=1, seconds=1))
    assert_invalid_request(caught)


# ----------------------------------------------------------------------------- faults
def test_throttle_fault_then_normal_again(xray: Any, endpoint: Any) -> None:
    endpoint.faults.add("throttle", service="xray", operation="PutTraceSegments")
    with pytest.raises(ClientError) as caught:
        xray.put_trace_segments(TraceSegmentDocuments=SHOP_DOCUMENTS)
    response = caught.value.response
    assert response["Error"]["Code"] == "ThrottledException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert isinstance(caught.value, xray.exceptions.ThrottledException)
    assert xray.get_service_graph(**WINDOW)["Services"] == []  # other operations still answer

    endpoint.faults.clear()
    result = xray.put_trace_segments(TraceSegmentDocuments=SHOP_DOCUMENTS)
    assert result["UnprocessedTraceSegments"] == []
    assert len(summaries(xray)) == len(SHOP)


def test_accounts_are_isolated(aws: Callable[..., Any]) -> None:
    prod = aws("xray", account="111111111111")
    staging = aws("xray", account="222222222222")
    assert (
        prod.put_trace_segments(TraceSegmentDocuments=SHOP_DOCUMENTS)["UnprocessedTraceSegments"]
        == []
    )
    assert len(summaries(prod)) == len(SHOP)
    assert summaries(staging) == []
    assert staging.get_service_graph(**WINDOW)["Services"] == []
    services = prod.get_service_graph(**WINDOW)["Services"]
    assert {s["AccountId"] for s in services} == {"111111111111"}
