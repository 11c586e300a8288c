"""collectors.xray: service-graph edges per window, traces with their retries, bad documents."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from collectors.schema import EDGES, TRACES
from collectors.xray import (
    BATCH_TRACE_IDS,
    EDGE_RETRY_COLUMNS,
    TraceProblem,
    classify,
    collect_edges,
    collect_traces,
    edge_retry_frame,
    edges_from_graph,
    graph_windows,
    histogram_percentile,
    parse_documents,
    read_retries,
    retries_by_window,
    sample_ids,
    summary_windows,
    trace_row,
)
from tests.unit.test_xray_builders import (
    T0,
    at,
    flags_for,
    independent,
    sdk_aws_call,
    sdk_http_call,
    sdk_local,
    sdk_recorder,
    sdk_segment,
    segment,
    subsegment,
    trace_id,
)

pytestmark = pytest.mark.unit

NOW = at(T0 + 3600)
ACCOUNT, REGION = "123456789012", "eu-west-1"


# --- windows ----------------------------------------------------------------------------------


def test_graph_windows_are_epoch_aligned_and_complete() -> None:
    start = at(T0 + 130)  # T0 is a multiple of 300
    windows = graph_windows(start, at(T0 + 1000), 300, now=at(T0 + 950))
    assert windows == [
        (at(T0), at(T0 + 300)),
        (at(T0 + 300), at(T0 + 600)),
        (at(T0 + 600), at(T0 + 900)),
    ]


def test_graph_windows_end_at_the_range_end() -> None:
    assert graph_windows(at(T0), at(T0 + 600), 300, now=NOW) == [
        (at(T0), at(T0 + 300)),
        (at(T0 + 300), at(T0 + 600)),
    ]


@pytest.mark.parametrize("window_s", [0, -60, 1.5])
def test_graph_windows_refuse_a_bad_width(window_s) -> None:
    with pytest.raises(ValueError, match="window_s must be a positive whole number of seconds"):
        graph_windows(at(T0), at(T0 + 600), window_s, now=NOW)


def test_summary_windows_are_at_most_a_day() -> None:
    windows = summary_windows(at(T0), at(T0 + 50 * 3600))
    assert [(b - a) for a, b in windows] == [
        timedelta(hours=24),
        timedelta(hours=24),
        timedelta(hours=2),
    ]
    assert windows[0][0] == at(T0) and windows[-1][1] == at(T0 + 50 * 3600)
    assert summary_windows(at(T0), at(T0)) == []


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        summary_windows(datetime(2027, 1, 15), at(T0))


# --- the service graph ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("histogram", "q", "expected"),
    [
        ([], 0.5, None),
        ([{"Value": 0.1, "Count": 1}], 0.99, 0.1),
        ([{"Value": 0.3, "Count": 1}, {"Value": 0.1, "Count": 1}], 0.5, 0.1),
        ([{"Value": 0.1, "Count": 98}, {"Value": 2.0, "Count": 2}], 0.99, 2.0),
        ([{"Value": 0.1, "Count": 99}, {"Value": 2.0, "Count": 1}], 0.99, 0.1),
        ([{"Value": 0.1, "Count": 0}, {"Value": 0.2, "Count": 3}], 0.5, 0.2),
    ],
    ids=["empty", "one", "unsorted", "tail-p99", "p99-at-rank-99", "zero-counts"],
)
def test_histogram_percentile(histogram, q, expected) -> None:
    assert histogram_percentile(histogram, q) == expected


def stats(ok: int, error: int = 0, throttle: int = 0, fault: int = 0, seconds: float = 1.0):
    total = ok + error + throttle + fault
    return {
        "OkCount": ok,
        "ErrorStatistics": {
            "ThrottleCount": throttle,
            "OtherCount": error,
            "TotalCount": error + throttle,
        },
        "FaultStatistics": {"OtherCount": fault, "TotalCount": fault},
        "TotalCount": total,
        "TotalResponseTime": seconds,
    }


def edge(ref: int, statistics: dict, histogram: list | None = None) -> dict:
    return {
        "ReferenceId": ref,
        "SummaryStatistics": statistics,
        "ResponseTimeHistogram": histogram or [],
        "Aliases": [],
    }


def lambda_graph() -> list[dict[str, Any]]:
    """client → fn (AWS::Lambda) → fn (AWS::Lambda::Function) → host (remote) and dynamodb."""
    return [
        {
            "ReferenceId": 0,
            "Name": "checkout",
            "Type": "client",
            "AccountId": ACCOUNT,
            "Edges": [edge(1, stats(10, seconds=2.0))],
        },
        {
            "ReferenceId": 1,
            "Name": "checkout",
            "Type": "AWS::Lambda",
            "AccountId": ACCOUNT,
            "Edges": [edge(2, stats(10, seconds=1.9))],
        },
        {
            "ReferenceId": 2,
            "Name": "checkout",
            "Type": "AWS::Lambda::Function",
            "AccountId": ACCOUNT,
            "Edges": [
                edge(
                    3,
                    stats(6, error=1, throttle=2, fault=3, seconds=1.2),
                    [
                        {"Value": 0.05, "Count": 6},
                        {"Value": 0.2, "Count": 3},
                        {"Value": 0.9, "Count": 3},
                    ],
                ),
                edge(4, stats(10, seconds=0.08)),
                edge(99, stats(1)),  # a reference to no node: left out
            ],
        },
        {
            "ReferenceId": 3,
            "Name": "api.example.com",
            "Type": "remote",
            "AccountId": ACCOUNT,
            "Edges": [],
        },
        {
            "ReferenceId": 4,
            "Name": "dynamodb",
            "Type": "AWS::DynamoDB::Table",
            "AccountId": ACCOUNT,
            "Edges": [],
        },
    ]


def rows_by_edge(services, **options) -> dict[tuple[str, str], dict[str, Any]]:
    rows = edges_from_graph(
        services, window_start=at(T0), window_end=at(T0 + 300), region=REGION, **options
    )
    return {(r["source"], r["target"]): r for r in rows}


def test_every_edge_becomes_a_row_with_the_callees_type() -> None:
    rows = rows_by_edge(lambda_graph())
    assert {key: r["target_type"] for key, r in rows.items()} == {
        ("client", "checkout"): "AWS::Lambda",
        ("checkout", "checkout"): "AWS::Lambda::Function",
        ("checkout", "api.example.com"): "remote",
        ("checkout", "dynamodb"): "AWS::DynamoDB::Table",
    }
    assert all(r["account"] == ACCOUNT and r["region"] == REGION for r in rows.values())
    assert all(
        r["window_start"] == at(T0) and r["window_end"] == at(T0 + 300) for r in rows.values()
    )
    assert set(next(iter(rows.values()))) == set(EDGES.columns)


def test_edge_counts_split_into_ok_errors_throttles_faults() -> None:
    row = rows_by_edge(lambda_graph())[("checkout", "api.example.com")]
    assert (row["requests"], row["ok"], row["errors"], row["throttles"], row["faults"]) == (
        12,
        6,
        1,
        2,
        3,
    )
    assert row["ok"] + row["errors"] + row["throttles"] + row["faults"] == row["requests"]
    assert row["latency_mean_ms"] == pytest.approx(100.0)
    assert row["latency_p50_ms"] == pytest.approx(50.0)
    assert row["latency_p99_ms"] == pytest.approx(900.0)
    assert row["retries"] is None


def test_errors_without_other_count_exclude_throttles() -> None:
    statistics = stats(1, error=4, throttle=3)
    del statistics["ErrorStatistics"]["OtherCount"]
    services = lambda_graph()
    services[2]["Edges"] = [edge(3, statistics)]
    row = rows_by_edge(services)[("checkout", "api.example.com")]
    assert (row["errors"], row["throttles"]) == (4, 3)


def test_an_edge_with_no_requests_has_no_latency() -> None:
    services = lambda_graph()
    services[2]["Edges"] = [edge(3, stats(0, seconds=0.0))]
    row = rows_by_edge(services)[("checkout", "api.example.com")]
    assert row["requests"] == 0
    assert row["latency_mean_ms"] is None and row["latency_p50_ms"] is None


def test_colliding_edges_get_qualified_targets() -> None:
    services = lambda_graph()
    services.append(
        {"ReferenceId": 5, "Name": "dynamodb", "Type": "AWS::DynamoDB", "AccountId": ACCOUNT}
    )
    services[2]["Edges"].append(edge(5, stats(1)))
    rows = rows_by_edge(services)
    assert ("checkout", "dynamodb [AWS::DynamoDB::Table]") in rows
    assert ("checkout", "dynamodb [AWS::DynamoDB]") in rows


def test_the_account_argument_wins_over_the_nodes() -> None:
    rows = rows_by_edge(lambda_graph(), account="999999999999")
    assert {r["account"] for r in rows.values()} == {"999999999999"}


def test_retries_are_summed_per_edge_and_window() -> None:
    frame = edge_retry_frame(
        [
            {"trace_id": "a", "source": "f", "target": "h", "at": at(T0 + 10), "retries": 2},
            {"trace_id": "b", "source": "f", "target": "h", "at": at(T0 + 299.9), "retries": 1},
            {"trace_id": "c", "source": "f", "target": "h", "at": at(T0 + 300), "retries": 4},
            {"trace_id": "d", "source": "g", "target": "h", "at": at(T0 + 10), "retries": 1},
        ]
    )
    assert retries_by_window(frame, 300) == {
        ("f", "h", at(T0)): 3,
        ("f", "h", at(T0 + 300)): 4,
        ("g", "h", at(T0)): 1,
    }


def test_an_empty_retry_frame_has_the_columns() -> None:
    frame = edge_retry_frame([])
    assert list(frame.columns) == list(EDGE_RETRY_COLUMNS)
    assert retries_by_window(frame, 300) == {}


# --- documents ---------------------------------------------------------------------------------

TID = trace_id(7)


def wrap(*documents: Any) -> list[dict[str, Any]]:
    """BatchGetTraces' ``Segments`` for the given documents (dicts are JSON-encoded)."""
    return [
        {"Id": f"seg{i}", "Document": d if isinstance(d, str) else json.dumps(d)}
        for i, d in enumerate(documents)
    ]


GOOD_DOC = segment("checkout", "a" * 16, TID, T0, T0 + 1)
MALFORMED = [
    ("not-json", "{nope", "document is not JSON: "),
    ("a-list", [1, 2], "document is list, expected an object"),
    ("a-string", '"text"', "document is str, expected an object"),
    ("no-id", {"name": "x", "start_time": T0}, "document has no `id`"),
    ("no-name", {"id": "b" * 16, "start_time": T0}, "document has no `name`"),
    (
        "start-not-a-number",
        {"id": "b" * 16, "name": "x", "start_time": "soon"},
        "no numeric `start_time`",
    ),
    ("start-is-bool", {"id": "b" * 16, "name": "x", "start_time": True}, "no numeric `start_time`"),
    (
        "end-not-a-number",
        {"id": "b" * 16, "name": "x", "start_time": T0, "end_time": "x"},
        "`end_time` is not a number",
    ),
    (
        "subsegments-not-a-list",
        {"id": "b" * 16, "name": "x", "start_time": T0, "subsegments": {"a": 1}},
        "`subsegments` of bbbbbbbbbbbbbbbb is not a list of objects",
    ),
    (
        "nested-subsegment-not-an-object",
        {
            "id": "b" * 16,
            "name": "x",
            "start_time": T0,
            "subsegments": [{"id": "c", "subsegments": [7]}],
        },
        "`subsegments` of c is not a list of objects",
    ),
]


@pytest.mark.parametrize(
    ("document", "reason"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_document_is_skipped_with_its_reason(document, reason) -> None:
    documents, problems = parse_documents(TID, wrap(GOOD_DOC, document))
    assert documents == [GOOD_DOC]
    [problem] = problems
    assert (problem.trace_id, problem.segment_id) == (TID, "seg1")
    assert reason in problem.reason


def test_a_segment_entry_without_a_document_is_a_problem() -> None:
    _docs, problems = parse_documents(TID, [{"Id": "x"}, "junk"])
    assert [p.segment_id for p in problems] == ["x", None]


# --- retries off the subsegments ---------------------------------------------------------------


def remote(sub_id: str, host: str, start: float, status: int, attempt: int | None = None) -> dict:
    fields: dict[str, Any] = {"namespace": "remote", **flags_for(status)}
    if attempt is not None:
        fields["annotations"] = {"attempt": attempt}
    return subsegment(host, sub_id, start, start + 0.1, **fields)


def aws_call(sub_id: str, start: float, retries: int | None, name: str = "dynamodb") -> dict:
    fields: dict[str, Any] = {"namespace": "aws", "aws": {"operation": "GetItem"}}
    if retries is not None:
        fields["aws"]["retries"] = retries
    return subsegment(name, sub_id, start, start + 0.05, **fields)


def fn(*subsegments: dict, name: str = "checkout", **fields: Any) -> dict:
    return segment(name, "f" * 16, TID, T0, T0 + 5, subsegments=list(subsegments), **fields)


RETRIES = [
    ("aws-retries", fn(aws_call("1", T0 + 1, 2)), {("checkout", "dynamodb"): 2}),
    ("aws-no-retries", fn(aws_call("1", T0 + 1, 0)), {}),
    ("aws-retries-absent", fn(aws_call("1", T0 + 1, None)), {}),
    (
        "remote-attempt-annotations",
        fn(
            *(
                remote(str(i), "api.x.com", T0 + i, 503 if i < 3 else 200, attempt=i)
                for i in (1, 2, 3)
            )
        ),
        {("checkout", "api.x.com"): 2},
    ),
    (
        "remote-after-throttle-and-fault",
        fn(
            remote("1", "api.x.com", T0 + 1, 429),
            remote("2", "api.x.com", T0 + 2, 503),
            remote("3", "api.x.com", T0 + 3, 200),
        ),
        {("checkout", "api.x.com"): 2},
    ),
    (
        "remote-successive-calls-are-not-retries",
        fn(remote("1", "api.x.com", T0 + 1, 200), remote("2", "api.x.com", T0 + 2, 200)),
        {},
    ),
    (
        "remote-after-a-client-error-is-not-a-retry",
        fn(remote("1", "api.x.com", T0 + 1, 400), remote("2", "api.x.com", T0 + 2, 200)),
        {},
    ),
    (
        "remote-two-hosts-kept-apart",
        fn(
            remote("1", "a.com", T0 + 1, 503),
            remote("2", "b.com", T0 + 2, 200),
            remote("3", "a.com", T0 + 3, 200),
        ),
        {("checkout", "a.com"): 1},
    ),
    (
        "remote-order-by-start-time",
        fn(remote("2", "a.com", T0 + 2, 200), remote("1", "a.com", T0 + 1, 503)),
        {("checkout", "a.com"): 1},
    ),
    (
        "nested-under-a-local-subsegment",
        fn(subsegment("handler", "l", T0, T0 + 4, subsegments=[aws_call("1", T0 + 1, 3)])),
        {("checkout", "dynamodb"): 3},
    ),
]


@pytest.mark.parametrize(
    ("document", "expected"), [r[1:] for r in RETRIES], ids=[r[0] for r in RETRIES]
)
def test_retries_read_off_subsegments(document, expected) -> None:
    seen = read_retries(TID, [document])
    assert {(o["source"], o["target"]): o["retries"] for o in seen} == expected
    assert all(o["trace_id"] == TID for o in seen)


def test_a_retry_is_timed_by_the_end_of_its_call() -> None:
    [seen] = read_retries(
        TID, [fn(remote("1", "a.com", T0 + 1, 503), remote("2", "a.com", T0 + 2, 200))]
    )
    assert seen["at"] == at(T0 + 2.1)


def test_inferred_segments_are_not_counted_twice() -> None:
    inferred = segment(
        "dynamodb",
        "e" * 16,
        TID,
        T0 + 1,
        T0 + 1.05,
        parent_id="1",
        inferred=True,
        aws={"retries": 2},
        subsegments=[aws_call("9", T0, 5)],
    )
    seen = read_retries(TID, [fn(aws_call("1", T0 + 1, 2)), inferred])
    assert sum(o["retries"] for o in seen) == 2


def test_an_independent_subsegment_belongs_to_its_parents_segment() -> None:
    loose = independent(
        "dynamodb", "9" * 16, TID, "f" * 16, T0 + 1, T0 + 2, subsegments=[aws_call("1", T0 + 1, 1)]
    )
    [seen] = read_retries(TID, [fn(), loose])
    assert seen["source"] == "checkout"


def sdk_documents() -> list[dict[str, Any]]:
    """A function that retried a throttled DynamoDB call and a failing HTTP API, by the real SDK."""
    recorder, emitter = sdk_recorder()
    with (
        sdk_segment(
            recorder,
            "checkout",
            TID,
            T0,
            T0 + 3,
            origin="AWS::Lambda::Function",
            parent_id="1" * 16,
        ),
        sdk_local(recorder, "handler", T0 + 0.01, T0 + 2.9),
    ):
        call = sdk_aws_call(
            recorder,
            "dynamodb",
            "GetItem",
            {"TableName": "orders"},
            T0 + 0.1,
            T0 + 0.3,
            status=429,
        )
        call.aws["retries"] = 3  # the Java/Node SDKs write it; the world adds it likewise
        for i, status in enumerate((503, 502, 200)):
            sdk_http_call(
                recorder, "api.pay.com", T0 + 1 + i * 0.2, T0 + 1.1 + i * 0.2, status=status
            )
    with sdk_segment(
        recorder, "checkout", TID, T0 - 0.01, T0 + 3.01, origin="AWS::Lambda", http_status=200
    ) as root:
        root.id = "1" * 16
    return [json.loads(d) for d in emitter.documents]


def test_retries_from_real_sdk_documents() -> None:
    documents = sdk_documents()
    seen = read_retries(TID, documents)
    assert {(o["source"], o["target"]): o["retries"] for o in seen} == {
        ("checkout", "dynamodb"): 3,
        ("checkout", "api.pay.com"): 2,
    }


def test_a_trace_row_from_real_sdk_documents() -> None:
    documents = sdk_documents()
    row = trace_row(
        TID, documents, read_retries(TID, documents), None, account=ACCOUNT, region=REGION
    )
    assert row is not None
    assert set(row) == set(TRACES.columns)
    assert (row["root"], row["status"]) == ("checkout", 200)
    assert row["start"] == at(T0 - 0.01)
    assert row["duration_ms"] == pytest.approx(3020.0)
    assert row["retries"] == 5
    assert row["retried_edges"] == ["checkout->api.pay.com", "checkout->dynamodb"]
    # The throttled SDK call carries throttle, error *and* fault (the recorded exception);
    # the 5xx attempts are faults in their own right.
    assert (row["has_throttle"], row["has_error"], row["has_fault"]) == (True, True, True)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, "ok"),
        (flags_for(200), "ok"),
        (flags_for(404), "error"),
        (flags_for(429), "throttle"),
        (flags_for(503), "fault"),
        ({**flags_for(429), "fault": True}, "throttle"),
        ({**flags_for(404), "fault": True}, "error"),
        ({"fault": True}, "fault"),
        ({"throttle": True, "error": True}, "throttle"),
        ({"fault": True, "error": True}, "error"),
    ],
    ids=[
        "no-flags",
        "200",
        "404",
        "429",
        "503",
        "sdk-throttled-call",
        "sdk-client-error",
        "fault-only",
        "throttle-no-status",
        "fault-and-error-no-status",
    ],
)
def test_classify_follows_xray(flags, expected) -> None:
    assert classify({"name": "x", **flags}) == expected


def test_a_throttled_sdk_call_alone_is_not_a_fault() -> None:
    recorder, emitter = sdk_recorder()
    with sdk_segment(recorder, "checkout", TID, T0, T0 + 1, http_status=200):
        sdk_aws_call(
            recorder, "dynamodb", "GetItem", {"TableName": "t"}, T0 + 0.1, T0 + 0.2, status=429
        )
    documents = [json.loads(d) for d in emitter.documents]
    row = trace_row(TID, documents, [], None, account=ACCOUNT, region=REGION)
    assert (row["has_throttle"], row["has_error"], row["has_fault"]) == (True, True, False)


def test_summary_flags_win_over_the_documents() -> None:
    summary = {
        "Id": TID,
        "StartTime": at(T0 - 1),
        "Duration": 2.5,
        "HasFault": True,
        "HasError": False,
        "HasThrottle": False,
    }
    row = trace_row(TID, [GOOD_DOC], [], summary, account=ACCOUNT, region=REGION)
    assert (row["has_fault"], row["has_error"], row["has_throttle"]) == (True, False, False)
    assert row["start"] == at(T0 - 1)
    assert row["duration_ms"] == 2500.0


def test_a_trace_without_documents_keeps_its_summary() -> None:
    summary = {
        "Id": TID,
        "StartTime": at(T0),
        "Duration": 1.0,
        "HasFault": False,
        "HasError": False,
        "HasThrottle": True,
        "EntryPoint": {"Name": "checkout"},
        "Http": {"HttpStatus": 202},
    }
    row = trace_row(TID, [], [], summary, account=ACCOUNT, region=REGION, read=False)
    assert (row["root"], row["status"], row["retries"], row["has_throttle"]) == (
        "checkout",
        202,
        None,
        True,
    )
    assert trace_row(TID, [], [], None, account=ACCOUNT, region=REGION) is None


def test_sample_ids() -> None:
    ids = [trace_id(n, T0 + n) for n in range(20)]
    assert sample_ids(ids + ids[:3], None) == ids
    chosen = sample_ids(ids, 5)
    assert len(chosen) == 5 and chosen == [i for i in ids if i in chosen]
    assert sample_ids(list(reversed(ids)), 5) == list(reversed(chosen))  # by id, not by order
    assert sample_ids(ids, 0) == []
    with pytest.raises(ValueError, match="limit must be None or"):
        sample_ids(ids, -1)


# --- the shell, against a fake X-Ray client ----------------------------------------------------


class FakeXRay:
    """Traces with summaries; GetTraceSummaries pages ``page`` at a time, ≤ 24 h per query."""

    class meta:
        region_name = REGION

    def __init__(self, traces: dict[str, dict[str, Any]], page: int = 10) -> None:
        self.traces = traces
        self.page = page
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.graph = lambda_graph()

    def count(self, operation: str) -> int:
        return sum(1 for op, _ in self.calls if op == operation)

    def get_trace_summaries(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("GetTraceSummaries", request))
        assert request["EndTime"] - request["StartTime"] <= timedelta(hours=24)
        selected = sorted(
            (
                t["summary"]
                for t in self.traces.values()
                if request["StartTime"] <= t["summary"]["StartTime"] < request["EndTime"]
            ),
            key=lambda s: s["Id"],
        )
        start = int(request.get("NextToken", 0))
        response: dict[str, Any] = {"TraceSummaries": selected[start : start + self.page]}
        if start + self.page < len(selected):
            response["NextToken"] = str(start + self.page)
        return response

    def batch_get_traces(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("BatchGetTraces", request))
        ids = request["TraceIds"]
        assert 1 <= len(ids) <= BATCH_TRACE_IDS
        traces = [
            {"Id": i, "Segments": self.traces[i]["segments"]}
            for i in ids
            if self.traces.get(i, {}).get("segments") is not None
        ]
        unprocessed = [i for i in ids if self.traces.get(i, {}).get("unprocessed")]
        return {"Traces": traces, "UnprocessedTraceIds": unprocessed}

    def get_service_graph(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("GetServiceGraph", request))
        # Two pages: the callers first, then the callees.
        if request.get("NextToken") == "2":
            return {"Services": self.graph[3:]}
        return {"Services": self.graph[:3], "NextToken": "2"}


def fake_traces(n: int, *, spread_s: float = 60.0) -> dict[str, dict[str, Any]]:
    traces = {}
    for k in range(n):
        start = T0 + k * spread_s
        tid = trace_id(k, start)
        doc = segment(
            "checkout",
            f"{k:016x}",
            tid,
            start,
            start + 1,
            subsegments=[
                remote("1", "api.x.com", start + 0.1, 503),
                remote("2", "api.x.com", start + 0.3, 200),
            ],
        )
        traces[tid] = {
            "summary": {
                "Id": tid,
                "StartTime": at(start),
                "Duration": 1.0,
                "HasFault": False,
                "HasError": False,
                "HasThrottle": False,
                "ServiceIds": [{"Name": "checkout", "AccountId": ACCOUNT}],
            },
            "segments": wrap(doc),
        }
    return traces


def test_every_trace_is_fetched_five_ids_a_call() -> None:
    xray = FakeXRay(fake_traces(23))
    sample = collect_traces(xray, start=at(T0), end=at(T0 + 3000), now=NOW)
    assert len(sample.traces) == 23
    assert xray.count("BatchGetTraces") == math.ceil(23 / 5)
    assert xray.count("GetTraceSummaries") == 3  # 23 summaries, 10 a page
    assert sample.problems == []
    assert list(sample.traces.columns) == TRACES.columns
    assert set(sample.traces["account"]) == {ACCOUNT}
    assert set(sample.traces["region"]) == {REGION}
    assert sample.traces["retries"].tolist() == [1] * 23
    assert len(sample.edge_retries) == 23
    assert set(zip(sample.edge_retries["source"], sample.edge_retries["target"], strict=True)) == {
        ("checkout", "api.x.com")
    }


def test_a_sample_fetches_only_its_traces() -> None:
    xray = FakeXRay(fake_traces(23))
    sample = collect_traces(xray, start=at(T0), end=at(T0 + 3000), now=NOW, limit=7)
    assert len(sample.traces) == 7
    assert xray.count("BatchGetTraces") == 2


def test_long_ranges_are_split_into_days() -> None:
    xray = FakeXRay(fake_traces(6, spread_s=10 * 3600), page=100)  # one every 10 h, over 50 h
    sample = collect_traces(xray, start=at(T0), end=at(T0 + 60 * 3600), now=at(T0 + 61 * 3600))
    assert len(sample.traces) == 6
    assert xray.count("GetTraceSummaries") == 3


def test_the_range_stops_at_now() -> None:
    xray = FakeXRay(fake_traces(10))
    sample = collect_traces(xray, start=at(T0), end=at(T0 + 3000), now=at(T0 + 300))
    assert len(sample.traces) == 5  # traces at T0 + 0, 60, …, 240


def test_malformed_documents_and_missing_traces_are_problems_not_crashes() -> None:
    traces = fake_traces(4)
    ids = list(traces)
    traces[ids[0]]["segments"] = [*traces[ids[0]]["segments"], {"Id": "bad", "Document": "{oops"}]
    traces[ids[1]]["segments"] = [{"Id": "only", "Document": "[]"}]
    traces[ids[2]]["segments"] = None  # expired between the summary and the fetch
    traces[ids[3]].update(segments=None, unprocessed=True)
    sample = collect_traces(FakeXRay(traces), start=at(T0), end=at(T0 + 3000), now=NOW)
    reasons = {(p.trace_id, p.segment_id): p.reason for p in sample.problems}
    assert reasons[(ids[0], "bad")].startswith("document is not JSON")
    assert reasons[(ids[1], "only")] == "document is list, expected an object"
    assert (
        reasons[(ids[2], None)]
        == "not returned by BatchGetTraces (expired or still being processed)"
    )
    assert reasons[(ids[3], None)] == "BatchGetTraces left it unprocessed"
    assert len(sample.problems) == 4
    by_id = sample.traces.set_index("trace_id")["retries"]
    assert by_id[ids[0]] == 1  # the good document of the trace is still read
    assert all(pd.isna(by_id[i]) for i in ids[1:])
    assert isinstance(sample.problems[0], TraceProblem)


def test_edges_per_window_with_paged_graphs() -> None:
    xray = FakeXRay({})
    frame = collect_edges(xray, start=at(T0), end=at(T0 + 900), now=NOW)
    assert xray.count("GetServiceGraph") == 3 * 2  # three windows, two pages each
    assert list(frame.columns) == EDGES.columns
    assert len(frame) == 3 * 4
    assert frame["retries"].isna().all()
    assert sorted(set(frame["window_start"])) == [at(T0), at(T0 + 300), at(T0 + 600)]


def test_edges_get_the_sampled_retries() -> None:
    xray = FakeXRay({})
    retries = edge_retry_frame(
        [
            {
                "trace_id": "t",
                "source": "checkout",
                "target": "api.example.com",
                "at": at(T0 + 310),
                "retries": 3,
            }
        ]
    )
    frame = collect_edges(xray, start=at(T0), end=at(T0 + 900), now=NOW, retries=retries)
    got = frame.set_index(["source", "target", "window_start"])["retries"]
    assert got[("checkout", "api.example.com", at(T0 + 300))] == 3
    assert got[("checkout", "api.example.com", at(T0))] == 0
    assert got.notna().all()


def test_incomplete_windows_are_not_read() -> None:
    xray = FakeXRay({})
    frame = collect_edges(xray, start=at(T0), end=at(T0 + 900), now=at(T0 + 299))
    assert frame.empty
    assert xray.count("GetServiceGraph") == 0
