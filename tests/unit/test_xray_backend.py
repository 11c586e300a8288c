"""XRayBackend operations: PutTraceSegments, BatchGetTraces, GetTraceSummaries, groups, paging."""

from __future__ import annotations

import functools
import json
import operator
import threading
from typing import Any

import pytest

from sandbox.endpoint.errors import InvalidRequestException
from sandbox.endpoint.xray import XRAY_OPERATIONS, XRayBackend
from sandbox.endpoint.xray.segments import MAX_DOCUMENT_BYTES
from tests.unit.test_xray_builders import (
    ACCOUNT,
    REGION,
    T0,
    assert_output_shape,
    at,
    ctx,
    entity_id,
    flags_for,
    independent,
    sdk_aws_call,
    sdk_recorder,
    sdk_segment,
    segment,
    subsegment,
    trace_id,
)

pytestmark = pytest.mark.unit

TRACE = trace_id(1)
GOOD = segment("api", entity_id(1), TRACE, T0, T0 + 1)


def put(backend: XRayBackend, *documents: Any) -> list[dict[str, str]]:
    encoded = [d if isinstance(d, str) else json.dumps(d) for d in documents]
    result = backend.put_trace_segments({"TraceSegmentDocuments": encoded}, ctx())
    assert_output_shape("PutTraceSegments", result)
    return result["UnprocessedTraceSegments"]


def with_(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    updated = {**doc, **changes}
    return {key: value for key, value in updated.items() if value is not None}


def test_operations_map_to_backend_methods() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    for operation, method in XRAY_OPERATIONS.items():
        assert callable(getattr(backend, method)), operation


# --- PutTraceSegments ----------------------------------------------------------------------------

MALFORMED = [
    ("not json", "{nope", None, "MalformedDocument"),
    ("json array of segments", json.dumps([GOOD]), entity_id(1), "MalformedDocument"),
    ("missing id", with_(GOOD, id=None), None, "MissingRequiredField"),
    ("segment id 15 hex digits", with_(GOOD, id="0" * 15), "0" * 15, "InvalidSegmentId"),
    (
        "segment id not hex",
        with_(GOOD, id="zzzzzzzzzzzzzzzz"),
        "zzzzzzzzzzzzzzzz",
        "InvalidSegmentId",
    ),
    ("missing trace id", with_(GOOD, trace_id=None), entity_id(1), "MissingRequiredField"),
    ("trace id version 2", with_(GOOD, trace_id="2" + TRACE[1:]), entity_id(1), "InvalidTraceId"),
    (
        "trace id short random part",
        with_(GOOD, trace_id=TRACE[:-1]),
        entity_id(1),
        "InvalidTraceId",
    ),
    (
        "w3c trace id not converted",
        with_(GOOD, trace_id="4efaaf4d1e8720b39541901950019ee5"),
        entity_id(1),
        "InvalidTraceId",
    ),
    ("missing name", with_(GOOD, name=None), entity_id(1), "MissingRequiredField"),
    ("name over 200 characters", with_(GOOD, name="n" * 201), entity_id(1), "InvalidName"),
    ("start time a string", with_(GOOD, start_time="yesterday"), entity_id(1), "InvalidTimestamp"),
    (
        "neither end time nor in progress",
        with_(GOOD, end_time=None),
        entity_id(1),
        "MissingRequiredField",
    ),
    ("end before start", with_(GOOD, end_time=T0 - 1), entity_id(1), "InvalidTimestamp"),
    (
        "independent subsegment without parent",
        with_(GOOD, type="subsegment"),
        entity_id(1),
        "MissingRequiredField",
    ),
    ("parent id not hex", with_(GOOD, parent_id="parent"), entity_id(1), "InvalidParentId"),
    (
        "nested subsegment without name",
        with_(GOOD, subsegments=[{"id": entity_id(2), "start_time": T0, "end_time": T0}]),
        entity_id(1),
        "MissingRequiredField",
    ),
    (
        "subsegments not a list",
        with_(GOOD, subsegments={"id": entity_id(2)}),
        entity_id(1),
        "MalformedDocument",
    ),
    (
        "document over 64 kB",
        with_(GOOD, metadata={"blob": "x" * MAX_DOCUMENT_BYTES}),
        None,
        "DocumentTooLarge",
    ),
]


@pytest.mark.parametrize(
    ("document", "unprocessed_id", "code"),
    [pytest.param(d, i, c, id=n) for n, d, i, c in MALFORMED],
)
def test_malformed_documents_are_reported_not_raised(
    document: Any, unprocessed_id: str | None, code: str
) -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    other = segment("other", entity_id(9), trace_id(9), T0, T0 + 1)
    (item,) = put(backend, document, other)
    assert item["ErrorCode"] == code
    assert item.get("Id") == unprocessed_id
    assert item["Message"]
    assert len(backend.store) == 1  # the good document of the same batch is stored


def test_array_of_independent_subsegments_is_one_document() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    subs = [
        independent(
            "dynamodb", entity_id(2), TRACE, entity_id(1), T0 + 0.1, T0 + 0.2, namespace="aws"
        ),
        independent("sqs", entity_id(3), TRACE, entity_id(1), T0 + 0.3, T0 + 0.4, namespace="aws"),
    ]
    assert put(backend, json.dumps(subs), GOOD) == []
    assert backend.store.document_count() == 3


def test_complete_segment_overwrites_in_progress_but_not_the_reverse() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    window = {"StartTime": at(T0 - 60), "EndTime": at(T0 + 60)}
    put(backend, with_(GOOD, end_time=None, in_progress=True))
    (summary,) = backend.get_trace_summaries(window, ctx())["TraceSummaries"]
    assert summary["IsPartial"] is True

    put(backend, with_(GOOD, **flags_for(500)))
    put(backend, with_(GOOD, end_time=None, in_progress=True))  # late fragment: ignored
    (summary,) = backend.get_trace_summaries(window, ctx())["TraceSummaries"]
    assert (summary["IsPartial"], summary["HasFault"], summary["Duration"]) == (False, True, 1.0)
    assert backend.store.document_count() == 1


def test_add_segment_documents_counts_what_it_stored() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    documents = [
        GOOD,
        json.dumps(segment("b", entity_id(2), trace_id(2), T0, T0 + 1)),
        {"id": "bad"},
    ]
    assert backend.add_segment_documents(documents) == 2
    assert len(backend.store) == 2


# --- BatchGetTraces ------------------------------------------------------------------------------


def batch_get(backend: XRayBackend, ids: list[str]) -> dict[str, Any]:
    result = backend.batch_get_traces({"TraceIds": ids}, ctx())
    assert_output_shape("BatchGetTraces", result)
    return result


def test_batch_get_traces_merges_subsegments_and_adds_inferred_segments() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    call = independent(
        "DynamoDB",
        entity_id(2),
        TRACE,
        entity_id(1),
        T0 + 0.1,
        T0 + 0.3,
        namespace="aws",
        aws={"table_name": "orders", "operation": "PutItem"},
        **flags_for(400),
    )
    put(backend, call, GOOD)
    (trace,) = batch_get(backend, [TRACE])["Traces"]
    assert (trace["Id"], trace["Duration"], trace["LimitExceeded"]) == (TRACE, 1.0, False)
    documents = {segment["Id"]: json.loads(segment["Document"]) for segment in trace["Segments"]}
    root = documents[entity_id(1)]
    assert [sub["id"] for sub in root["subsegments"]] == [entity_id(2)]
    (inferred,) = [doc for doc in documents.values() if doc.get("inferred")]
    assert inferred["parent_id"] == entity_id(2)
    assert (inferred["name"], inferred["origin"]) == ("DynamoDB", "AWS::DynamoDB::Table")
    assert (inferred["error"], inferred["fault"], inferred["throttle"]) == (True, False, False)
    assert inferred["aws"]["table_name"] == "orders"


def test_batch_get_traces_sdk_streamed_subsegments_end_up_in_the_segment() -> None:
    recorder, emitter = sdk_recorder(streaming_threshold=1)
    with sdk_segment(recorder, "checkout", TRACE, T0, T0 + 1, origin="AWS::Lambda::Function"):
        sdk_aws_call(
            recorder, "sqs", "SendMessage", {"QueueUrl": "https://sqs/q"}, T0 + 0.1, T0 + 0.2
        )
        sdk_aws_call(
            recorder, "sqs", "SendMessage", {"QueueUrl": "https://sqs/q"}, T0 + 0.3, T0 + 0.4
        )
    backend = XRayBackend(ACCOUNT, REGION)
    assert put(backend, *emitter.documents) == []
    (trace,) = batch_get(backend, [TRACE])["Traces"]
    by_origin = {
        json.loads(s["Document"]).get("origin"): json.loads(s["Document"])
        for s in trace["Segments"]
    }
    assert len(by_origin["AWS::Lambda::Function"]["subsegments"]) == 2
    assert "AWS::SQS::Queue" in by_origin


@pytest.mark.parametrize(
    ("ids", "expected_ids", "unprocessed"),
    [
        pytest.param([TRACE], [TRACE], [], id="known"),
        pytest.param([trace_id(99)], [], [], id="unknown-id-left-out"),
        pytest.param(
            ["not-a-trace-id", TRACE], [TRACE], ["not-a-trace-id"], id="malformed-id-unprocessed"
        ),
        pytest.param([TRACE, TRACE], [TRACE], [], id="duplicates-once"),
    ],
)
def test_batch_get_traces_ids(
    ids: list[str], expected_ids: list[str], unprocessed: list[str]
) -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    put(backend, GOOD)
    result = batch_get(backend, ids)
    assert [trace["Id"] for trace in result["Traces"]] == expected_ids
    assert result["UnprocessedTraceIds"] == unprocessed


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        pytest.param(
            [trace_id(n) for n in range(6)],
            "Member must have length less than or equal to 5",
            id="six-ids",
        ),
        pytest.param([], "Member must have length greater than or equal to 1", id="no-ids"),
    ],
)
def test_batch_get_traces_takes_one_to_five_ids(ids: list[str], message: str) -> None:
    with pytest.raises(InvalidRequestException, match=message) as caught:
        XRayBackend(ACCOUNT, REGION).batch_get_traces({"TraceIds": ids}, ctx())
    assert "at 'traceIds' failed to satisfy constraint" in caught.value.message


# --- GetTraceSummaries ---------------------------------------------------------------------------


def summaries(
    backend: XRayBackend, start: float = T0 - 60, end: float = T0 + 3600, **params: Any
) -> dict[str, Any]:
    result = backend.get_trace_summaries(
        {"StartTime": at(start), "EndTime": at(end), **params}, ctx()
    )
    assert_output_shape("GetTraceSummaries", result)
    return result


def test_summary_fields() -> None:
    call = subsegment(
        "process",
        entity_id(2),
        T0 + 0.1,
        T0 + 0.5,
        annotations={"order": "o-1"},
        subsegments=[
            subsegment(
                "dynamodb", entity_id(3), T0 + 0.2, T0 + 0.3, namespace="aws", **flags_for(429)
            ),
        ],
    )
    root = segment(
        "api",
        entity_id(1),
        TRACE,
        T0,
        T0 + 0.8,
        origin="AWS::EC2::Instance",
        user="alice",
        annotations={"tier": "gold", "items": 3, "vip": True},
        http={
            "request": {
                "url": "https://x/api",
                "method": "POST",
                "user_agent": "curl",
                "client_ip": "10.0.0.1",
            },
            "response": {"status": 200},
        },
        aws={"ec2": {"instance_id": "i-1", "availability_zone": "eu-west-1a"}},
        resource_arn="arn:aws:ec2:eu-west-1:123456789012:instance/i-1",
        subsegments=[call],
    )
    worker = segment("worker", entity_id(4), TRACE, T0 + 0.7, T0 + 1.5, parent_id=entity_id(2))
    backend = XRayBackend(ACCOUNT, REGION)
    put(backend, root, worker)
    (summary,) = summaries(backend)["TraceSummaries"]
    api = {"Name": "api", "Names": ["api"], "AccountId": ACCOUNT, "Type": "AWS::EC2::Instance"}
    assert summary["Id"] == TRACE
    assert summary["StartTime"] == at(T0)
    assert (summary["Duration"], summary["ResponseTime"]) == (1.5, 0.8)
    # The root answered 200; the throttle happened in a nested subsegment and still counts.
    assert (
        summary["HasThrottle"],
        summary["HasError"],
        summary["HasFault"],
        summary["IsPartial"],
    ) == (
        True,
        True,
        False,
        False,
    )
    assert summary["Http"] == {
        "HttpURL": "https://x/api",
        "HttpStatus": 200,
        "HttpMethod": "POST",
        "UserAgent": "curl",
        "ClientIp": "10.0.0.1",
    }
    assert summary["EntryPoint"] == api
    assert summary["Users"] == [{"UserName": "alice", "ServiceIds": [api]}]
    assert summary["Annotations"] == {
        "tier": [{"AnnotationValue": {"StringValue": "gold"}, "ServiceIds": [api]}],
        "items": [{"AnnotationValue": {"NumberValue": 3.0}, "ServiceIds": [api]}],
        "vip": [{"AnnotationValue": {"BooleanValue": True}, "ServiceIds": [api]}],
        "order": [{"AnnotationValue": {"StringValue": "o-1"}, "ServiceIds": [api]}],
    }
    assert [s["Name"] for s in summary["ServiceIds"]] == ["api", "dynamodb", "worker"]
    assert summary["ResourceARNs"] == [{"ARN": "arn:aws:ec2:eu-west-1:123456789012:instance/i-1"}]
    assert summary["InstanceIds"] == [{"Id": "i-1"}]
    assert summary["AvailabilityZones"] == [{"Name": "eu-west-1a"}]


@pytest.mark.parametrize(
    ("nested", "expected"),
    [
        pytest.param(flags_for(429), (True, True, False), id="throttle-in-subsegment"),
        pytest.param(flags_for(404), (False, True, False), id="error-in-subsegment"),
        pytest.param(flags_for(503), (False, False, True), id="fault-in-subsegment"),
        pytest.param(
            {"error": True, "fault": True, "http": {"response": {"status": 400}}},
            (False, True, False),
            id="sdk-client-error",
        ),
        pytest.param({}, (False, False, False), id="clean"),
    ],
)
def test_summary_flags_reflect_every_subsegment(
    nested: dict[str, Any], expected: tuple[bool, bool, bool]
) -> None:
    deep = subsegment(
        "a",
        entity_id(2),
        T0,
        T0 + 0.5,
        subsegments=[
            subsegment(
                "b",
                entity_id(3),
                T0,
                T0 + 0.4,
                subsegments=[subsegment("c", entity_id(4), T0, T0 + 0.3, **nested)],
            ),
        ],
    )
    backend = XRayBackend(ACCOUNT, REGION)
    put(backend, with_(GOOD, subsegments=[deep], http={"response": {"status": 200}}))
    (summary,) = summaries(backend)["TraceSummaries"]
    assert (summary["HasThrottle"], summary["HasError"], summary["HasFault"]) == expected


def test_paging_returns_every_trace_once() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    backend.add_segment_documents(
        segment("api", entity_id(n + 1), trace_id(n, T0 + n), T0 + n, T0 + n + 0.5)
        for n in range(250)
    )
    pages, token = [], None
    while True:
        params = {} if token is None else {"NextToken": token}
        result = summaries(backend, T0, T0 + 3600, **params)
        pages.append([s["Id"] for s in result["TraceSummaries"]])
        assert result["TracesProcessedCount"] == 250
        token = result.get("NextToken")
        if token is None:
            break
    assert [len(page) for page in pages] == [100, 100, 50]
    assert functools.reduce(operator.iadd, pages, []) == [trace_id(n, T0 + n) for n in range(250)]


def test_next_token_is_bound_to_its_query() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    backend.add_segment_documents(
        segment("api", entity_id(n + 1), trace_id(n), T0 + n, T0 + n + 0.5) for n in range(101)
    )
    token = summaries(backend, T0, T0 + 3600)["NextToken"]
    with pytest.raises(InvalidRequestException, match="Invalid NextToken"):
        summaries(backend, T0, T0 + 60, NextToken=token)
    with pytest.raises(InvalidRequestException, match="Invalid NextToken"):
        summaries(backend, T0, T0 + 3600, NextToken="garbage")


@pytest.mark.parametrize(
    ("range_type", "start", "end", "expected"),
    [
        pytest.param("TraceId", T0, T0 + 1, [1], id="TraceId-by-time-in-the-id"),
        pytest.param(None, T0, T0 + 1, [1], id="default-is-TraceId"),
        pytest.param("Service", T0 + 100, T0 + 200, [1], id="Service-by-segment-end"),
        pytest.param("Service", T0, T0 + 50, [2], id="Service-other-trace"),
        pytest.param("Event", T0 + 3000, T0 + 3700, [2, 1], id="Event-by-ingest-time"),
        pytest.param("Event", T0, T0 + 200, [], id="Event-not-by-segment-time"),
    ],
)
def test_time_range_types(
    range_type: str | None, start: float, end: float, expected: list[int]
) -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    # Trace 1: id says T0, its segment ran T0+100..T0+150. Trace 2: id T0+10, segment ends T0+20.
    put(backend, segment("a", entity_id(1), trace_id(1, T0), T0 + 100, T0 + 150))
    put(backend, segment("b", entity_id(2), trace_id(2, T0 + 10), T0 + 10, T0 + 20))
    params = {} if range_type is None else {"TimeRangeType": range_type}
    result = summaries(backend, start, end, **params)
    epochs = {1: T0, 2: T0 + 10}
    assert [s["Id"] for s in result["TraceSummaries"]] == [trace_id(n, epochs[n]) for n in expected]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"EndTime": at(T0 + 24 * 3600 + 1)}, "at most 24 hours", id="over-24-hours"),
        pytest.param(
            {"EndTime": at(T0 - 1)}, "StartTime must be before EndTime", id="end-before-start"
        ),
        pytest.param({"TimeRangeType": "Ingest"}, "enum value set", id="bad-time-range-type"),
        pytest.param(
            {"Sampling": True, "SamplingStrategy": {"Name": "FixedRate", "Value": 2.0}},
            "Value must be in",
            id="bad-sampling-rate",
        ),
    ],
)
def test_get_trace_summaries_rejects(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestException, match=message):
        XRayBackend(ACCOUNT, REGION).get_trace_summaries(
            {"StartTime": at(T0), "EndTime": at(T0 + 60), **params}, ctx()
        )


def test_exactly_24_hours_is_accepted() -> None:
    result = XRayBackend(ACCOUNT, REGION).get_trace_summaries(
        {"StartTime": at(T0), "EndTime": at(T0 + 86400)}, ctx()
    )
    assert result["TraceSummaries"] == []


def all_summary_ids(backend: XRayBackend, start: float, end: float, **params: Any) -> list[str]:
    ids, token = [], None
    while True:
        extra = {} if token is None else {"NextToken": token}
        result = summaries(backend, start, end, **params, **extra)
        ids += [summary["Id"] for summary in result["TraceSummaries"]]
        token = result.get("NextToken")
        if token is None:
            return ids


def test_sampling_returns_a_stable_subset() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    backend.add_segment_documents(
        segment("api", entity_id(n + 1), trace_id(n), T0, T0 + 1) for n in range(400)
    )
    strategy = {"Sampling": True, "SamplingStrategy": {"Name": "FixedRate", "Value": 0.25}}
    sampled = all_summary_ids(backend, T0, T0 + 60, **strategy)
    assert 60 <= len(sampled) <= 140
    assert all_summary_ids(backend, T0, T0 + 60, **strategy) == sampled
    assert set(sampled) < set(all_summary_ids(backend, T0, T0 + 60))


# --- groups, graphs of traces, concurrency -------------------------------------------------------


def test_groups_filter_the_service_graph() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    put(
        backend,
        GOOD,
        segment("admin", entity_id(2), trace_id(2), T0, T0 + 1, annotations={"team": "ops"}),
    )
    window = {"StartTime": at(T0 - 60), "EndTime": at(T0 + 60)}
    backend.set_group("ops", 'annotation.team = "ops"')
    names = {
        s["Name"]
        for s in backend.get_service_graph({**window, "GroupName": "ops"}, ctx())["Services"]
    }
    assert names == {"admin"}
    arn = f"arn:aws:xray:{REGION}:{ACCOUNT}:group/ops/ABCDEF"
    assert backend.get_service_graph({**window, "GroupARN": arn}, ctx())["Services"]
    assert (
        len(backend.get_service_graph({**window, "GroupName": "Default"}, ctx())["Services"]) == 4
    )
    with pytest.raises(InvalidRequestException, match="Group not found: nope"):
        backend.get_service_graph({**window, "GroupName": "nope"}, ctx())


def test_get_trace_graph_covers_only_the_given_traces() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    put(backend, GOOD, segment("other", entity_id(2), trace_id(2), T0, T0 + 1))
    result = backend.get_trace_graph({"TraceIds": [TRACE]}, ctx())
    assert_output_shape("GetTraceGraph", result)
    assert {(s["Name"], s.get("Type")) for s in result["Services"]} == {
        ("api", "client"),
        ("api", None),
    }


def test_concurrent_writers_and_readers() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(200):
                number = worker * 1000 + n
                backend.add_segment_documents(
                    [segment("api", entity_id(number + 1), trace_id(number), T0 + n, T0 + n + 0.1)]
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(50):
                backend.get_service_graph({"StartTime": at(T0), "EndTime": at(T0 + 300)}, ctx())
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)] + [
        threading.Thread(target=read) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    graph = backend.get_service_graph({"StartTime": at(T0), "EndTime": at(T0 + 300)}, ctx())
    (api,) = [s for s in graph["Services"] if s.get("Type") != "client"]
    assert api["SummaryStatistics"]["TotalCount"] == 800


def test_subsegment_sent_before_its_segment_waits_for_it() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    call = independent(
        "sqs",
        entity_id(2),
        TRACE,
        entity_id(1),
        T0 + 0.1,
        T0 + 0.2,
        namespace="aws",
        **flags_for(503),
    )
    window = {"StartTime": at(T0 - 60), "EndTime": at(T0 + 60)}
    put(backend, call)
    assert backend.get_service_graph(window, ctx())["Services"] == []
    assert batch_get(backend, [TRACE])["Traces"][0]["Segments"] == []

    put(backend, GOOD)
    names = {s["Name"] for s in backend.get_service_graph(window, ctx())["Services"]}
    assert names == {"api", "sqs"}
    (summary,) = summaries(backend)["TraceSummaries"]
    assert (summary["HasFault"], summary["IsPartial"]) == (True, False)
