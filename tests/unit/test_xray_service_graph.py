"""GetServiceGraph / GetTimeSeriesServiceStatistics counts, checked against hand counts."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sandbox.endpoint.errors import InvalidRequestException
from sandbox.endpoint.xray import XRayBackend
from sandbox.endpoint.xray.traces import Status, classify
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
    sdk_http_call,
    sdk_local,
    sdk_recorder,
    sdk_segment,
    segment,
    subsegment,
    trace_id,
)

pytestmark = pytest.mark.unit


def counts(ok: int = 0, error: int = 0, throttle: int = 0, fault: int = 0) -> dict[str, Any]:
    """The statistics structure for hand counts (response times checked separately)."""
    return {
        "OkCount": ok,
        "ErrorStatistics": {
            "ThrottleCount": throttle,
            "OtherCount": error,
            "TotalCount": error + throttle,
        },
        "FaultStatistics": {"OtherCount": fault, "TotalCount": fault},
        "TotalCount": ok + error + throttle + fault,
    }


def without_time(stats: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in stats.items() if key != "TotalResponseTime"}


class Graph:
    """Lookup helpers over a GetServiceGraph answer."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        self.services = result["Services"]
        self.by_ref = {service["ReferenceId"]: service for service in self.services}

    def node(self, name: str, type_: str | None = None) -> dict[str, Any]:
        (found,) = [
            s
            for s in self.services
            if s["Name"] == name
            and s.get("Type") != "client"
            and (type_ is None or s.get("Type") == type_)
        ]
        return found

    def client(self, name: str) -> dict[str, Any]:
        (found,) = [s for s in self.services if s["Name"] == name and s.get("Type") == "client"]
        return found

    def edge(self, caller: str, callee: str) -> dict[str, Any]:
        source = (
            self.client(caller[len("client:") :])
            if caller.startswith("client:")
            else self.node(caller)
        )
        (found,) = [e for e in source["Edges"] if self.by_ref[e["ReferenceId"]]["Name"] == callee]
        return found

    def names(self) -> set[tuple[str, str | None]]:
        return {(s["Name"], s.get("Type")) for s in self.services}


def service_graph(backend: XRayBackend, start: float = T0 - 60, end: float = T0 + 3600) -> Graph:
    result = backend.get_service_graph({"StartTime": at(start), "EndTime": at(end)}, ctx())
    assert_output_shape("GetServiceGraph", result)
    return Graph(result)


# --- a shop, hand-built: client → api → orders → DynamoDB ------------------------------------

ORDERS_STATUSES = [200] * 7 + [429, 429, 500]  # 7 ok, 2 throttles, 1 fault on api → orders
DYNAMO_STATUSES = [200] * 8 + [400, 429]  # 8 ok, 1 error, 1 throttle on orders → DynamoDB


def shop_documents() -> list[dict[str, Any]]:
    docs = []
    for i, (orders_status, dynamo_status) in enumerate(
        zip(ORDERS_STATUSES, DYNAMO_STATUSES, strict=True)
    ):
        trace, t = trace_id(i), T0 + 60 * i
        api_status = 502 if orders_status >= 500 else 200
        call = subsegment(
            "orders",
            entity_id(100 + i),
            t + 0.01,
            t + 0.07,
            namespace="remote",
            **flags_for(orders_status),
        )
        docs.append(
            segment(
                "api",
                entity_id(i),
                trace,
                t,
                t + 0.1,
                origin="AWS::EC2::Instance",
                subsegments=[call],
                **flags_for(api_status),
            )
        )
        dynamo = subsegment(
            "DynamoDB",
            entity_id(300 + i),
            t + 0.02,
            t + 0.03,
            namespace="aws",
            aws={"operation": "GetItem", "table_name": "orders"},
            **flags_for(dynamo_status),
        )
        docs.append(
            segment(
                "orders",
                entity_id(200 + i),
                trace,
                t + 0.015,
                t + 0.065,
                parent_id=entity_id(100 + i),
                origin="AWS::ECS::Container",
                subsegments=[dynamo],
                **flags_for(orders_status),
            )
        )
    return docs


@pytest.fixture
def shop() -> Graph:
    backend = XRayBackend(ACCOUNT, REGION)
    assert backend.add_segment_documents(shop_documents()) == 20
    return service_graph(backend)


@pytest.mark.parametrize(
    ("caller", "callee", "expected"),
    [
        pytest.param("client:api", "api", counts(ok=9, fault=1), id="client->api"),
        pytest.param(
            "api",
            "orders",
            counts(ok=7, throttle=2, fault=1),
            id="api->orders-7ok-2throttle-1fault",
        ),
        pytest.param(
            "orders", "DynamoDB", counts(ok=8, error=1, throttle=1), id="orders->DynamoDB-inferred"
        ),
    ],
)
def test_edge_counts_match_hand_counts(
    shop: Graph, caller: str, callee: str, expected: dict[str, Any]
) -> None:
    assert without_time(shop.edge(caller, callee)["SummaryStatistics"]) == expected


@pytest.mark.parametrize(
    ("name", "type_", "expected", "root"),
    [
        pytest.param("api", "AWS::EC2::Instance", counts(ok=9, fault=1), True, id="api"),
        pytest.param(
            "orders", "AWS::ECS::Container", counts(ok=7, throttle=2, fault=1), False, id="orders"
        ),
        pytest.param(
            "DynamoDB",
            "AWS::DynamoDB::Table",
            counts(ok=8, error=1, throttle=1),
            False,
            id="DynamoDB",
        ),
    ],
)
def test_service_counts_and_types(
    shop: Graph, name: str, type_: str, expected: dict[str, Any], root: bool
) -> None:
    node = shop.node(name)
    assert node["Type"] == type_
    assert node["Root"] is root
    assert node["State"] == "active"
    assert node["AccountId"] == ACCOUNT
    assert without_time(node["SummaryStatistics"]) == expected


def test_nodes_are_services_plus_one_client_per_root(shop: Graph) -> None:
    assert shop.names() == {
        ("api", "client"),
        ("api", "AWS::EC2::Instance"),
        ("orders", "AWS::ECS::Container"),
        ("DynamoDB", "AWS::DynamoDB::Table"),
    }
    client = shop.client("api")
    assert client["State"] == "unknown"
    assert "SummaryStatistics" not in client
    assert sorted(s["ReferenceId"] for s in shop.services) == list(range(4))


def test_response_times_and_histograms(shop: Graph) -> None:
    edge = shop.edge("api", "orders")
    assert edge["SummaryStatistics"]["TotalResponseTime"] == pytest.approx(10 * 0.05)
    assert edge["ResponseTimeHistogram"] == [{"Value": 0.05, "Count": 10}]
    dynamo = shop.node("DynamoDB")
    assert dynamo["SummaryStatistics"]["TotalResponseTime"] == pytest.approx(10 * 0.01)
    assert dynamo["DurationHistogram"] == [{"Value": 0.01, "Count": 10}]
    assert edge["StartTime"] == at(T0 + 0.015)
    assert edge["EndTime"] == at(T0 + 60 * 9 + 0.065)


@pytest.mark.parametrize(
    ("start", "end", "expected_api_total"),
    [
        pytest.param(T0, T0 + 600, 10, id="whole-hour"),
        pytest.param(T0 + 60, T0 + 600, 9, id="first-trace-ended-before-window"),
        pytest.param(T0, T0 + 0.1, 0, id="end-exclusive-request-ending-at-EndTime"),
        pytest.param(T0 + 0.1, T0 + 0.2, 1, id="start-inclusive-request-ending-at-StartTime"),
        pytest.param(
            T0 + 120.05, T0 + 120.09, 0, id="segment-overlapping-but-not-ending-in-window"
        ),
    ],
)
def test_window_counts_requests_that_ended_in_it(
    start: float, end: float, expected_api_total: int
) -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    backend.add_segment_documents(shop_documents())
    graph = service_graph(backend, start, end)
    totals = {
        s["Name"]: s["SummaryStatistics"]["TotalCount"]
        for s in graph.services
        if "SummaryStatistics" in s
    }
    assert totals.get("api", 0) == expected_api_total


# --- flags of subsegments --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subsegments", "expected_edge"),
    [
        pytest.param(
            [
                subsegment(
                    "process",
                    entity_id(2),
                    T0,
                    T0 + 0.5,
                    subsegments=[
                        subsegment(
                            "sqs",
                            entity_id(3),
                            T0 + 0.1,
                            T0 + 0.2,
                            namespace="aws",
                            **flags_for(429),
                        )
                    ],
                )
            ],
            ("sqs", "AWS::SQS", counts(throttle=1)),
            id="aws-call-nested-in-local-subsegment",
        ),
        pytest.param(
            [
                subsegment(
                    "payments.example.com",
                    entity_id(2),
                    T0,
                    T0 + 0.5,
                    namespace="remote",
                    subsegments=[subsegment("retry", entity_id(3), T0 + 0.1, T0 + 0.2, fault=True)],
                )
            ],
            ("payments.example.com", "remote", counts(fault=1)),
            id="fault-of-a-nested-subsegment-counts-for-the-call",
        ),
        pytest.param(
            [
                subsegment(
                    "db@rds",
                    entity_id(2),
                    T0,
                    T0 + 0.5,
                    namespace="remote",
                    sql={"url": "postgres://db"},
                )
            ],
            ("db@rds", "Database::SQL", counts(ok=1)),
            id="sql-call-is-a-database-node",
        ),
        pytest.param(
            [
                subsegment(
                    "dynamodb", entity_id(2), T0, T0 + 0.5, namespace="aws", aws={"table_name": "t"}
                )
            ],
            ("dynamodb", "AWS::DynamoDB::Table", counts(ok=1)),
            id="python-sdk-lowercase-endpoint-prefix",
        ),
        pytest.param(
            [
                subsegment(
                    "Lambda",
                    entity_id(2),
                    T0,
                    T0 + 0.5,
                    namespace="aws",
                    aws={"function_name": "f"},
                )
            ],
            ("Lambda", "AWS::Lambda", counts(ok=1)),
            id="uninstrumented-lambda-invoke",
        ),
    ],
)
def test_inferred_nodes_take_flags_from_the_calling_subsegment(
    subsegments: list[dict[str, Any]], expected_edge: tuple[str, str, dict[str, Any]]
) -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    backend.add_segment_documents(
        [segment("fn", entity_id(1), trace_id(1), T0, T0 + 1, subsegments=subsegments)]
    )
    graph = service_graph(backend)
    name, type_, expected = expected_edge
    assert graph.node(name)["Type"] == type_
    assert without_time(graph.edge("fn", name)["SummaryStatistics"]) == expected
    # The caller answered its own client without error: its node stays ok.
    assert without_time(graph.node("fn")["SummaryStatistics"]) == counts(ok=1)


def test_traced_remote_call_without_downstream_segment_waits_for_it() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    call = subsegment(
        "orders", entity_id(2), T0, T0 + 0.5, namespace="remote", http={"request": {"traced": True}}
    )
    backend.add_segment_documents(
        [segment("api", entity_id(1), trace_id(1), T0, T0 + 1, subsegments=[call])]
    )
    assert service_graph(backend).names() == {("api", "client"), ("api", None)}

    backend.add_segment_documents(
        [segment("orders", entity_id(3), trace_id(1), T0 + 0.1, T0 + 0.4, parent_id=entity_id(2))]
    )
    graph = service_graph(backend)
    assert graph.names() == {("api", "client"), ("api", None), ("orders", None)}
    assert without_time(graph.edge("api", "orders")["SummaryStatistics"]) == counts(ok=1)


def test_lambda_service_function_and_streamed_subsegments_form_a_chain() -> None:
    """Lambda's segments (AWS::Lambda → AWS::Lambda::Function) plus SDK subsegments sent alone."""
    trace = trace_id(7)
    documents = [
        segment("checkout", entity_id(1), trace, T0, T0 + 0.3, origin="AWS::Lambda"),
        segment(
            "checkout",
            entity_id(2),
            trace,
            T0 + 0.01,
            T0 + 0.29,
            origin="AWS::Lambda::Function",
            parent_id=entity_id(1),
        ),
        independent(
            "dynamodb",
            entity_id(3),
            trace,
            entity_id(2),
            T0 + 0.02,
            T0 + 0.05,
            namespace="aws",
            aws={"table_name": "orders"},
            **flags_for(400),
        ),
    ]
    backend = XRayBackend(ACCOUNT, REGION)
    backend.add_segment_documents(documents)
    graph = service_graph(backend)
    assert graph.names() == {
        ("checkout", "client"),
        ("checkout", "AWS::Lambda"),
        ("checkout", "AWS::Lambda::Function"),
        ("dynamodb", "AWS::DynamoDB::Table"),
    }
    function = graph.node("checkout", "AWS::Lambda::Function")
    (edge,) = function["Edges"]
    assert graph.by_ref[edge["ReferenceId"]]["Name"] == "dynamodb"
    assert without_time(edge["SummaryStatistics"]) == counts(error=1)
    lambda_service = graph.node("checkout", "AWS::Lambda")
    assert [graph.by_ref[e["ReferenceId"]]["Type"] for e in lambda_service["Edges"]] == [
        "AWS::Lambda::Function"
    ]


# --- the real SDK ------------------------------------------------------------------------------

DYNAMO_SDK_STATUSES = [200, 200, 200, 400]  # ProvisionedThroughputExceeded is a 400
LAMBDA_SDK_STATUSES = [200, 429]  # TooManyRequestsException is a 429
PARTNER_SDK_STATUSES = [200, 503]


def sdk_function_documents(streaming_threshold: int) -> list[str]:
    recorder, emitter = sdk_recorder(streaming_threshold)
    with sdk_segment(
        recorder, "checkout", trace_id(42), T0, T0 + 1, origin="AWS::Lambda::Function"
    ):
        t = T0 + 0.01
        with sdk_local(recorder, "load_cart", t, t + 0.3):
            for status in DYNAMO_SDK_STATUSES:
                sdk_aws_call(
                    recorder,
                    "dynamodb",
                    "GetItem",
                    {"TableName": "carts"},
                    t,
                    t + 0.02,
                    status=status,
                )
                t += 0.05
        for status in LAMBDA_SDK_STATUSES:
            sdk_aws_call(
                recorder, "lambda", "Invoke", {"FunctionName": "pricing"}, t, t + 0.1, status=status
            )
            t += 0.15
        for status in PARTNER_SDK_STATUSES:
            sdk_http_call(recorder, "api.partner.example", t, t + 0.1, status=status)
            t += 0.12
    return emitter.documents


@pytest.mark.parametrize("streaming_threshold", [100, 1], ids=["embedded", "streamed-subsegments"])
@pytest.mark.parametrize(
    ("callee", "type_", "expected"),
    [
        pytest.param("dynamodb", "AWS::DynamoDB::Table", counts(ok=3, error=1), id="dynamodb"),
        pytest.param("lambda", "AWS::Lambda", counts(ok=1, throttle=1), id="lambda"),
        pytest.param("api.partner.example", "remote", counts(ok=1, fault=1), id="http"),
    ],
)
def test_sdk_traces(
    streaming_threshold: int, callee: str, type_: str, expected: dict[str, Any]
) -> None:
    documents = sdk_function_documents(streaming_threshold)
    backend = XRayBackend(ACCOUNT, REGION)
    result = backend.put_trace_segments({"TraceSegmentDocuments": documents}, ctx())
    assert result == {"UnprocessedTraceSegments": []}
    graph = service_graph(backend)
    assert graph.node(callee)["Type"] == type_
    assert without_time(graph.edge("checkout", callee)["SummaryStatistics"]) == expected


# --- classification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "throttle", "fault", "status", "expected"),
    [
        pytest.param(False, False, False, None, Status.OK, id="no-flags"),
        pytest.param(False, False, False, 500, Status.OK, id="status-without-flags-is-not-a-flag"),
        pytest.param(True, False, False, 404, Status.ERROR, id="error"),
        pytest.param(True, True, False, 429, Status.THROTTLE, id="throttle"),
        pytest.param(False, False, True, 500, Status.FAULT, id="fault"),
        pytest.param(
            True, True, True, 429, Status.THROTTLE, id="sdk-throttle-with-exception-fault"
        ),
        pytest.param(
            True, False, True, 400, Status.ERROR, id="sdk-client-error-with-exception-fault"
        ),
        pytest.param(True, True, True, 500, Status.FAULT, id="429-downstream-caused-500"),
        pytest.param(True, True, True, None, Status.THROTTLE, id="all-flags-no-status"),
        pytest.param(True, False, True, None, Status.ERROR, id="error-and-fault-no-status"),
    ],
)
def test_classify(
    error: bool, throttle: bool, fault: bool, status: int | None, expected: Status
) -> None:
    assert classify(error, throttle, fault, status) is expected


# --- time series -------------------------------------------------------------------------------


DYNAMO_BY_ID = 'service(id(name: "DynamoDB", type: "AWS::DynamoDB::Table"))'


def time_series(backend: XRayBackend, **params: Any) -> list[dict[str, Any]]:
    result = backend.get_time_series_service_statistics(
        {"StartTime": at(T0), "EndTime": at(T0 + 600), **params}, ctx()
    )
    assert_output_shape("GetTimeSeriesServiceStatistics", result)
    return result["TimeSeriesServiceStatistics"]


@pytest.mark.parametrize(
    ("params", "stats_key", "expected_total"),
    [
        pytest.param(
            {"EntitySelectorExpression": 'service("orders")'},
            "ServiceSummaryStatistics",
            counts(ok=7, throttle=2, fault=1),
            id="service",
        ),
        pytest.param(
            {"EntitySelectorExpression": DYNAMO_BY_ID},
            "ServiceSummaryStatistics",
            counts(ok=8, error=1, throttle=1),
            id="service-by-id",
        ),
        pytest.param(
            {"EntitySelectorExpression": 'edge("api", "orders")'},
            "EdgeSummaryStatistics",
            counts(ok=7, throttle=2, fault=1),
            id="edge",
        ),
        pytest.param(
            {},
            "EdgeSummaryStatistics",
            counts(ok=24, error=1, throttle=3, fault=2),
            id="no-selector-all-edges",
        ),
    ],
)
def test_time_series_buckets(
    params: dict[str, Any], stats_key: str, expected_total: dict[str, Any]
) -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    backend.add_segment_documents(shop_documents())
    series = time_series(backend, **params)
    assert [entry["Timestamp"] for entry in series] == [at(T0 + 60 * i) for i in range(10)]
    total = dict.fromkeys(("OkCount", "TotalCount"), 0)
    throttles = errors = faults = 0
    for entry in series:
        stats = entry[stats_key]
        total["OkCount"] += stats["OkCount"]
        total["TotalCount"] += stats["TotalCount"]
        throttles += stats["ErrorStatistics"]["ThrottleCount"]
        errors += stats["ErrorStatistics"]["OtherCount"]
        faults += stats["FaultStatistics"]["TotalCount"]
        assert sum(item["Count"] for item in entry["ResponseTimeHistogram"]) == stats["TotalCount"]
    assert total["OkCount"] == expected_total["OkCount"]
    assert total["TotalCount"] == expected_total["TotalCount"]
    assert (errors, throttles, faults) == (
        expected_total["ErrorStatistics"]["OtherCount"],
        expected_total["ErrorStatistics"]["ThrottleCount"],
        expected_total["FaultStatistics"]["TotalCount"],
    )


def test_time_series_period_aggregates_buckets() -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    backend.add_segment_documents(shop_documents())
    series = time_series(backend, EntitySelectorExpression='edge("api", "orders")', Period=300)
    assert [(e["Timestamp"], e["EdgeSummaryStatistics"]["TotalCount"]) for e in series] == [
        (at(T0), 5),
        (at(T0 + 300), 5),
    ]
    assert series[1]["EdgeSummaryStatistics"]["ErrorStatistics"]["ThrottleCount"] == 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"Period": 90}, "multiple of 60", id="period-not-multiple-of-60"),
        pytest.param({"Period": 0}, "multiple of 60", id="period-zero"),
        pytest.param(
            {"EntitySelectorExpression": "ok"},
            "expected service(...), edge(...) or id(...)",
            id="not-a-selector",
        ),
        pytest.param(
            {"EntitySelectorExpression": 'service("a") { fault }'},
            "cannot have a filter",
            id="selector-with-filter",
        ),
        pytest.param({"EntitySelectorExpression": 'edge("a")'}, "expected ','", id="edge-one-node"),
    ],
)
def test_time_series_rejects_bad_parameters(params: dict[str, Any], message: str) -> None:
    backend = XRayBackend(ACCOUNT, REGION)
    with pytest.raises(InvalidRequestException, match=re.escape(message)):
        time_series(backend, **params)
