"""The server-side protocol layer against botocore's own client-side serializers and parsers."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import numpy as np
import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from sandbox.endpoint import wire
from sandbox.endpoint.errors import AwsError, InvalidParameterValue, ValidationError

pytestmark = pytest.mark.unit

CW_PROTOCOLS = [wire.CBOR, wire.JSON, wire.QUERY]
QUERY_INPUT = {
    "MetricDataQueries": [
        {
            "Id": "m1",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Lambda",
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": "checkout"}],
                },
                "Period": 60,
                "Stat": "p99",
            },
            "ReturnData": False,
        },
        {"Id": "e1", "Expression": "FILL(m1, 0) * 2", "Label": "doubled"},
    ],
    "StartTime": datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
    "EndTime": datetime(2026, 11, 20, 11, 30, 15, tzinfo=UTC),
    "MaxDatapoints": 500,
    "ScanBy": "TimestampAscending",
}


def _as_server_request(serialized: dict) -> wire.HttpRequest:
    """The HTTP request botocore would send for a serialized operation."""
    path, _, query = serialized["url_path"].partition("?")
    query_string = serialized["query_string"]
    if isinstance(query_string, dict):
        query_string = urlencode(query_string)
    body = serialized["body"]
    if isinstance(body, dict):
        body = urlencode(body)
    return wire.HttpRequest(
        method=serialized["method"],
        path=path,
        query_string=query or query_string,
        headers={k.lower(): v for k, v in serialized["headers"].items()},
        body=body.encode() if isinstance(body, str) else body,
    )


@pytest.mark.parametrize("protocol", CW_PROTOCOLS)
def test_decodes_what_botocore_serializes(protocol: str) -> None:
    model = wire.service_model("cloudwatch")
    operation = model.operation_model("GetMetricData")
    serialized = create_serializer(protocol).serialize_to_request(QUERY_INPUT, operation)
    request = _as_server_request(serialized)

    assert wire.detect_protocol(model, request) == protocol
    assert wire.identify_operation(model, protocol, request) == "GetMetricData"
    assert wire.decode_request(operation, protocol, request) == QUERY_INPUT


@pytest.mark.parametrize("protocol", CW_PROTOCOLS)
def test_botocore_parses_what_the_server_encodes(protocol: str) -> None:
    model = wire.service_model("cloudwatch")
    operation = model.operation_model("GetMetricData")
    stamps = np.array([1_763_632_800, 1_763_632_860], dtype=np.int64)
    output = {
        "MetricDataResults": [
            {
                "Id": "e1",
                "Label": "doubled <&>",
                "Timestamps": stamps,
                "Values": np.array([1.5, -2.0]),
                "StatusCode": "PartialData",
            }
        ],
        "NextToken": "abc",
        "Messages": [],
    }
    response = wire.encode_response(operation, protocol, output, "req-1")
    parsed = create_parser(protocol).parse(
        {"status_code": 200, "headers": response.headers, "body": response.body},
        operation.output_shape,
    )
    result = parsed["MetricDataResults"][0]
    assert [t.timestamp() for t in result["Timestamps"]] == stamps.tolist()
    assert result["Values"] == [1.5, -2.0]
    assert result["Label"] == "doubled <&>"
    assert result["StatusCode"] == "PartialData"
    assert parsed["NextToken"] == "abc"


@pytest.mark.parametrize("protocol", CW_PROTOCOLS)
@pytest.mark.parametrize(
    "error",
    [
        InvalidParameterValue("The value AWS/X for parameter Namespace is invalid."),
        ValidationError("The collection MetricDataQueries must not have a size greater than 500."),
        AwsError("boom", code="InternalFailure", http_status=500),
    ],
    ids=["invalid-parameter", "validation", "internal"],
)
def test_errors_reach_botocore_with_their_code(protocol: str, error: AwsError) -> None:
    model = wire.service_model("cloudwatch")
    response = wire.encode_error(model, protocol, error, "req-2")
    parsed = create_parser(protocol).parse(
        {"status_code": response.status, "headers": response.headers, "body": response.body},
        None,
    )
    assert response.status == error.http_status
    assert parsed["Error"]["Code"] == error.code
    assert parsed["Error"]["Message"] == error.message


def test_rest_json_operation_matching_prefers_the_most_specific_route() -> None:
    model = wire.service_model("lambda")
    request = wire.HttpRequest(
        "GET", "/2019-09-25/functions/checkout/event-invoke-config", "", {}, b""
    )
    assert wire.identify_operation(model, wire.REST_JSON, request) == "GetFunctionEventInvokeConfig"
    listing = wire.HttpRequest("GET", "/2015-03-31/functions/", "", {}, b"")
    assert wire.identify_operation(model, wire.REST_JSON, listing) == "ListFunctions"


def test_rest_json_decodes_body_and_uri() -> None:
    model = wire.service_model("xray")
    operation = model.operation_model("GetServiceGraph")
    body = b'{"StartTime": 1763632800, "EndTime": 1763636400.5}'
    request = wire.HttpRequest(
        "POST", "/ServiceGraph", "", {"content-type": "application/json"}, body
    )
    assert wire.identify_operation(model, wire.REST_JSON, request) == "GetServiceGraph"
    assert wire.decode_request(operation, wire.REST_JSON, request) == {
        "StartTime": datetime(2025, 11, 20, 10, 0, tzinfo=UTC),
        "EndTime": datetime(2025, 11, 20, 11, 0, 0, 500000, tzinfo=UTC),
    }


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]"], ids=["syntax", "not-an-object"])
def test_malformed_bodies_are_validation_errors(body: bytes) -> None:
    model = wire.service_model("cloudwatch")
    operation = model.operation_model("ListMetrics")
    request = wire.HttpRequest("POST", "/", "", {"x-amz-target": "X.ListMetrics"}, body)
    with pytest.raises(ValidationError):
        wire.decode_request(operation, wire.JSON, request)
